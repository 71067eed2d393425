import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { branchChoices } from "../../src/branches";
import { currentBranch, isLinkedWorktree, localBranches, repoRoot } from "../../src/git";
import { git, makeRepo } from "../shared/repo";

const tmp = mkdtempSync(path.join(os.tmpdir(), "berth-git-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const root = makeRepo(path.join(tmp, "repo"), { basePort: 18100 });
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
