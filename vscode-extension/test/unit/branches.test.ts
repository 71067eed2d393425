import assert from "node:assert/strict";
import { test } from "node:test";
import { branchChoices, typedBranchChoice } from "../../src/branches";
import { session } from "./fixtures";

test("the current worktree's branch comes first, branches with a session last", () => {
  const choices = branchChoices(["main", "feature/feat-x", "docs", "main"], "main", [session()]);
  assert.deepEqual(choices, [
    { branch: "main", description: "current worktree" },
    { branch: "docs", description: "" },
    { branch: "feature/feat-x", description: "session feat-x active" },
  ]);
});

test("a detached HEAD (no current branch) keeps alphabetical order", () => {
  assert.deepEqual(branchChoices(["b", "a"], undefined, []).map((c) => c.branch), ["a", "b"]);
});

test("a typed name shows the server's verdict: the problem it names, or the session it would get", () => {
  assert.deepEqual(typedBranchChoice(undefined), { description: "checking the name…", acceptable: false });
  assert.deepEqual(typedBranchChoice({ branch: "feat/ok", valid: true, slug: "feat-ok" }), {
    description: "new branch · session feat-ok",
    acceptable: true,
  });
  const problem = "branch 'a' is not allowed: its slug 'a' must be 2-62 characters of [a-z0-9-]";
  assert.deepEqual(typedBranchChoice({ branch: "a", valid: false, problem }), { description: problem, acceptable: false });
  assert.equal(typedBranchChoice({ branch: "x", valid: false }).acceptable, false);
});
