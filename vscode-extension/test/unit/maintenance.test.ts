import assert from "node:assert/strict";
import { test } from "node:test";
import { doctorMarkdown, pruneOutcome, pruneQuestion } from "../../src/maintenance";
import type { DoctorReport, PruneReport } from "../../src/protocol.generated";

const report: DoctorReport = {
  root: "/repo",
  checks: [
    { id: "git", title: "git is installed", status: "ok", detail: "git 2.39.5", required: true, items: [], seconds: 0.01 },
    {
      id: "engine", title: "Docker engine", status: "error", required: true, items: [], seconds: 3.2,
      detail: "no Docker engine answers at unix:///x.sock (no answer in time)", remediation: "start the engine",
    },
    {
      id: "processes", title: "processes of no session", status: "warn", required: false, seconds: 0.1,
      detail: "1 process(es) carry this repository's marker", items: ["pid 4 (sleep | 300)"], remediation: "berth prune stops them",
    },
  ],
  summary: { ok: 1, warn: 1, error: 1 },
  healthy: false,
  seconds: 3.4,
};

test("the doctor report is a table of every check and a section per finding", () => {
  const md = doctorMarkdown(report);
  assert.match(md, /^# Berth doctor: \/repo\n/);
  assert.match(md, /3 checks: 1 ok, 1 warn, 1 error in 3\.40 s — \*\*unhealthy: a required check failed\*\*/);
  assert.match(md, /\| ✅ ok \| git is installed \(required\) \| git 2\.39\.5 \|/);
  assert.match(md, /## ❌ error: Docker engine\n\nno Docker engine answers/);
  assert.match(md, /## ⚠️ warn: processes of no session[\s\S]*- `pid 4 \(sleep \| 300\)`[\s\S]*\*\*Fix:\*\* berth prune stops them/);
  assert.doesNotMatch(md, /## ✅/, "ok checks get no section");
});

const plan: PruneReport = {
  root: "/repo", dryRun: true, volumes: false, residueFree: false,
  plan: [
    { kind: "process", name: "pid 4 (sleep 300)", reason: "r" },
    { kind: "worktree", name: "/repo/.berth/worktrees/old", reason: "r" },
  ],
  blockers: [{ kind: "worktree", name: "/repo/.berth/worktrees/wip", reason: "uncommitted changes (todo.txt)" }],
  kept: [{ kind: "volume", name: "p_data", reason: "r" }],
};

test("the question before a prune lists the plan, the blockers and the kept volumes", () => {
  const q = pruneQuestion(plan);
  assert.equal(q.message, "Berth: prune 2 leftovers of no live session?");
  assert.match(q.detail, /^• process pid 4 \(sleep 300\)\n• worktree \/repo\/\.berth\/worktrees\/old\n\nNever removed:\n• worktree \/repo\/\.berth\/worktrees\/wip: uncommitted changes/);
  assert.match(q.detail, /Kept: 1 volume\(s\)/);
});

test("a prune's outcome says what is left and why", () => {
  assert.deepEqual(pruneOutcome({ ...plan, dryRun: false, removed: plan.plan, residueFree: true }), {
    severity: "info", message: "Berth: pruned 2 of 2 leftovers; nothing planned is left.",
  });
  const partial = pruneOutcome({ ...plan, dryRun: false, removed: plan.plan.slice(0, 1), left: [{ kind: "worktree", name: "/w", reason: "locked" }] });
  assert.equal(partial.severity, "warning");
  assert.equal(partial.message, "Berth: pruned 1 of 2 leftovers; still there: worktree /w (locked).");
  assert.equal(pruneOutcome({ ...plan, plan: [] }).message, "Berth: nothing to prune.");
});
