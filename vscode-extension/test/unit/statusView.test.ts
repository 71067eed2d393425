import assert from "node:assert/strict";
import { test } from "node:test";
import { statusView, type StatusInput } from "../../src/statusView";
import { session } from "./fixtures";

const base: StatusInput = { server: "running", sessions: [], folderSession: undefined, busy: [] };

test("no sessions says so", () => {
  assert.equal(statusView(base).text, "$(server-environment) Berth: no sessions");
});

test("the open folder's session shows mode, slot and state", () => {
  const mine = session({ slug: "mine", slot: 2, status: "stopped" });
  const view = statusView({ ...base, sessions: [session(), mine], folderSession: mine });
  assert.equal(view.text, "$(debug-stop) Berth: mine · host · slot 2 · stopped");
  assert.match(view.tooltip, /web: 18101 \(running\)/);
  assert.match(view.tooltip, /^env file \/repo\/\.berth\/worktrees\/mine\/\.env\.berth$/m, "the server's envFile");
});

test("a single session is shown even outside its worktree", () => {
  assert.equal(statusView({ ...base, sessions: [session()] }).text, "$(vm-running) Berth: feat-x · host · slot 1 · active");
});

test("several sessions show a count with how many are active", () => {
  const sessions = [session({ slug: "a" }), session({ slug: "b", status: "stopped" }), session({ slug: "c" })];
  const view = statusView({ ...base, sessions });
  assert.equal(view.text, "$(server-environment) Berth: 3 sessions (2 active)");
  assert.match(view.tooltip, /^a · host · slot 1 · active$/m);
});

test("a running operation shows a spinner and wins over the session", () => {
  const view = statusView({ ...base, sessions: [session()], busy: ["up feat-y"] });
  assert.equal(view.text, "$(sync~spin) Berth: up feat-y…");
});

test("server states: untrusted, missing, starting, stopped", () => {
  assert.equal(statusView({ ...base, server: "untrusted" }).text, "$(workspace-untrusted) Berth");
  assert.match(statusView({ ...base, server: "untrusted" }).tooltip, /untrusted workspace/);
  assert.equal(statusView({ ...base, server: "missing" }).text, "$(error) Berth: no server");
  assert.equal(statusView({ ...base, server: "starting" }).text, "$(sync~spin) Berth");
  assert.equal(statusView({ ...base, server: "stopped" }).text, "$(debug-disconnect) Berth");
});
