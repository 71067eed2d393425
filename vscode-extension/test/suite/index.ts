// Extension-host tests: run inside a real VS Code (loaded through extensionTestsPath), against the real
// `berth serve` the extension starts. Each test checks the world (git worktrees, ports, files), not only results.
// The workspace folder is a temp git repository with a berth.toml; BERTH_TEST_BASE_PORT is its services' base port.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import * as vscode from "vscode";
import type { BerthApi } from "../../src/extension";
import type { TeardownReceipt, SessionView } from "../../src/protocol.generated";
import { PROTOCOL_VERSION } from "../../src/protocol.generated";
import { git, portOpen, waitFor, worktrees, writeBerthToml } from "../shared/repo";

const EXTENSION_ID = "berth-dev.berth";
const basePort = Number(process.env.BERTH_TEST_BASE_PORT ?? "18100");
const repo = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? "";
let api: BerthApi;

const tests: { name: string; fn: () => Promise<void> }[] = [];
const test = (name: string, fn: () => Promise<void>) => tests.push({ name, fn });

function httpStatus(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: "/", timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });
}

/** Child processes of this extension host running `berth serve` (`<python> <venv>/bin/berth serve --stdio`,
 * `berth serve --stdio` or `<python> -m berth serve --stdio`), as their command lines. */
