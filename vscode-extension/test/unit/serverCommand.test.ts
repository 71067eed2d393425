import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveServerCommand, type Probe } from "../../src/serverCommand";

const probe = (executables: string[], pathDirs: string[] = []): Probe => ({
  isExecutable: (f) => executables.includes(f),
  pathDirs,
  home: "/home/u",
});
const none = { serverPath: "", interpreter: [] };

test("berth.serverPath wins, with ${workspaceFolder} and ~ expanded", () => {
  assert.deepEqual(resolveServerCommand({ ...none, serverPath: "${workspaceFolder}/.venv/bin/berth" }, ["/ws"], probe(["/ws/.venv/bin/berth"])), {
    ok: true,
    server: { command: "/ws/.venv/bin/berth", args: ["serve"], source: "setting berth.serverPath" },
  });
  const home = resolveServerCommand({ ...none, serverPath: "~/bin/berth" }, [], probe(["/home/u/bin/berth"]));
  assert.equal(home.ok && home.server.command, "/home/u/bin/berth");
});

test("a configured path that is not executable is a clear problem, not a silent fallback", () => {
  const r = resolveServerCommand({ ...none, serverPath: "/nope/berth" }, ["/ws"], probe(["/ws/.venv/bin/berth"]));
  assert.deepEqual(r, { ok: false, problem: "berth.serverPath is /nope/berth, which is not an executable file; fix the setting" });
});

test("berth.interpreter runs `-m berth serve` after its own arguments", () => {
  const r = resolveServerCommand({ ...none, interpreter: ["/py/bin/python", "-X", "dev"] }, ["/ws"], probe(["/py/bin/python"]));
  assert.deepEqual(r.ok && r.server.args, ["-X", "dev", "-m", "berth", "serve"]);
});

test("without settings: the workspace's virtualenv, then the repository root's, then PATH", () => {
  const dirs = ["/ws/.berth/worktrees/x", "/ws"];
  assert.equal(resolveServerCommand(none, dirs, probe(["/ws/venv/bin/berth", "/usr/bin/berth"], ["/usr/bin"])).ok &&
    "venv", "venv");
  const fromRoot = resolveServerCommand(none, dirs, probe(["/ws/venv/bin/berth"]));
  assert.equal(fromRoot.ok && fromRoot.server.command, "/ws/venv/bin/berth");
  const fromPath = resolveServerCommand(none, dirs, probe(["/usr/bin/berth"], ["", "/usr/bin"]));
  assert.deepEqual(fromPath.ok && fromPath.server, { command: "/usr/bin/berth", args: ["serve"], source: "PATH" });
});

test("nothing found says what was tried and what to do", () => {
  const r = resolveServerCommand(none, ["/ws"], probe([]));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.problem : "", /not found.*set berth\.serverPath/);
});
