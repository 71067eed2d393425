// The branch choices offered by "Berth: Up". Pure (no vscode import).
import type { BranchCheck, SessionView } from "./protocol.generated";

export interface BranchChoice {
  branch: string;
  description: string;
}

/**
 * Local branches, the current worktree's first, then branches without a session, then the rest; each says whether
 * it is current and which session it already has.
 */
export function branchChoices(branches: readonly string[], current: string | undefined, sessions: readonly SessionView[]): BranchChoice[] {
  const byBranch = new Map(sessions.map((s) => [s.branch, s]));
  const rank = (b: string) => (b === current ? 0 : byBranch.has(b) ? 2 : 1);
  return [...new Set(branches)]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((branch) => {
      const notes: string[] = [];
      if (branch === current) notes.push("current worktree");
      const s = byBranch.get(branch);
      if (s) notes.push(`session ${s.slug} ${s.status}`);
      return { branch, description: notes.join(" · ") };
    });
}

/** What the branch pick shows for a name typed into it, from the server's verdict (undefined: still asking). */
export interface TypedBranchChoice {
  description: string;
  /** Whether accepting it brings the branch up (a refused name keeps the pick open). */
  acceptable: boolean;
}

export function typedBranchChoice(check: BranchCheck | undefined): TypedBranchChoice {
  if (!check) return { description: "checking the name…", acceptable: false };
  if (!check.valid) return { description: check.problem ?? "the server refuses this branch name", acceptable: false };
  return { description: check.slug ? `new branch · session ${check.slug}` : "new branch", acceptable: true };
}
