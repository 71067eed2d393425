"""Container-mode `up` + `down` of a two-service compose file: Berth against raw compose, same run.

Each run does three variants back to back, in a rotating order, so they share the machine's noise:

  raw         docker compose -p <X> -f compose.yml up -d --wait, then docker compose -p <X> down -v,
              on the very compose file Berth uses, in the main checkout
  in-process  Engine(Workspace(repo)).up(...) then .down(...), one Engine kept for the whole run
  cli         `berth up <branch> --json` then `berth down <slug> --json` as subprocesses

The compose file holds a web service (busybox httpd) and a data service writing into a named volume,
both from the offline test image `berth-test/busybox:1` (built by tests/dockerimages.py; no
registry is used). By default neither has a healthcheck, so `--wait` returns once both containers
run and the figures show Berth's own cost; `--healthcheck` adds one (1 s interval) to both.

Usage: python bench/bench_container.py [--runs N] [--warmup N] [--healthcheck] [--json] [--steps]
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    REPO_ROOT,
    CleanupSteps,
    ComparisonBench,
    Timing,
    comparison_args,
    comparison_figures,
    comparison_lines,
    ensure_importable,
    find_berth_cli,
    interrupt_on,
    machine_info,
    machine_lines,
    pick_free_base,
    report_or_interrupted,
    step_lines,
)

IMAGE = "berth-test/busybox:1"
SLOT = 1
COMPOSE_TIMEOUT = 180.0

VARIANT_LABELS = {"raw": "raw compose", "inprocess": "berth in-process", "cli": "berth CLI"}

HEALTHCHECK = """\
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 30
"""


def compose_text(healthcheck: bool) -> str:
    check = HEALTHCHECK if healthcheck else ""
    data_command = json.dumps("mkdir -p /data && date >> /data/starts && exec httpd -f -p 8080 -h /data")
    return (
        "services:\n"
        f"  web:\n    image: {IMAGE}\n    pull_policy: never\n    ports: ['8080']\n{check}"
        f"  data:\n    image: {IMAGE}\n    pull_policy: never\n    ports: ['8080']\n"
        f'    command: ["sh", "-c", {data_command}]\n    volumes: ["data-volume:/data"]\n'
        + check.replace("8080/", "8080/starts")
        + "volumes:\n  data-volume: {}\n"
    )


def ensure_engine_and_image() -> None:
    res = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "ensure-docker.sh")], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise SystemExit(f"no Docker engine / compose v2: {(res.stderr or res.stdout).strip()}")
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from dockerimages import ensure_test_images

    ensure_test_images()


class Bench(ComparisonBench):
    cli_timeout = 180.0
    cli_interrupt_grace = 60.0

    def __init__(self, tmp: Path, base: int, healthcheck: bool, berth_cli: Path) -> None:
        super().__init__(tmp, berth_cli)
        self.base = base
        self.healthcheck = healthcheck
        self.prefix = f"bench{os.getpid()}"
        self.raw_projects: set[str] = set()

    def fixture_files(self) -> dict[str, str]:
        toml = f'mode = "container"\nprefix = "{self.prefix}"\n'
        for offset, name in ((0, "web"), (100, "data")):
            toml += f'\n[[services]]\nname = "{name}"\nbase_port = {self.base + offset}\nrun = "docker"\n'
        return {"berth.toml": toml, ".gitignore": ".berth/\n", "compose.yml": compose_text(self.healthcheck)}

    # the raw variant -------------------------------------------------------------------------------
    def compose(self, project: str, *args: str) -> None:
        cmd = ["docker", "compose", "-p", project, "-f", str(self.repo / "compose.yml"), *args]
        res = subprocess.run(
            cmd,
            cwd=self.repo,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=COMPOSE_TIMEOUT,
        )
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")

    def raw(self, run: str) -> Timing:
        project = f"{self.prefix}raw{run}"
        self.raw_projects.add(project)
        started = time.perf_counter()
        self.compose(project, "up", "-d", "--wait")
        ready = time.perf_counter()
        self.compose(project, "down", "-v")
        ended = time.perf_counter()
        self.raw_projects.discard(project)
        return Timing(ready - started, ended - ready)

    # cleanup ---------------------------------------------------------------------------------------
    def cleanup_steps(self) -> CleanupSteps:
        return [
            ("berth CLI child", self.stop_cli_child),
            ("raw projects", self._down_raw),
            ("berth sessions", self.down_berth_sessions),
        ]

    def _down_raw(self) -> None:
        for project in list(self.raw_projects):
            self.compose(project, "down", "-v")


# -- driver -----------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    berth_cli = find_berth_cli()
    ensure_engine_and_image()
    base = pick_free_base([SLOT, 100 + SLOT])
    bench = Bench(Path(tempfile.mkdtemp(prefix="berth-bench-")), base, args.healthcheck, berth_cli)
    timings = bench.interleave(args.runs, args.warmup, VARIANT_LABELS, args.json)
    compose_version = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True
    ).stdout.strip()
    engine_version = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "benchmark": "container-mode up+down, 2 compose services (one with a named volume)",
        "healthcheck": args.healthcheck,
        "machine": {**machine_info(REPO_ROOT), "docker": engine_version, "compose": compose_version},
        "runs": args.runs,
        "warmup": args.warmup,
        **comparison_figures(timings, bench),
    }


def render(report: dict[str, Any], show_steps: bool) -> str:
    m = report["machine"]
    check = "with" if report["healthcheck"] else "without"
    lines = [
        f"Berth container-mode up+down, 2 compose services {check} healthchecks: {report['runs']} runs "
        f"(+{report['warmup']} warm-up), interleaved, times in ms",
        *machine_lines(m, f"docker {m['docker']}; compose {m['compose']}"),
        "",
        *comparison_lines(report, VARIANT_LABELS),
    ]
    if show_steps:
        lines += step_lines(report)
    return "\n".join(lines)


def add_healthcheck_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--healthcheck", action="store_true", help="give both services a 1 s healthcheck")


def main(argv: Sequence[str] | None = None) -> int:
    args = comparison_args(__doc__, argv, default_runs=5, extra=add_healthcheck_option)
    ensure_importable(__file__, ("berth", "docker"))
    interrupt_on(signal.SIGTERM)
    return report_or_interrupted(lambda: run(args), lambda report: render(report, args.steps), args.json)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
