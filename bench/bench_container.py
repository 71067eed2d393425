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
import importlib.util
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from common import Summary, init_repo, machine_info, ms, pick_free_base, render_table, summarize

if TYPE_CHECKING:
    from berth.engine import Engine
    from berth.rollback import UndoState, UndoStep

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
REEXEC_GUARD = "BERTH_BENCH_REEXECED"
IMAGE = "berth-test/busybox:1"
SLOT = 1
CLI_TIMEOUT = 180.0
COMPOSE_TIMEOUT = 180.0

VARIANTS = ("raw", "inprocess", "cli")
VARIANT_LABELS = {"raw": "raw compose", "inprocess": "berth in-process", "cli": "berth CLI"}
Phase = Literal["up", "down", "total"]
PHASES: tuple[Phase, ...] = ("up", "down", "total")

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


def ensure_berth_importable() -> None:
    if not all(importlib.util.find_spec(name) for name in ("berth", "docker")):
        if VENV_PYTHON.exists() and not os.environ.get(REEXEC_GUARD):
            os.environ[REEXEC_GUARD] = "1"
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
        raise SystemExit(f"berth is not importable from {sys.executable}; run with {VENV_PYTHON}")


def ensure_engine_and_image() -> None:
    res = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "ensure-docker.sh")], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise SystemExit(f"no Docker engine / compose v2: {(res.stderr or res.stdout).strip()}")
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from dockerimages import ensure_test_images

    ensure_test_images()


@dataclass
class StepClock:
    """An EventSink that timestamps the engine's progress events, to split a call into its steps."""

    marks: list[tuple[str, float]] = field(default_factory=list)

    def progress(self, slug: str, step: str, index: int, total: int) -> None:
        self.marks.append((step, time.perf_counter()))

    def undo(self, slug: str, op_id: str, step: UndoStep, state: UndoState, detail: str | None) -> None:
        pass

    def log(self, level: Literal["info", "warning", "error"], line: str) -> None:
        pass

    def session_changed(self, slug: str) -> None:
        pass

    def segments(self, started: float, ended: float) -> dict[str, float]:
        out: dict[str, float] = {}
        edges = [("config + reserve", started), *self.marks, ("", ended)]
        for (name, begin), (_, end) in itertools.pairwise(edges):
            out[name] = out.get(name, 0.0) + (end - begin)
        return out


@dataclass
class Timing:
    up: float
    down: float

    @property
    def total(self) -> float:
        return self.up + self.down


