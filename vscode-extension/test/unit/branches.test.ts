import assert from "node:assert/strict";
import { test } from "node:test";
import { branchChoices, branchNameProblem } from "../../src/branches";
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

test("typed branch names are checked like git check-ref-format", () => {
  assert.equal(branchNameProblem("feature/new-thing"), undefined);
  for (const bad of ["", "  ", "has space", "-x", "a..b", "a~1", "x:y", "end/", "end.", "x.lock", "a//b", "/a", "a@{b"]) {
    assert.notEqual(branchNameProblem(bad), undefined, bad);
  }
});
