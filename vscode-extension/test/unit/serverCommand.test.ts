import assert from "node:assert/strict";
import { test } from "node:test";
import { berthArgs, resolveBerthCommand, type Probe, type Resolution } from "../../src/serverCommand";

const probe = (executables: string[], pathDirs: string[] = []): Probe => ({
  isExecutable: (f) => executables.includes(f),
  pathDirs,
  home: "/home/u",
});
const none = { serverPath: "", interpreter: [] };
const command = (r: Resolution) => (r.ok ? r.berth.command : r.problem);

test("berth.serverPath wins, with ${workspaceFolder} and ~ expanded", () => {
  assert.deepEqual(resolveBerthCommand({ ...none, serverPath: "${workspaceFolder}/.venv/bin/berth" }, ["/ws"], probe(["/ws/.venv/bin/berth"])), {
    ok: true,
    berth: { command: "/ws/.venv/bin/berth", leadingArgs: [], source: "setting berth.serverPath" },
  });
  assert.equal(command(resolveBerthCommand({ ...none, serverPath: "~/bin/berth" }, [], probe(["/home/u/bin/berth"]))), "/home/u/bin/berth");
});

test("a configured path that is not executable is a clear problem, not a silent fallback", () => {
  const r = resolveBerthCommand({ ...none, serverPath: "/nope/berth" }, ["/ws"], probe(["/ws/.venv/bin/berth"]));
  assert.deepEqual(r, { ok: false, problem: "berth.serverPath is /nope/berth, which is not an executable file; fix the setting" });
});

test("berth.interpreter runs `-m berth <subcommand>` after its own arguments", () => {
  const r = resolveBerthCommand({ ...none, interpreter: ["/py/bin/python", "-X", "dev"] }, ["/ws"], probe(["/py/bin/python"]));
  assert.ok(r.ok);
  assert.equal(r.berth.command, "/py/bin/python");
  assert.deepEqual(berthArgs(r.berth, "serve"), ["-X", "dev", "-m", "berth", "serve"]);
  assert.deepEqual(berthArgs(r.berth, "init", "--json"), ["-X", "dev", "-m", "berth", "init", "--json"]);
});

test("the berth executable takes the subcommand as its first argument", () => {
  const r = resolveBerthCommand(none, ["/ws"], probe(["/ws/.venv/bin/berth"]));
  assert.ok(r.ok);
  assert.deepEqual(berthArgs(r.berth, "serve"), ["serve"]);
});

test("without settings: the workspace's virtualenv, then the repository root's, then PATH", () => {
  const dirs = ["/ws/.berth/worktrees/x", "/ws"];
  assert.equal(command(resolveBerthCommand(none, dirs, probe(["/ws/.berth/worktrees/x/.venv/bin/berth", "/ws/venv/bin/berth"]))),
    "/ws/.berth/worktrees/x/.venv/bin/berth");
  assert.equal(command(resolveBerthCommand(none, dirs, probe(["/ws/venv/bin/berth", "/usr/bin/berth"], ["/usr/bin"]))), "/ws/venv/bin/berth");
  const fromPath = resolveBerthCommand(none, dirs, probe(["/usr/bin/berth"], ["", "/usr/bin"]));
  assert.deepEqual(fromPath.ok && fromPath.berth, { command: "/usr/bin/berth", leadingArgs: [], source: "PATH" });
});

test("nothing found says what was tried and what to do", () => {
  const r = resolveBerthCommand(none, ["/ws"], probe([]));
  assert.equal(r.ok, false);
  assert.match(command(r), /not found.*set berth\.serverPath/);
});