@dataclass
class Bench:
    tmp: Path
    base: int
    healthcheck: bool
    berth_cli: Path
    prefix: str = field(init=False)
    repo: Path = field(init=False)
    engine: Engine | None = None
    raw_projects: set[str] = field(default_factory=set)
    cli_child: subprocess.Popen[str] | None = None
    up_steps: list[dict[str, float]] = field(default_factory=list)
    down_steps: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.repo = self.tmp / "repo"
        self.prefix = f"bench{os.getpid()}"

    def setup(self) -> None:
        toml = f'mode = "container"\nprefix = "{self.prefix}"\n'
        for offset, name in ((0, "web"), (100, "data")):
            toml += f'\n[[services]]\nname = "{name}"\nbase_port = {self.base + offset}\nrun = "docker"\n'
        init_repo(
            self.repo,
            {"berth.toml": toml, ".gitignore": ".berth/\n", "compose.yml": compose_text(self.healthcheck)},
        )
        from berth.engine import Engine
        from berth.workspace import Workspace

        self.engine = Engine(Workspace(self.repo))

    # variants --------------------------------------------------------------------------------------
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

    def inprocess(self, run: str) -> Timing:
        from berth.engine import DownRequest, UpRequest

        assert self.engine is not None
        up_clock, down_clock = StepClock(), StepClock()
        started = time.perf_counter()
        view = self.engine.up(UpRequest(branch=f"ip-{run}"), events=up_clock)
        ready = time.perf_counter()
        self.engine.down(DownRequest(slug=view.slug), events=down_clock)
        ended = time.perf_counter()
        self.up_steps.append(up_clock.segments(started, ready))
        self.down_steps.append(down_clock.segments(ready, ended))
        return Timing(ready - started, ended - ready)

    def cli(self, run: str) -> Timing:
        started = time.perf_counter()
        view = json.loads(self.run_cli("up", f"cli-{run}", "--json"))
        ready = time.perf_counter()
        self.run_cli("down", str(view["slug"]), "--json")
        ended = time.perf_counter()
        return Timing(ready - started, ended - ready)

    def run_cli(self, *args: str) -> str:
        child = subprocess.Popen(
            [str(self.berth_cli), *args],
            cwd=self.repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.cli_child = child
        try:
            out, err = child.communicate(timeout=CLI_TIMEOUT)
        finally:
            self.cli_child = None if child.returncode is not None else child
        if child.returncode != 0:
            raise RuntimeError(f"berth {' '.join(args)} failed ({child.returncode}):\n{out}{err}")
        return out

    # cleanup ---------------------------------------------------------------------------------------
    def cleanup(self) -> None:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("berth CLI child", self._stop_cli_child),
            ("raw projects", self._down_raw),
            ("berth sessions", self._down_berth_sessions),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:
                print(f"cleanup: {what}: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _stop_cli_child(self) -> None:
        child = self.cli_child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGINT)  # berth rolls back what it started
        try:
            child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()

    def _down_raw(self) -> None:
        for project in list(self.raw_projects):
            self.compose(project, "down", "-v")

    def _down_berth_sessions(self) -> None:
        if not (self.repo / ".berth" / "state.db").exists():
            return
        from berth.engine import DownRequest, Engine
        from berth.workspace import Workspace

        engine = self.engine or Engine(Workspace(self.repo))
        engine.recover()
        for session in engine.list_sessions():
            engine.down(DownRequest(slug=session.slug, force=True))


# -- driver -----------------------------------------------------------------------------------------
def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def step_medians(samples: Sequence[dict[str, float]]) -> dict[str, Summary]:
    names: list[str] = []
    for sample in samples:
        names.extend(n for n in sample if n not in names)
    return {n: summarize([s.get(n, 0.0) for s in samples]) for n in names}


def run(args: argparse.Namespace) -> dict[str, Any]:
    berth_cli = Path(sys.executable).with_name("berth")
    if not berth_cli.exists():
        found = shutil.which("berth")
        if found is None:
            raise SystemExit("cannot find the `berth` command next to the interpreter or on PATH")
        berth_cli = Path(found)
    ensure_engine_and_image()
    base = pick_free_base([SLOT, 100 + SLOT])
    bench = Bench(Path(tempfile.mkdtemp(prefix="berth-bench-")), base, args.healthcheck, berth_cli)
    timings: dict[str, list[Timing]] = {v: [] for v in VARIANTS}
    try:
        bench.setup()
        measure: dict[str, Callable[[str], Timing]] = {
            "raw": bench.raw,
            "inprocess": bench.inprocess,
            "cli": bench.cli,
        }
        for index in range(args.warmup + args.runs):
            warm = index < args.warmup
            order = [VARIANTS[(index + k) % len(VARIANTS)] for k in range(len(VARIANTS))]
            results = {v: measure[v](str(index)) for v in order}
            label = "warm-up" if warm else f"run {index - args.warmup + 1}/{args.runs}"
            if not args.json:
                print(
                    f"{label:>12}: "
                    + "  ".join(f"{VARIANT_LABELS[v]} {ms(results[v].total)} ms" for v in VARIANTS),
                    file=sys.stderr,
                    flush=True,
                )
            if warm:
                bench.up_steps.clear()
                bench.down_steps.clear()
                continue
            for v in VARIANTS:
                timings[v].append(results[v])
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup()
    stats = {
        v: {
            "up": summarize([t.up for t in ts]),
            "down": summarize([t.down for t in ts]),
            "total": summarize([t.total for t in ts]),
        }
        for v, ts in timings.items()
    }
    raw = stats["raw"]
    ratios = {
        v: {
            "ratio": stats[v]["total"].median / raw["total"].median,
            "overhead_s": stats[v]["total"].median - raw["total"].median,
            "up_ratio": stats[v]["up"].median / raw["up"].median,
            "down_ratio": stats[v]["down"].median / raw["down"].median,
        }
        for v in ("inprocess", "cli")
    }
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
        "seconds": {v: {p: s.to_dict() for p, s in ph.items()} for v, ph in stats.items()},
        "ratios_vs_raw_median_total": ratios,
        "inprocess_steps_seconds": {
            "up": {k: s.to_dict() for k, s in step_medians(bench.up_steps).items()},
            "down": {k: s.to_dict() for k, s in step_medians(bench.down_steps).items()},
        },
        "samples_seconds": {v: [{"up": t.up, "down": t.down} for t in ts] for v, ts in timings.items()},
    }


def render(report: dict[str, Any], show_steps: bool) -> str:
    m = report["machine"]
    check = "with" if report["healthcheck"] else "without"
    lines = [
        f"Berth container-mode up+down, 2 compose services {check} healthchecks: {report['runs']} runs "
        f"(+{report['warmup']} warm-up), interleaved, times in ms",
        f"{m['date']}; {m['cpus']} CPUs ({m['cpu_model']}); {m['platform']}; {m['python']}; "
        f"docker {m['docker']}; compose {m['compose']}",
        f"berth {m['source']}; 1-min load average at the end: {m['load_1min_at_end']}",
        "",
    ]
    header = ["variant"] + [f"{p} {s}" for p in PHASES for s in ("med", "p95", "min")]
    rows = [
        [VARIANT_LABELS[v]]
        + [ms(report["seconds"][v][p][s]) for p in PHASES for s in ("median", "p95", "min")]
        for v in VARIANTS
    ]
    lines += [render_table(header, rows), ""]
    for v in ("inprocess", "cli"):
        r = report["ratios_vs_raw_median_total"][v]
        lines.append(
            f"{VARIANT_LABELS[v]:<17} / raw (median total): {r['ratio']:.2f}x  (+{ms(r['overhead_s'])} ms; "
            f"up {r['up_ratio']:.2f}x, down {r['down_ratio']:.2f}x)"
        )
    if show_steps:
        for phase in ("up", "down"):
            steps = report["inprocess_steps_seconds"][phase]
            lines += [
                "",
                render_table(
                    [f"in-process {phase} step", "med", "p95", "min"],
                    [[n, ms(s["median"]), ms(s["p95"]), ms(s["min"])] for n, s in steps.items()],
                ),
            ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured warm-up runs (default 1)")
    parser.add_argument("--healthcheck", action="store_true", help="give both services a 1 s healthcheck")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--steps", action="store_true", help="also print the in-process per-step times")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")
    ensure_berth_importable()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        report = run(args)
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report, args.steps))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
