"""Host-mode `up` + `down` of a two-service session: Berth against the raw sequence it wraps.

Each run does three variants back to back, in a rotating order, so they share the machine's noise:

  raw         git worktree add -b, spawn both services as Berth does (/bin/sh -c, new session, log
              files, same commands and port variables), poll TCP until both accept, SIGTERM the process
              groups and wait, git worktree remove --force
  in-process  Engine(Workspace(repo)).up(...) then .down(...), one Engine kept for the whole run
  cli         `berth up <branch> --json` then `berth down <slug> --json` as subprocesses (includes the
              interpreter start-up and imports)

Usage: python bench/bench_host.py [--runs N] [--warmup N] [--json] [--steps]
(re-runs itself under .venv/bin/python when the interpreter cannot import berth)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    REPO_ROOT,
    CleanupSteps,
    ComparisonBench,
    Timing,
    accepts_tcp,
    comparison_args,
    comparison_figures,
    comparison_lines,
    ensure_importable,
    find_berth_cli,
    git,
    interrupt_on,
    machine_info,
    machine_lines,
    ms,
    pick_free_base,
    reap,
    report_or_interrupted,
    step_lines,
    stop_group,
    summarize,
    time_command,
)

WEB_COMMAND = "exec python3 -m http.server $PORT --bind 127.0.0.1"
API_COMMAND = "exec python3 -m http.server $BERTH_API_PORT --bind 127.0.0.1"
API_BASE_OFFSET = 100  # api base_port = web base_port + 100 (beyond the web port's search reach)
SLOT = 1  # the first session of a fresh repository gets slot 1: port = base_port + 1

POLL_SECONDS = 0.01
READY_TIMEOUT = 30.0
KILL_GRACE = 3.0

VARIANT_LABELS = {"raw": "raw", "inprocess": "berth in-process", "cli": "berth CLI"}


# -- the raw sequence -------------------------------------------------------------------------------
@dataclass
class Service:
    name: str
    command: str
    port: int


def spawn_like_berth(
    command: str, *, cwd: Path, env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """What berth.adapters.processes.spawn does, minus the psutil identity and the marker."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_port(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not accepts_tcp(port):
        code = proc.poll()
        if code is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"service on port {port} exited with {code} during start-up:\n{tail}")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"nothing accepted TCP on port {port} after {READY_TIMEOUT:g}s")
        time.sleep(POLL_SECONDS)


# -- the benchmark ----------------------------------------------------------------------------------
class Bench(ComparisonBench):
    def __init__(self, tmp: Path, services: list[Service], berth_cli: Path) -> None:
        super().__init__(tmp, berth_cli)
        self.services = services
        self.logs = tmp / "raw-logs"
        self.raw_procs: list[subprocess.Popen[bytes]] = []
        self.port_mismatches: list[str] = []

    def fixture_files(self) -> dict[str, str]:
        toml = 'mode = "host"\n'
        for svc in self.services:
            toml += (
                f'\n[[services]]\nname = "{svc.name}"\nbase_port = {svc.port - SLOT}\n'
                f"command = {json.dumps(svc.command)}\n"
            )
        return {
            "berth.toml": toml,
            ".gitignore": ".berth/\n",
            "README.md": "benchmark fixture\n",
            "app/index.html": "<h1>hello</h1>\n",
        }

    def expected_ports(self) -> dict[str, int]:
        return {s.name: s.port for s in self.services}

    def raw(self, run: str) -> Timing:
        branch = f"raw-{run}"
        path = self.repo / ".berth" / "worktrees" / branch
        env = {**os.environ, "PORT": str(self.services[0].port)}
        env.update({f"BERTH_{s.name.upper()}_PORT": str(s.port) for s in self.services})
        started = time.perf_counter()
        git(self.repo, "worktree", "add", "-b", branch, str(path))
        procs: list[tuple[subprocess.Popen[bytes], Service, Path]] = []
        for svc in self.services:
            log_path = self.logs / branch / f"{svc.name}.log"
            proc = spawn_like_berth(svc.command, cwd=path, env=env, log_path=log_path)
            self.raw_procs.append(proc)
            procs.append((proc, svc, log_path))
        for proc, svc, log_path in procs:
            wait_for_port(proc, svc.port, log_path)
        ready = time.perf_counter()
        for proc, _, _ in procs:
            stop_group(proc)
        for proc, _, _ in procs:
            reap(proc, KILL_GRACE)
            self.raw_procs.remove(proc)
        git(self.repo, "worktree", "remove", "--force", str(path))
        ended = time.perf_counter()
        return Timing(ready - started, ended - ready)

    def check_ports(self, what: str, got: Mapping[str, int]) -> None:
        if dict(got) != self.expected_ports():
            self.port_mismatches.append(f"{what}: got {dict(got)}, raw used {self.expected_ports()}")

    # cleanup ---------------------------------------------------------------------------------------
    def cleanup_steps(self) -> CleanupSteps:
        return [
            ("berth CLI child", self.stop_cli_child),
            ("raw services", self._stop_raw),
            ("berth sessions", self.down_berth_sessions),
            ("stray processes", self._kill_strays),
        ]

    def _stop_raw(self) -> None:
        for proc in self.raw_procs:
            stop_group(proc)
        for proc in self.raw_procs:
            reap(proc, KILL_GRACE)
        self.raw_procs.clear()

    def _kill_strays(self) -> None:
        """Any process still running in a worktree of the temp repo: kill its whole group."""
        import psutil

        prefix = str(self.tmp.resolve())
        own_group = os.getpgrp()
        for proc in psutil.process_iter(["pid"]):
            try:
                if not proc.cwd().startswith(prefix):
                    continue
                group = os.getpgid(proc.pid)
            except (psutil.Error, ProcessLookupError, PermissionError):
                continue
            if group != own_group:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)


