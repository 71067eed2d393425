import assert from "node:assert/strict";
import { test } from "node:test";
import { terminalSpec, terminalTargets } from "../../src/sessionTerminal";
import { session } from "./fixtures";

const worktree = "/repo/.berth/worktrees/feat-x";

test("a session without docker services has one place for a terminal: its worktree", () => {
  assert.deepEqual(terminalTargets(session()), [{ label: "$(folder) Worktree", description: worktree }]);
});

test("each docker service is offered after the worktree, with its container and state", () => {
  const hybrid = session({
    mode: "hybrid",
    services: [
      { name: "web", kind: "native", port: 3001, state: "running" },
      { name: "db", kind: "docker", port: 5433, state: "running", container: "berth_feat-x-db-1" },
      { name: "cache", kind: "docker", state: "exited" },
    ],
  });
  assert.deepEqual(terminalTargets(hybrid).slice(1), [
    { label: "$(vm) db", description: "berth_feat-x-db-1 running", service: "db" },
    { label: "$(vm) cache", description: "container exited", service: "cache" },
  ]);
});

test("the worktree terminal is the user's own shell with the session's env on top", () => {
  const spec = terminalSpec({
    slug: "feat-x",
    variables: { BERTH_WEB_PORT: "3001" },
    envFile: `${worktree}/.env.berth`,
    worktreePath: worktree,
    shell: { cwd: worktree, env: { BERTH_WEB_PORT: "3001", GREETING: "hi" } },
  });
  assert.deepEqual(spec, { name: "Berth: feat-x", cwd: worktree, env: { BERTH_WEB_PORT: "3001", GREETING: "hi" } });
});

test("a container terminal runs exactly the argv the server answered", () => {
  const argv = ["docker", "compose", "-p", "berth_feat-x", "-f", "/repo/.berth/compose/feat-x-1.json", "exec", "db", "sh"];
  const spec = terminalSpec({
    slug: "feat-x",
    variables: {},
    envFile: `${worktree}/.env.berth`,
    worktreePath: worktree,
    shell: { argv, cwd: worktree, env: {}, service: "db", container: "berth_feat-x-db-1" },
  });
  assert.deepEqual(spec, { name: "Berth: feat-x/db", cwd: worktree, env: {}, shellPath: "docker", shellArgs: argv.slice(1) });
});

test("an answer without a shell opens no terminal", () => {
  assert.equal(terminalSpec({ slug: "feat-x", variables: {}, envFile: "/e", worktreePath: worktree }), undefined);
});
