// The branch choices offered by "Berth: Up". Pure (no vscode import).
import type { SessionView } from "./protocol.generated";

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

/** Why a typed branch name cannot be used (a subset of `git check-ref-format`), or undefined when it looks valid. */
export function branchNameProblem(name: string): string | undefined {
  if (!name.trim()) return "Type a branch name.";
  if (/\s/.test(name)) return "A branch name cannot contain spaces.";
  if (name.startsWith("-")) return "A branch name cannot start with '-'.";
  if (name.includes("..") || name.includes("@{") || /[~^:?*[\\\x00-\x1f\x7f]/.test(name)) {
    return "A branch name cannot contain '..', '@{', control characters or any of ~ ^ : ? * [ \\.";
  }
  if (name.endsWith("/") || name.endsWith(".") || name.endsWith(".lock") || name.includes("//") || name.startsWith("/")) {
    return "A branch name cannot start or end with '/', end with '.' or '.lock', or contain '//'.";
  }
  return undefined;
}
