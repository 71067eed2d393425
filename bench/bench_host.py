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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from common import (
    Summary,
    accepts_tcp,
    git,
    init_repo,
    machine_info,
    ms,
    pick_free_base,
    render_table,
    summarize,
)

if TYPE_CHECKING:
    from berth.engine import Engine
    from berth.rollback import UndoState, UndoStep

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
REEXEC_GUARD = "BERTH_BENCH_REEXECED"

WEB_COMMAND = "exec python3 -m http.server $PORT --bind 127.0.0.1"
API_COMMAND = "exec python3 -m http.server $BERTH_API_PORT --bind 127.0.0.1"
API_BASE_OFFSET = 100  # api base_port = web base_port + 100 (beyond the web port's search reach)
SLOT = 1  # the first session of a fresh repository gets slot 1: port = base_port + 1

POLL_SECONDS = 0.01
READY_TIMEOUT = 30.0
KILL_GRACE = 3.0
CLI_TIMEOUT = 120.0

VARIANTS = ("raw", "inprocess", "cli")
VARIANT_LABELS = {"raw": "raw", "inprocess": "berth in-process", "cli": "berth CLI"}
Phase = Literal["up", "down", "total"]
PHASES: tuple[Phase, ...] = ("up", "down", "total")


def ensure_berth_importable() -> None:
    """Re-run under the project's venv when started with an interpreter that lacks berth."""
    if not all(importlib.util.find_spec(name) for name in ("berth", "psutil")):
        if VENV_PYTHON.exists() and not os.environ.get(REEXEC_GUARD):
            os.environ[REEXEC_GUARD] = "1"
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
        raise SystemExit(f"berth is not importable from {sys.executable}; run with {VENV_PYTHON}")


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


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def reap(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE) -> None:
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        stop_group(proc, signal.SIGKILL)
        proc.wait(timeout=grace)


# -- step timing for the in-process variant ---------------------------------------------------------
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
        """Seconds from the call's start to the first step, then from each step to the next (the last
        step runs until the call returns, so it includes the final commit)."""
        out: dict[str, float] = {}
        edges = [("config + reserve", started), *self.marks, ("", ended)]
        for (name, begin), (_, end) in itertools.pairwise(edges):
            out[name] = out.get(name, 0.0) + (end - begin)
        return out


