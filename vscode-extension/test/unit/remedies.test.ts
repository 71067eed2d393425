import assert from "node:assert/strict";
import { test } from "node:test";
import type { RemedyAction, RemedyView } from "../../src/protocol.generated";
import { remedyButton, remedyButtons, type RemedyHandlers } from "../../src/remedies";

/** Handlers that record what a button did; askPort answers `port` (undefined: the user cancelled). */
function recorder(port: number | undefined) {
  const calls: unknown[][] = [];
  const handlers: RemedyHandlers = {
    up: async (request) => calls.push(["up", request]),
    down: async (request) => calls.push(["down", request]),
    askPort: async (branch, service) => (calls.push(["askPort", branch, service]), port),
    recover: async () => calls.push(["recover"]),
    listSessions: async () => calls.push(["listSessions"]),
    init: async (root, overwrite) => calls.push(["init", root, overwrite]),
    editConfig: async (key) => calls.push(["editConfig", key]),
    showLog: async (path) => calls.push(["showLog", path]),
  };
  return { calls, handlers };
}

/** The label of a remedy's button and what pressing it does. */
async function press(remedy: RemedyView, port: number | undefined = 3001): Promise<{ label: string; calls: unknown[][] }> {
  const button = remedyButton(remedy);
  assert.ok(button, `a button for ${JSON.stringify(remedy)}`);
  const { calls, handlers } = recorder(port);
  await button.run(handlers);
  return { label: button.label, calls };
}

test("every remedy action is a button that does it", async () => {
  const cases: [RemedyView, string, unknown[][]][] = [
    [{ action: "up", args: { branch: "feat/x" } }, "Bring Up feat/x", [["up", { branch: "feat/x" }]]],
    [{ action: "reuseWorktree", args: { branch: "feat/x" } }, "Reuse Worktree", [["up", { branch: "feat/x", reuseWorktree: true }]]],
    [{ action: "down", args: { slug: "feat-x" } }, "Down feat-x", [["down", { slug: "feat-x", force: false }]]],
    [{ action: "forceDown", args: { slug: "feat-x" } }, "Remove Anyway", [["down", { slug: "feat-x", force: true }]]],
    [{ action: "choosePort", args: { branch: "feat/x", service: "web" } }, "Choose Port for web…",
      [["askPort", "feat/x", "web"], ["up", { branch: "feat/x", ports: { web: 3001 } }]]],
    [{ action: "recover", args: {} }, "Recover", [["recover"]]],
    [{ action: "listSessions" }, "Show Sessions", [["listSessions"]]],
    [{ action: "init", args: { root: "/repo" } }, "Create berth.toml", [["init", "/repo", false]]],
    [{ action: "overwriteConfig", args: { root: "/repo" } }, "Overwrite berth.toml…", [["init", "/repo", true]]],
    [{ action: "editConfig", args: { key: "max_slots" } }, "Open berth.toml (max_slots)", [["editConfig", "max_slots"]]],
    [{ action: "editConfig", args: {} }, "Open berth.toml", [["editConfig", undefined]]],
    [{ action: "showLog", args: { path: "/repo/.berth/logs/feat-x/web.log", service: "web" } }, "Show web Log",
      [["showLog", "/repo/.berth/logs/feat-x/web.log"]]],
    [{ action: "showLog", args: { path: "/tmp/hook.log" } }, "Show Log", [["showLog", "/tmp/hook.log"]]],
  ];
  const covered = new Set<RemedyAction>();
  for (const [remedy, label, calls] of cases) {
    assert.deepEqual(await press(remedy), { label, calls }, remedy.action);
    covered.add(remedy.action);
  }
  const all: RemedyAction[] = ["up", "reuseWorktree", "down", "forceDown", "choosePort", "recover", "listSessions", "init",
    "overwriteConfig", "editConfig", "showLog"];
  assert.deepEqual([...covered].sort(), [...all].sort());
});

test("choosing a port and cancelling the box brings nothing up", async () => {
  const button = remedyButton({ action: "choosePort", args: { branch: "feat/x", service: "web" } });
  const { calls, handlers } = recorder(undefined);
  await button?.run(handlers);
  assert.deepEqual(calls, [["askPort", "feat/x", "web"]]);
});

test("a remedy without the argument it needs, or an action this client does not know, gets no button", () => {
  assert.equal(remedyButton({ action: "up", args: {} }), undefined);
  assert.equal(remedyButton({ action: "forceDown" }), undefined);
  assert.equal(remedyButton({ action: "choosePort", args: { service: "web" } }), undefined);
  assert.equal(remedyButton({ action: "showLog", args: { service: "web" } }), undefined);
  assert.equal(remedyButton({ action: "teleport" as RemedyAction, args: {} }), undefined);
});

test("buttons keep the server's order, once per label", () => {
  const buttons = remedyButtons([
    { action: "listSessions" },
    { action: "editConfig", args: { key: "max_slots" } },
    { action: "listSessions" },
    { action: "up", args: {} },
  ]);
  assert.deepEqual(buttons.map((b) => b.label), ["Show Sessions", "Open berth.toml (max_slots)"]);
  assert.deepEqual(remedyButtons(undefined), []);
  assert.deepEqual(remedyButtons(null), []);
});
