// The few git facts the extension needs, read with the git CLI.
import { execFile } from "node:child_process";
import path from "node:path";

function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("git", args, { cwd, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`git ${args.join(" ")} failed in ${cwd}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** The main worktree of the repository containing `dir` (also when `dir` is a linked worktree), or undefined. */
export async function repoRoot(dir: string): Promise<string | undefined> {
  try {
    const common = (await git(dir, ["rev-parse", "--path-format=absolute", "--git-common-dir"])).trim();
    return path.basename(common) === ".git" ? path.dirname(common) : (await git(dir, ["rev-parse", "--show-toplevel"])).trim();
  } catch {
    return undefined;
  }
}

export async function localBranches(dir: string): Promise<string[]> {
  const out = await git(dir, ["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
  return out.split("\n").map((l) => l.trim()).filter(Boolean);
}

/** The branch checked out in `dir`, or undefined on a detached HEAD or outside git. */
export async function currentBranch(dir: string): Promise<string | undefined> {
  try {
    const name = (await git(dir, ["symbolic-ref", "--quiet", "--short", "HEAD"])).trim();
    return name || undefined;
  } catch {
    return undefined;
  }
}

/** Whether `dir` is a linked worktree (not the repository's main one). */
export async function isLinkedWorktree(dir: string): Promise<boolean> {
  try {
    const [gitDir, common] = (await git(dir, ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir"]))
      .trim().split("\n");
    return gitDir !== common;
  } catch {
    return false;
  }
}
