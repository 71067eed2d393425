import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { branchChoices } from "../../src/branches";
import { currentBranch, hasUserChanges, isLinkedWorktree, localBranches, repoRoot } from "../../src/git";
import { git, makeRepo } from "../shared/repo";

const tmp = mkdtempSync(path.join(os.tmpdir(), "berth-git-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const root = makeRepo(path.join(tmp, "repo"), { basePort: 18100 });
writeFileSync(path.join(root, ".env"), "SECRET=1\n"); // untracked in root: sessions inherit it
const worktree = path.join(root, ".berth", "worktrees", "feat-x");
git(root, "worktree", "add", "-q", "-b", "feat/x", worktree);

test("branch pick: local branches from git, the current worktree's first", async () => {
  assert.deepEqual(await localBranches(root), ["feat/x", "main"]);
  assert.equal(await currentBranch(root), "main");
  assert.equal(await currentBranch(worktree), "feat/x");
  const choices = branchChoices(await localBranches(root), await currentBranch(root), []);
  assert.deepEqual(choices.map((c) => c.branch), ["main", "feat/x"]);
});

test("the repository root is the main worktree, also from a session's worktree", async () => {
  assert.equal(await repoRoot(worktree), root);
  assert.equal(await repoRoot(root), root);
  assert.equal(await repoRoot(tmp), undefined);
  assert.equal(await isLinkedWorktree(worktree), true);
  assert.equal(await isLinkedWorktree(root), false);
});

test("Berth's own files and inherited env files are not the user's changes; anything else is", async () => {
  writeFileSync(path.join(worktree, ".env.berth"), "PORT=18101\n");
  writeFileSync(path.join(worktree, ".env"), "SECRET=1\n"); // a copy of the root's
  symlinkSync(path.join(root, ".env"), path.join(worktree, ".env.local"));
  assert.equal(await hasUserChanges(worktree, root, [".env.berth"]), false);
  writeFileSync(path.join(worktree, ".env"), "SECRET=2\n");
  assert.equal(await hasUserChanges(worktree, root, [".env.berth"]), true, "an edited copy is a change");
  writeFileSync(path.join(worktree, ".env"), "SECRET=1\n");
  writeFileSync(path.join(worktree, "README.md"), "edited\n");
  assert.equal(await hasUserChanges(worktree, root, [".env.berth"]), true, "an edited tracked file is a change");
  assert.equal(await hasUserChanges(path.join(tmp, "gone"), root, []), false);
});
