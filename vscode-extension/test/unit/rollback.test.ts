import assert from "node:assert/strict";
import { test } from "node:test";
import { RollbackTracker, rollbackMessage, type RollbackSummary } from "../../src/rollback";

test("notifications are grouped per operation and reported once on flush", () => {
  const reported: RollbackSummary[] = [];
  const tracker = new RollbackTracker((s) => reported.push(s), 60_000);
  tracker.record({ slug: "feat-x", opId: "op1", kind: "k", step: "stop service web", state: "undoing" });
  tracker.record({ slug: "feat-x", opId: "op1", kind: "k", step: "stop service web", state: "undone" });
  tracker.record({ slug: "feat-x", opId: "op1", kind: "k", step: "remove worktree", state: "failed", detail: "busy" });
  tracker.record({ slug: "feat-x", opId: "op1", kind: "k", step: "release ports", state: "undone" });
  tracker.flush();
  tracker.flush();
  assert.equal(reported.length, 1);
  assert.equal(
    rollbackMessage(reported[0]!),
    "Berth rolled back 'feat-x': undid stop service web, release ports; could not undo remove worktree (busy): run Berth: Recover.",
  );
});

test("a rollback nobody flushes is reported after a quiet period", async () => {
  const reported: RollbackSummary[] = [];
  const tracker = new RollbackTracker((s) => reported.push(s), 20);
  tracker.record({ slug: "a", opId: "op2", kind: "forget_session", step: "forget session", state: "undone" });
  assert.equal(reported.length, 0);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(reported.map(rollbackMessage), ["Berth rolled back 'a': undid forget session."]);
  tracker.dispose();
});
