import assert from "node:assert/strict";
import { test } from "node:test";
import type { DownPlan } from "../../src/protocol.generated";
import { downQuestion, isDownPlan, teardownMessage } from "../../src/teardown";

const wt = "/repo/.berth/worktrees/feat-x";
const branchKept = { kind: "branch", name: "feat/x", reason: "down never deletes a branch" };

function plan(extra: Partial<DownPlan>): DownPlan {
  return { slug: "feat-x", dryRun: true, status: "removed", remove: [{ kind: "worktree", name: wt }], keep: [branchKept], ...extra };
}

test("a plan is told from a receipt by dryRun", () => {
  assert.equal(isDownPlan(plan({})), true);
  assert.equal(isDownPlan({ slug: "feat-x", removed: [], kept: [], status: "removed" }), false);
});

test("a plan without blockers asks nothing", () => {
  assert.equal(downQuestion(plan({ blockers: [] })), undefined);
  assert.equal(downQuestion(plan({})), undefined);
});

test("uncommitted changes in the plan ask Remove Anyway / Keep Worktree, listing them and the other blockers", () => {
  const q = downQuestion(plan({
    status: "stopped",
    remove: [],
    keep: [{ kind: "worktree", name: wt, reason: "it has uncommitted changes (scratch.txt)" }, branchKept],
    blockers: [
      { kind: "uncommittedChanges", message: "2 uncommitted change(s) in the worktree", items: ["scratch.txt", "src/app.py"] },
      { kind: "unpushedCommits", message: "1 commit(s) on feat/x are on no other branch and no remote", items: ["abc1234 add notes"] },
    ],
  }));
  assert.ok(q);
  assert.equal(q.message, "The worktree of 'feat-x' has uncommitted changes.");
  assert.deepEqual(q.actions, ["Remove Anyway", "Keep Worktree"]);
  assert.match(q.detail, /^\/repo\/\.berth\/worktrees\/feat-x\n\n {2}scratch\.txt\n {2}src\/app\.py\n\n1 commit\(s\) on feat\/x .*\n {2}abc1234 add notes\n\nRemove Anyway /);
  const many = downQuestion(plan({ blockers: [{ kind: "uncommittedChanges", message: "m", items: Array.from({ length: 13 }, (_, i) => `f${i}`) }] }));
  assert.match(many?.detail ?? "", /\n {2}f9\n {2}… and 3 more\n\n/);
  assert.doesNotMatch(many?.detail ?? "", /f10/);
});

test("commits nothing else has, or a locked worktree, ask to go ahead with Down", () => {
  const commits = downQuestion(plan({ blockers: [{ kind: "unpushedCommits", message: "1 commit(s) on feat/x ...", items: ["abc1234 wip"] }] }));
  assert.equal(commits?.message, "The branch of 'feat-x' has commits that no other branch or remote has.");
  assert.deepEqual(commits?.actions, ["Down"]);
  assert.match(commits?.detail ?? "", /abc1234 wip\n\nDown keeps the branch/);
  const locked = downQuestion(plan({ status: "stopped", blockers: [{ kind: "lockedWorktree", message: "the worktree is locked by another tool (agent)", items: [wt] }] }));
  assert.equal(locked?.message, "The worktree of 'feat-x' is locked by another tool.");
  assert.match(locked?.detail ?? "", /keeps the locked worktree\.$/);
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
