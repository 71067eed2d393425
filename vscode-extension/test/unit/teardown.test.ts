import assert from "node:assert/strict";
import { test } from "node:test";
import { teardownMessage, uncommittedChangesQuestion } from "../../src/teardown";

test("the question before a down lists the uncommitted changes the server reported", () => {
  const q = uncommittedChangesQuestion("feat-x", "/repo/.berth/worktrees/feat-x", ["scratch.txt", "src/app.py"]);
  assert.equal(q.message, "The worktree of 'feat-x' has uncommitted changes.");
  assert.match(q.detail, /^\/repo\/\.berth\/worktrees\/feat-x\n\n  scratch\.txt\n  src\/app\.py\n\nRemove Anyway /);
  const many = uncommittedChangesQuestion("feat-x", "/w", Array.from({ length: 13 }, (_, i) => `f${i}`));
  assert.match(many.detail, /\n  f9\n  … and 3 more\n\n/);
  assert.doesNotMatch(many.detail, /f10/);
});

const worktree = "/repo/.berth/worktrees/feat-x";

test("a down that removed everything is news, not a warning", () => {
  const m = teardownMessage({ slug: "feat-x", removed: [{ kind: "worktree", name: worktree }], kept: [], status: "removed" }, false);
  assert.deepEqual(m, { severity: "info", message: "Berth: feat-x is down." });
});

test("a worktree the server kept although nobody asked is a warning naming why", () => {
  const kept = [{ kind: "worktree", name: worktree, reason: "it has uncommitted changes (scratch.txt)", remedies: [{ action: "forceDown" as const, args: { slug: "feat-x" } }] }];
  const m = teardownMessage({ slug: "feat-x", removed: [], kept, status: "stopped" }, false);
  assert.equal(m.severity, "warning");
  assert.equal(m.message, `Berth: feat-x is stopped; kept worktree ${worktree} (it has uncommitted changes (scratch.txt)).`);
  assert.equal(teardownMessage({ slug: "feat-x", removed: [], kept, status: "stopped" }, true).severity, "info", "asked to keep it");
});

test("teardown warnings are shown and make it a warning", () => {
  const m = teardownMessage({ slug: "feat-x", removed: [], kept: [], warnings: ["volume v is in use"] }, false);
  assert.deepEqual(m, { severity: "warning", message: "Berth: feat-x is down; volume v is in use." });
});