# -- driver -----------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    berth_cli = find_berth_cli()
    base = pick_free_base([SLOT, API_BASE_OFFSET + SLOT])
    services = [
        Service("web", WEB_COMMAND, base + SLOT),
        Service("api", API_COMMAND, base + API_BASE_OFFSET + SLOT),
    ]
    bench = Bench(Path(tempfile.mkdtemp(prefix="berth-bench-")), services, berth_cli)
    startup: dict[str, list[float]] = {
        "python -c pass": [],
        "python -c 'import berth.frontends.cli.main'": [],
    }

    def time_startup(warm: bool) -> None:
        pass_s = time_command([sys.executable, "-c", "pass"], cwd=bench.tmp)
        import_s = time_command([sys.executable, "-c", "import berth.frontends.cli.main"], cwd=bench.tmp)
        if not warm:
            startup["python -c pass"].append(pass_s)
            startup["python -c 'import berth.frontends.cli.main'"].append(import_s)

    timings = bench.interleave(args.runs, args.warmup, VARIANT_LABELS, args.json, after_run=time_startup)
    return {
        "benchmark": "host-mode up+down, 2 native services",
        "machine": machine_info(REPO_ROOT),
        "runs": args.runs,
        "warmup": args.warmup,
        "ports": {s.name: s.port for s in services},
        "commands": {s.name: s.command for s in services},
        **comparison_figures(
            timings,
            bench,
            after_ratios={"python_startup_seconds": {k: summarize(v).to_dict() for k, v in startup.items()}},
        ),
        "port_mismatches": bench.port_mismatches,
    }


def render(report: dict[str, Any], show_steps: bool) -> str:
    lines = [
        f"Berth host-mode up+down, 2 services: {report['runs']} runs (+{report['warmup']} warm-up), "
        f"interleaved, times in ms",
        *machine_lines(report["machine"], f"git {report['machine']['git']}"),
        "",
        *comparison_lines(report, VARIANT_LABELS),
    ]
    startup = report["python_startup_seconds"]
    lines.append(
        "python start-up (median): "
        + ", ".join(f"`{k}` {ms(v['median'])} ms" for k, v in startup.items())
        + "  (the CLI pays this twice)"
    )
    if show_steps:
        lines += step_lines(report)
    if report["port_mismatches"]:
        lines.append("")
        lines.append("warning: berth used other ports than the raw variant:")
        lines.extend(f"  {x}" for x in report["port_mismatches"])
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = comparison_args(__doc__, argv, default_runs=10)
    ensure_importable(__file__, ("berth", "psutil"))
    interrupt_on(signal.SIGTERM, signal.SIGHUP)
    return report_or_interrupted(
        lambda: run(args),
        lambda report: render(report, args.steps),
        args.json,
        "interrupted; sessions, processes and the temp repo were cleaned up",
    )


if __name__ == "__main__":
    sys.exit(main())