function berthServeChildren(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const [state, ppid] = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      if (state === "Z") continue; // exited, not yet reaped
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      const berth = argv.findIndex((a) => path.basename(a) === "berth");
      if (Number(ppid) === process.pid && berth >= 0 && argv[berth + 1] === "serve") found.push(argv.join(" "));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

function notices(severity: string, pattern: RegExp) {
  return api.notices().filter((n) => n.severity === severity && pattern.test(n.message));
}

/** Asserts that no trace of a session is left: no session, no worktree (dir or git's), port closed. */
async function assertNothingLeft(slug: string, port: number): Promise<void> {
  const worktree = path.join(repo, ".berth", "worktrees", slug);
  assert.equal(existsSync(worktree), false, `worktree ${worktree} should be gone`);
  assert.deepEqual(worktrees(repo), [repo], "git should list only the main worktree");
  assert.equal(await portOpen(port), false, `port ${port} should be closed`);
  const listed = await vscode.commands.executeCommand<void>("berth.refresh").then(() => api.sessions());
  assert.deepEqual(listed.map((s) => s.slug), [], "the server should list no session");
}

test("the extension activates and its language client starts the real berth serve", async () => {
  const ext = vscode.extensions.getExtension<BerthApi>(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  api = await ext.activate();
  assert.equal(await api.ready(), true, "server running");
  assert.equal(api.serverState(), "running");
  assert.equal(api.protocolVersion(), PROTOCOL_VERSION, "the server speaks the protocol the types were generated from");
  const servers = berthServeChildren();
  assert.equal(servers.length, 1, `one berth serve child of the extension host, found: ${servers.join(" | ")}`);
  assert.match(servers[0] ?? "", / serve --stdio$/, "the language client's stdio transport passes --stdio");
  await waitFor("status bar after start", () => api.statusBarText() === "$(server-environment) Berth: no sessions");
});

test("every command is contributed and registered", async () => {
  const all = await vscode.commands.getCommands(true);
  for (const id of ["up", "down", "stop", "status", "openWorktree", "showLogs", "openTerminal", "recover", "cancel", "refresh", "restartServer"]) {
    assert.ok(all.includes(`berth.${id}`), `berth.${id}`);
  }
});

test("Berth: Up brings a host-mode session up: worktree, port, status bar, live status", async () => {
  writeBerthToml(repo, { basePort });
  const session = await vscode.commands.executeCommand<SessionView | undefined>("berth.up", { branch: "feat-up" });
  assert.ok(session, "berth.up returned a session");
  assert.equal(session.status, "active");
  assert.equal(session.mode, "host");
  assert.equal(session.worktreePath, path.join(repo, ".berth", "worktrees", session.slug));
  assert.ok(existsSync(path.join(session.worktreePath, "README.md")), "worktree checked out");
  assert.ok(worktrees(repo).includes(session.worktreePath), "git knows the worktree");
  assert.equal(git(session.worktreePath, "branch", "--show-current").trim(), "feat-up");
  const port = session.ports.web;
  assert.ok(port && port > basePort && port <= basePort + 4, `web port ${port} allocated from base ${basePort}`);
  assert.equal(await httpStatus(port), 200, "the service answers on its port");
  await waitFor("status bar shows the session", () =>
    api.statusBarText() === `$(vm-running) Berth: ${session.slug} · host · slot ${session.slot} · active`);
  const status = await vscode.commands.executeCommand<SessionView[]>("berth.status");
  assert.equal(status.find((s) => s.slug === session.slug)?.services.find((s) => s.name === "web")?.state, "running");
  await vscode.commands.executeCommand("workbench.action.closeQuickOpen"); // status also lists sessions in a quick pick
});

test("Berth: Show Logs follows the service's log in a terminal", async () => {
  const session = api.sessions()[0];
  assert.ok(session);
  const name = await vscode.commands.executeCommand<string>("berth.showLogs", { slug: session.slug, service: "web" });
  assert.equal(name, `Berth logs: ${session.slug}/web`);
  assert.ok(vscode.window.terminals.some((t) => t.name === name), "terminal opened");
  const log = session.services.find((s) => s.name === "web")?.logPath;
  assert.ok(log, "the server says where the service's output goes");
  await waitFor(`${log} has the request`, () => existsSync(log) && readFileSync(log, "utf8").includes("GET /"));
  vscode.window.terminals.find((t) => t.name === name)?.dispose();
});

test("Berth: Open Terminal in Session opens a shell in the worktree with the session's env", async () => {
  const session = api.sessions()[0];
  assert.ok(session);
  const name = await vscode.commands.executeCommand<string | undefined>("berth.openTerminal", session.slug);
  assert.equal(name, `Berth: ${session.slug}`);
  const terminal = vscode.window.terminals.find((t) => t.name === name);
  assert.ok(terminal, "terminal opened");
  const out = path.join(repo, ".berth", "open-terminal-check.txt"); // outside the worktree: no uncommitted change
  terminal.sendText(`echo "$BERTH_SLUG $BERTH_WEB_PORT $BERTH_WEB_URL $(pwd)" > ${out}`);
  const expected = `${session.slug} ${session.ports.web} http://127.0.0.1:${session.ports.web} ${session.worktreePath}\n`;
  await waitFor(`${out} written by the terminal`, () => existsSync(out) && readFileSync(out, "utf8") === expected);
  terminal.dispose();
});

test("Berth: Stop keeps the worktree and frees the port", async () => {
  const session = api.sessions()[0];
  assert.ok(session);
  const stopped = await vscode.commands.executeCommand<TeardownReceipt | undefined>("berth.stop", session.slug);
  assert.ok(stopped, "berth.stop returned a receipt");
  assert.equal(existsSync(session.worktreePath), true, "stop keeps the worktree");
  assert.equal(await portOpen(session.ports.web ?? 0), false, "stop frees the port");
  await waitFor("session shown as stopped", () => api.sessions().find((s) => s.slug === session.slug)?.status === "stopped");
  await waitFor("status bar says stopped", () => api.statusBarText().endsWith("· stopped"));
});

test("Berth: Down asks when the server reports uncommitted changes; Keep Worktree keeps it, whose Remove Anyway button removes it", async () => {
  const session = api.sessions()[0];
  assert.ok(session);
  writeFileSync(path.join(session.worktreePath, "uncommitted.txt"), "work in progress\n");
  const down = vscode.commands.executeCommand<TeardownReceipt | undefined>("berth.down", { slug: session.slug });
  const question = await waitFor("the question", () => notices("question", /^The worktree of 'feat-up' has uncommitted changes\.$/)[0]);
  assert.deepEqual(question.actions, ["Remove Anyway", "Keep Worktree"]);
  assert.match(question.detail ?? "", /^ {2}uncommitted\.txt$/m, `the server's list of changes: ${question.detail}`);
  assert.doesNotMatch(question.detail ?? "", /\.env\.berth/, "Berth's own env file is not the user's change");
  question.respond("Keep Worktree");
  const kept = await down;
  assert.ok(kept, "berth.down returned a receipt");
  assert.deepEqual(kept.kept.map((k) => [k.kind, k.name]), [["worktree", session.worktreePath]]);
  assert.equal(existsSync(path.join(session.worktreePath, "uncommitted.txt")), true, "the changes are still there");
  const told = await waitFor("what was kept, with the server's remedy",
    () => notices("info", /^Berth: feat-up is stopped; kept worktree .* \(it has uncommitted changes \(uncommitted\.txt\)/)[0]);
  assert.deepEqual(told.actions, ["Remove Anyway"]);
  told.respond("Remove Anyway");
  await waitFor("the session is gone", async () => !existsSync(session.worktreePath) && api.sessions().length === 0);
  await waitFor("status bar back to no sessions", () => api.statusBarText() === "$(server-environment) Berth: no sessions");
  await assertNothingLeft(session.slug, session.ports.web ?? 0);
});

test("Berth: Down of a clean worktree does not ask", async () => {
  const session = await vscode.commands.executeCommand<SessionView | undefined>("berth.up", { branch: "feat-clean" });
  assert.ok(session, "berth.up returned a session");
  const asked = api.notices().length;
  const down = await vscode.commands.executeCommand<TeardownReceipt | undefined>("berth.down", { slug: session.slug });
  assert.ok(down?.removed.some((r) => r.kind === "worktree"), `worktree removed: ${JSON.stringify(down)}`);
  assert.deepEqual(api.notices().slice(asked).filter((n) => n.severity === "question"), [], "no question");
  await assertNothingLeft(session.slug, session.ports.web ?? 0);
});

test("Berth: Down shows the server's down plan blockers: commits on the branch that nothing else has", async () => {
  const session = await vscode.commands.executeCommand<SessionView | undefined>("berth.up", { branch: "feat-commits" });
  assert.ok(session, "berth.up returned a session");
  git(session.worktreePath, "commit", "-q", "--allow-empty", "-m", "only here");
  const sha = git(session.worktreePath, "rev-parse", "--short", "HEAD").trim();
  const down = vscode.commands.executeCommand<TeardownReceipt | undefined>("berth.down", { slug: session.slug });
  const question = await waitFor("the question", () => notices("question", /^The branch of 'feat-commits' has commits that no other branch or remote has\.$/)[0]);
  assert.deepEqual(question.actions, ["Down"]);
  assert.match(question.detail ?? "", new RegExp(`^ {2}${sha} only here$`, "m"), `the plan's commits: ${question.detail}`);
  question.respond("Down");
  const receipt = await down;
  assert.ok(receipt?.removed.some((r) => r.kind === "worktree"), `worktree removed: ${JSON.stringify(receipt)}`);
  assert.match(git(repo, "branch", "--list", "feat-commits"), /feat-commits/, "down keeps the branch and its commit");
  await assertNothingLeft(session.slug, session.ports.web ?? 0);
});

test("Berth: Up's branch pick has the server check typed names: it refuses what the server's rules refuse", async () => {
  const refused: [string, RegExp][] = [["feat/Ünïcode", /non-ASCII/], ["a", /slug 'a' must be 2-62 characters/]];
  for (const [name, why] of refused) {
    const choice = await api.typedBranch(name);
    assert.equal(choice?.acceptable, false, `${name} is refused`);
    assert.match(choice.description, why);
  }
  assert.deepEqual(await api.typedBranch("feat/Login"), { description: "new branch · session feat-login", acceptable: true });
});

test("a service that exits during start-up: its error's Show web Log button opens the service's log", async () => {
  writeBerthToml(repo, { basePort, command: "echo boom-output; exit 7" });
  assert.equal(await vscode.commands.executeCommand("berth.up", { branch: "feat-spawn" }), undefined, "berth.up failed");
  const error = await waitFor("the error", () => notices("error", /service 'web' exited with status 7/)[0]);
  assert.deepEqual(error.actions, ["Show web Log", "Show Output"]);
  error.respond("Show web Log");
  const log = await waitFor("the log in an editor", () => {
    const editor = vscode.window.activeTextEditor;
    return editor?.document.uri.fsPath.endsWith(path.join("feat-spawn", "web.log")) ? editor : undefined;
  });
  assert.match(log.document.getText(), /boom-output/);
  await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
  await assertNothingLeft("feat-spawn", basePort + 1);
});

test("an invalid berth.toml: its error's Open berth.toml button opens it", async () => {
  writeFileSync(path.join(repo, "berth.toml"), 'mode = "host"\nmax_slots = "many"\n');
  assert.equal(await vscode.commands.executeCommand("berth.up", { branch: "feat-config" }), undefined, "berth.up failed");
  const error = await waitFor("the error", () => notices("error", /berth\.toml is invalid/)[0]);
  assert.deepEqual(error.actions, ["Open berth.toml", "Show Output"]);
  error.respond("Open berth.toml");
  await waitFor("berth.toml in an editor", () => vscode.window.activeTextEditor?.document.uri.fsPath === path.join(repo, "berth.toml"));
  await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
  writeBerthToml(repo, { basePort });
  await assertNothingLeft("feat-config", basePort + 1);
});

test("a failing post_up hook shows the rollback warning and the server's error, and leaves nothing", async () => {
  writeBerthToml(repo, { basePort, postUp: "echo hook-output; exit 3" });
  const result = await vscode.commands.executeCommand<SessionView | undefined>("berth.up", { branch: "feat-fail" });
  assert.equal(result, undefined, "berth.up failed");
  const warning = await waitFor("rollback warning", () => notices("warning", /^Berth rolled back 'feat-fail': undid /)[0]);
  assert.match(warning.message, /worktree/i, `the warning names what was undone: ${warning.message}`);
  const error = notices("error", /post_up/)[0];
  assert.ok(error, `an error naming the hook: ${JSON.stringify(api.notices())}`);
  assert.match(error.message, /exit code 3/);
  await assertNothingLeft("feat-fail", basePort + 1);
  await waitFor("status bar back to no sessions", () => api.statusBarText() === "$(server-environment) Berth: no sessions");
});

test("cancelling during a slow post_up hook rolls the bring-up back", async () => {
  writeBerthToml(repo, { basePort, postUp: "sleep 30" });
  const started = Date.now();
  const up = vscode.commands.executeCommand<SessionView | undefined>("berth.up", { branch: "feat-cancel" });
  // The service runs before post_up starts: once its port (slot 1, the only one in use) answers, the hook sleeps.
  const worktree = path.join(repo, ".berth", "worktrees", "feat-cancel");
  await waitFor("service up before post_up", async () => existsSync(worktree) && (await portOpen(basePort + 1)), 20_000);
  await waitFor("spinner while the bring-up runs", () => api.statusBarText().startsWith("$(sync~spin) Berth: up feat-cancel"));
  assert.equal(await vscode.commands.executeCommand<number>("berth.cancel"), 1, "one operation cancelled");
  assert.equal(await up, undefined, "berth.up resolved without a session");
  assert.ok(Date.now() - started < 25_000, "cancelled well before the hook would end");
  assert.ok(notices("info", /bring-up of feat-cancel was cancelled and rolled back/).length === 1, "cancel reported");
  await assertNothingLeft("feat-cancel", basePort + 1);
});

test("an error's remedy is a button that does it: WORKTREE_EXISTS, then Reuse Worktree brings the session up there", async () => {
  writeBerthToml(repo, { basePort });
  const worktree = path.join(repo, ".berth", "worktrees", "feat-reuse");
  git(repo, "worktree", "add", "-q", "-b", "feat-reuse", worktree);
  assert.equal(await vscode.commands.executeCommand("berth.up", { branch: "feat-reuse" }), undefined, "berth.up failed");
  const error = await waitFor("the error", () => notices("error", /worktrees\/feat-reuse already exists/)[0]);
  assert.deepEqual(error.actions, ["Reuse Worktree", "Show Output"]);
  error.respond("Reuse Worktree");
  await waitFor("the session is up", () => notices("info", /^Berth: feat-reuse is up /)[0]);
  const session = api.sessions().find((s) => s.slug === "feat-reuse");
  assert.equal(session?.status, "active");
  assert.equal(session.worktreePath, worktree, "in the existing worktree");
  assert.equal(await httpStatus(session.ports.web ?? 0), 200, "the service answers on its port");

  // Berth never deletes a worktree it did not create: the session goes, the worktree stays.
  const down = await vscode.commands.executeCommand<TeardownReceipt | undefined>("berth.down", { slug: "feat-reuse" });
  assert.deepEqual(down?.kept.map((k) => [k.kind, k.name]), [["worktree", worktree]]);
  assert.equal(down?.status, "removed");
  assert.ok(existsSync(worktree), "the reused worktree is still there");
  assert.equal(await portOpen(session.ports.web ?? 0), false, "down stops the service");
});

test("a berth.serverPath that is not executable stops the server with a clear message; fixing it restarts", async () => {
  const config = () => vscode.workspace.getConfiguration("berth");
  await config().update("serverPath", "/nonexistent/berth", vscode.ConfigurationTarget.Workspace);
  try {
    await waitFor("server missing", () => api.serverState() === "missing");
    await waitFor("error shown", () => notices("error", /berth\.serverPath is \/nonexistent\/berth, which is not an executable file/)[0]);
    assert.equal(api.statusBarText(), "$(error) Berth: no server");
    await waitFor("the old server process ended", () => berthServeChildren().length === 0, 10_000);
  } finally {
    await config().update("serverPath", undefined, vscode.ConfigurationTarget.Workspace);
  }
  await waitFor("server running again", () => api.serverState() === "running");
  assert.equal(berthServeChildren().length, 1);
});

export async function run(): Promise<void> {
  let passed = 0;
  let failed = 0;
  const lines = [`vscode ${vscode.version}, node ${process.version}, repo ${repo}`];
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await t.fn();
      passed++;
      lines.push(`ok - ${t.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      lines.push(`not ok - ${t.name} (${Date.now() - t0} ms)\n  ${(e instanceof Error && e.stack) || String(e)}`.replace(/\n/g, "\n    "));
    }
  }
  lines.push(`${passed} passed, ${failed} failed`);
  console.log(lines.join("\n"));
  if (process.env.EXT_TEST_REPORT) writeFileSync(process.env.EXT_TEST_REPORT, `${lines.join("\n")}\n`);
  if (failed) throw new Error(`${failed} extension-host test(s) failed`);
}