# -- the benchmark ----------------------------------------------------------------------------------
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
    services: list[Service]
    berth_cli: Path
    repo: Path = field(init=False)
    logs: Path = field(init=False)
    raw_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cli_child: subprocess.Popen[str] | None = None
    engine: Engine | None = None
    port_mismatches: list[str] = field(default_factory=list)
    up_steps: list[dict[str, float]] = field(default_factory=list)
    down_steps: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.repo = self.tmp / "repo"
        self.logs = self.tmp / "raw-logs"

    # setup -----------------------------------------------------------------------------------------
    def setup(self) -> None:
        toml = 'mode = "host"\n'
        for svc in self.services:
            toml += (
                f'\n[[services]]\nname = "{svc.name}"\nbase_port = {svc.port - SLOT}\n'
                f"command = {json.dumps(svc.command)}\n"
            )
        init_repo(
            self.repo,
            {
                "berth.toml": toml,
                ".gitignore": ".berth/\n",
                "README.md": "benchmark fixture\n",
                "app/index.html": "<h1>hello</h1>\n",
            },
        )
        from berth.engine import Engine
        from berth.workspace import Workspace

        self.engine = Engine(Workspace(self.repo))

    def expected_ports(self) -> dict[str, int]:
        return {s.name: s.port for s in self.services}

    # variants --------------------------------------------------------------------------------------
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
            reap(proc)
            self.raw_procs.remove(proc)
        git(self.repo, "worktree", "remove", "--force", str(path))
        ended = time.perf_counter()
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
        self.check_ports(f"in-process {run}", view.ports)
        self.up_steps.append(up_clock.segments(started, ready))
        self.down_steps.append(down_clock.segments(ready, ended))
        return Timing(ready - started, ended - ready)

    def cli(self, run: str) -> Timing:
        started = time.perf_counter()
        view = json.loads(self.run_cli("up", f"cli-{run}", "--json"))
        ready = time.perf_counter()
        self.run_cli("down", str(view["slug"]), "--json")
        ended = time.perf_counter()
        self.check_ports(f"CLI {run}", view["ports"])
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

    def check_ports(self, what: str, got: Mapping[str, int]) -> None:
        if dict(got) != self.expected_ports():
            self.port_mismatches.append(f"{what}: got {dict(got)}, raw used {self.expected_ports()}")

    def python_startup(self, code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=self.tmp)
        return time.perf_counter() - started

    # cleanup ---------------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Stop whatever is still running, then delete the temp dir (worktrees and logs live in it)."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("berth CLI child", self._stop_cli_child),
            ("raw services", self._stop_raw),
            ("berth sessions", self._down_berth_sessions),
            ("stray processes", self._kill_strays),
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
        child.send_signal(signal.SIGINT)  # lets berth roll back what it started
        try:
            child.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()

    def _stop_raw(self) -> None:
        for proc in self.raw_procs:
            stop_group(proc)
        for proc in self.raw_procs:
            reap(proc)
        self.raw_procs.clear()

    def _down_berth_sessions(self) -> None:
        if not (self.repo / ".berth" / "state.db").exists():
            return
        from berth.engine import DownRequest, Engine
        from berth.workspace import Workspace

        engine = self.engine or Engine(Workspace(self.repo))
        engine.recover()
        for session in engine.list_sessions():
            engine.down(DownRequest(slug=session.slug, force=True))

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
def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def progress(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


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
    base = pick_free_base([SLOT, API_BASE_OFFSET + SLOT])
    services = [
        Service("web", WEB_COMMAND, base + SLOT),
        Service("api", API_COMMAND, base + API_BASE_OFFSET + SLOT),
    ]
    bench = Bench(Path(tempfile.mkdtemp(prefix="berth-bench-")), services, berth_cli)
    timings: dict[str, list[Timing]] = {v: [] for v in VARIANTS}
    startup: dict[str, list[float]] = {"python -c pass": [], "python -c 'import berth.cli'": []}
    try:
        bench.setup()
        measure: dict[str, Callable[[str], Timing]] = {
            "raw": bench.raw,
            "inprocess": bench.inprocess,
            "cli": bench.cli,
        }
        total_runs = args.warmup + args.runs
        for index in range(total_runs):
            warm = index < args.warmup
            order = [VARIANTS[(index + k) % len(VARIANTS)] for k in range(len(VARIANTS))]
            results = {v: measure[v](str(index)) for v in order}
            pass_s = bench.python_startup("pass")
            import_s = bench.python_startup("import berth.cli")
            label = "warm-up" if warm else f"run {index - args.warmup + 1}/{args.runs}"
            progress(
                f"{label:>12}: "
                + "  ".join(f"{VARIANT_LABELS[v]} {ms(results[v].total)} ms" for v in VARIANTS),
                args.json,
            )
            if warm:
                bench.up_steps.clear()
                bench.down_steps.clear()
                continue
            for v in VARIANTS:
                timings[v].append(results[v])
            startup["python -c pass"].append(pass_s)
            startup["python -c 'import berth.cli'"].append(import_s)
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
    raw_total = stats["raw"]["total"].median
    ratios = {
        v: {
            "ratio": stats[v]["total"].median / raw_total,
            "overhead_s": stats[v]["total"].median - raw_total,
            "up_ratio": stats[v]["up"].median / stats["raw"]["up"].median,
            "down_ratio": stats[v]["down"].median / stats["raw"]["down"].median,
        }
        for v in ("inprocess", "cli")
    }
    return {
        "benchmark": "host-mode up+down, 2 native services",
        "machine": machine_info(REPO_ROOT),
        "runs": args.runs,
        "warmup": args.warmup,
        "ports": {s.name: s.port for s in services},
        "commands": {s.name: s.command for s in services},
        "seconds": {v: {p: s.to_dict() for p, s in ph.items()} for v, ph in stats.items()},
        "ratios_vs_raw_median_total": ratios,
        "python_startup_seconds": {k: summarize(v).to_dict() for k, v in startup.items()},
        "inprocess_steps_seconds": {
            "up": {k: s.to_dict() for k, s in step_medians(bench.up_steps).items()},
            "down": {k: s.to_dict() for k, s in step_medians(bench.down_steps).items()},
        },
        "samples_seconds": {v: [{"up": t.up, "down": t.down} for t in ts] for v, ts in timings.items()},
        "port_mismatches": bench.port_mismatches,
    }


def render(report: dict[str, Any], show_steps: bool) -> str:
    m = report["machine"]
    lines = [
        f"Berth host-mode up+down, 2 services: {report['runs']} runs (+{report['warmup']} warm-up), "
        f"interleaved, times in ms",
        f"{m['date']}; {m['cpus']} CPUs ({m['cpu_model']}); {m['platform']}; {m['python']}; git {m['git']}",
        f"berth {m['source']}; 1-min load average at the end: {m['load_1min_at_end']}",
        "",
    ]
    header = ["variant"] + [f"{p} {s}" for p in PHASES for s in ("med", "p95", "min")]
    rows = [
        [VARIANT_LABELS[v]]
        + [ms(report["seconds"][v][p][s]) for p in PHASES for s in ("median", "p95", "min")]
        for v in VARIANTS
    ]
    lines.append(render_table(header, rows))
    lines.append("")
    for v in ("inprocess", "cli"):
        r = report["ratios_vs_raw_median_total"][v]
        lines.append(
            f"{VARIANT_LABELS[v]:<17} / raw (median total): {r['ratio']:.2f}x  (+{ms(r['overhead_s'])} ms; "
            f"up {r['up_ratio']:.2f}x, down {r['down_ratio']:.2f}x)"
        )
    startup = report["python_startup_seconds"]
    lines.append(
        "python start-up (median): "
        + ", ".join(f"`{k}` {ms(v['median'])} ms" for k, v in startup.items())
        + "  (the CLI pays this twice)"
    )
    if show_steps:
        for phase in ("up", "down"):
            steps = report["inprocess_steps_seconds"][phase]
            lines.append("")
            lines.append(
                render_table(
                    [f"in-process {phase} step", "med", "p95", "min"],
                    [[n, ms(s["median"]), ms(s["p95"]), ms(s["min"])] for n, s in steps.items()],
                )
            )
    if report["port_mismatches"]:
        lines.append("")
        lines.append("warning: berth used other ports than the raw variant:")
        lines.extend(f"  {x}" for x in report["port_mismatches"])
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="measured runs (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured warm-up runs (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--steps", action="store_true", help="also print the in-process per-step times")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_berth_importable()
    # explicit, so Ctrl-C works even when started with SIGINT ignored (e.g. `&` in a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, raise_interrupt)
    try:
        report = run(args)
    except KeyboardInterrupt:
        print("interrupted; sessions, processes and the temp repo were cleaned up", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report, args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
