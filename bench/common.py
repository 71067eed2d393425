"""Helpers shared by the benchmarks: statistics, free-port probing, git, machine facts, tables, process
groups and signals, and the interleaved Berth-against-raw comparison that bench_host.py and
bench_container.py both run.

Standard library only, so it imports before the benchmark decides which interpreter to use (Berth's
own modules are imported inside the functions that need them, after the re-exec)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import itertools
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from berth.lifecycle.engine import Engine
    from berth.state.rollback import UndoState, UndoStep

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
REEXEC_GUARD = "BERTH_BENCH_REEXECED"


@dataclass(frozen=True)
class Summary:
    """Median, 95th percentile and minimum of a list of durations, in seconds."""

    n: int
    median: float
    p95: float
    min: float

    def to_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "median": self.median, "p95": self.p95, "min": self.min}


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples: Sequence[float]) -> Summary:
    if not samples:
        return Summary(0, math.nan, math.nan, math.nan)
    return Summary(len(samples), statistics.median(samples), percentile(samples, 95), min(samples))


def step_medians(samples: Sequence[dict[str, float]]) -> dict[str, Summary]:
    """Per step name, the summary over samples (a sample without that step counts as 0)."""
    names: list[str] = []
    for sample in samples:
        names.extend(n for n in sample if n not in names)
    return {n: summarize([s.get(n, 0.0) for s in samples]) for n in names}


def time_command(argv: Sequence[str], *, cwd: Path | None = None, stdin: int | None = None) -> float:
    """Seconds a command takes to run to completion (it must succeed)."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, cwd=cwd, stdin=stdin)
    return time.perf_counter() - started


# -- ports ------------------------------------------------------------------------------------------
def port_is_free(port: int) -> bool:
    """Nothing listens on `port` (IPv4 any-address bind succeeds; TIME_WAIT leftovers are ignored)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def pick_free_base(offsets: Sequence[int], low: int = 20000, high: int = 50000, tries: int = 200) -> int:
    """A random base in [low, high) such that every base + offset is free right now."""
    rng = random.Random()
    for _ in range(tries):
        base = rng.randrange(low, high)
        if all(port_is_free(base + off) for off in offsets):
            return base
    raise RuntimeError(f"no free port base found in {low}-{high} after {tries} tries")


def accepts_tcp(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# -- git --------------------------------------------------------------------------------------------
def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run git in `repo`; raise with git's stderr on failure."""
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def init_repo(repo: Path, files: Mapping[str, str]) -> None:
    """A fresh repository with one commit holding `files`, whatever the user's git identity."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    identity = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    git(repo, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "bench fixture", env=identity)


# -- machine facts ----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def source_revision(repo: Path, paths: Sequence[str] = ("server",)) -> str:
    """Short HEAD of the checkout being measured, with `+dirty` when `paths` have uncommitted changes."""
    try:
        head = git(repo, "rev-parse", "--short", "HEAD").strip()
        dirty = git(repo, "status", "--porcelain", "--", *paths).strip()
    except (RuntimeError, OSError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def machine_basics() -> dict[str, str | int | None]:
    """Date, CPUs and platform: the facts every benchmark reports first."""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def machine_info(source: Path | None = None) -> dict[str, str | int | float | None]:
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        **machine_basics(),
        "git": git_version.removeprefix("git version ").strip(),
        "executable": sys.executable,
        "load_1min_at_end": None if load is None else round(load, 2),
        "source": None if source is None else source_revision(source),
    }


# -- interpreter, processes, signals ----------------------------------------------------------------
def ensure_importable(script: str, modules: Sequence[str]) -> None:
    """Re-run `script` under the project's venv when this interpreter cannot import `modules`; then
    compile Berth's modules to bytecode (see compile_berth)."""
    if not all(importlib.util.find_spec(name) for name in modules):
        if VENV_PYTHON.exists() and not os.environ.get(REEXEC_GUARD):
            os.environ[REEXEC_GUARD] = "1"
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(script).resolve()), *sys.argv[1:]])
        raise SystemExit(f"berth is not importable from {sys.executable}; run with {VENV_PYTHON}")
    compile_berth()


def compile_berth() -> None:
    """Berth's modules as bytecode before measuring, as an installed package has them (with
    PYTHONDONTWRITEBYTECODE set, an editable install would compile every module on every run)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", str(REPO_ROOT / "server" / "berth")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def find_berth_cli() -> Path:
    """The `berth` command next to the interpreter, else the one on PATH."""
    berth_cli = Path(sys.executable).with_name("berth")
    if not berth_cli.exists():
        found = shutil.which("berth")
        if found is None:
            raise SystemExit("cannot find the `berth` command next to the interpreter or on PATH")
        berth_cli = Path(found)
    return berth_cli


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def reap(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Wait up to `grace` seconds for `proc`, then SIGKILL its process group and wait again."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        stop_group(proc, signal.SIGKILL)
        proc.wait(timeout=grace)


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def interrupt_on(*signals: signal.Signals) -> None:
    """Ctrl-C and each of `signals` raise KeyboardInterrupt, so the benchmark unwinds through its
    cleanup. SIGINT is set explicitly, so Ctrl-C works even when started with SIGINT ignored (e.g. `&`
    in a script)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in signals:
        signal.signal(sig, raise_interrupt)


def ignore_interrupts() -> None:
    """From here on (the cleanup), a second Ctrl-C or SIGTERM is ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def report_or_interrupted(
    run: Callable[[], dict[str, Any]],
    render: Callable[[dict[str, Any]], str],
    as_json: bool,
    interrupted: str = "interrupted; cleaned up",
) -> int:
    """Run the benchmark and print its report as JSON or as text; 130 after an interrupt."""
    try:
        report = run()
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    print(json.dumps(report, indent=2) if as_json else render(report))
    return 0


def progress(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


# -- output -----------------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain monospace table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        out = [str(cells[0]).ljust(widths[0])]
        out.extend(str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


# -- Berth against the raw sequence it wraps: bench_host.py and bench_container.py -----------------
VARIANTS = ("raw", "inprocess", "cli")
Phase = Literal["up", "down", "total"]
PHASES: tuple[Phase, ...] = ("up", "down", "total")


@dataclass
class Timing:
    up: float
    down: float

    @property
    def total(self) -> float:
        return self.up + self.down


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


CleanupSteps = list[tuple[str, Callable[[], None]]]


class ComparisonBench:
    """One temp repository measured three ways per run: `raw` (the subclass's), Berth in-process (one
    Engine for the whole run) and the Berth CLI (`berth up/down --json` as subprocesses)."""

    cli_timeout = 120.0  # seconds for one `berth up`/`berth down`
    cli_interrupt_grace = 15.0  # seconds a CLI child gets to roll back after SIGINT

    def __init__(self, tmp: Path, berth_cli: Path) -> None:
        self.tmp = tmp
        self.berth_cli = berth_cli
        self.repo = tmp / "repo"
        self.engine: Engine | None = None
        self.cli_child: subprocess.Popen[str] | None = None
        self.up_steps: list[dict[str, float]] = []
        self.down_steps: list[dict[str, float]] = []

    # to provide ------------------------------------------------------------------------------------
    def fixture_files(self) -> dict[str, str]:
        """The files of the temp repository's one commit, berth.toml among them."""
        raise NotImplementedError

    def raw(self, run: str) -> Timing:
        raise NotImplementedError

    def cleanup_steps(self) -> CleanupSteps:
        """What cleanup() stops, in order, before it deletes the temp dir."""
        raise NotImplementedError

    def check_ports(self, what: str, got: Mapping[str, int]) -> None:
        """Called with the ports of every Berth session (in-process and CLI); nothing to check here."""

    # setup and the Berth variants ------------------------------------------------------------------
    def setup(self) -> None:
        init_repo(self.repo, self.fixture_files())
        from berth.lifecycle.engine import Engine
        from berth.lifecycle.workspace import Workspace

        self.engine = Engine(Workspace(self.repo))

    def inprocess(self, run: str) -> Timing:
        from berth.lifecycle.engine import DownRequest, UpRequest

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
            out, err = child.communicate(timeout=self.cli_timeout)
        finally:
            self.cli_child = None if child.returncode is not None else child
        if child.returncode != 0:
            raise RuntimeError(f"berth {' '.join(args)} failed ({child.returncode}):\n{out}{err}")
        return out

    # the runs --------------------------------------------------------------------------------------
    def interleave(
        self,
        runs: int,
        warmup: int,
        labels: Mapping[str, str],
        quiet: bool,
        after_run: Callable[[bool], None] | None = None,
    ) -> dict[str, list[Timing]]:
        """Set up, then `warmup` + `runs` runs of the three variants back to back in an order that
        rotates each run, so they share the machine's noise; clean up however it ends. `after_run(warm)`
        runs after each run's variants, before its progress line."""
        timings: dict[str, list[Timing]] = {v: [] for v in VARIANTS}
        try:
            self.setup()
            measure: dict[str, Callable[[str], Timing]] = {
                "raw": self.raw,
                "inprocess": self.inprocess,
                "cli": self.cli,
            }
            for index in range(warmup + runs):
                warm = index < warmup
                order = [VARIANTS[(index + k) % len(VARIANTS)] for k in range(len(VARIANTS))]
                results = {v: measure[v](str(index)) for v in order}
                if after_run is not None:
                    after_run(warm)
                label = "warm-up" if warm else f"run {index - warmup + 1}/{runs}"
                progress(
                    f"{label:>12}: " + "  ".join(f"{labels[v]} {ms(results[v].total)} ms" for v in VARIANTS),
                    quiet,
                )
                if warm:
                    self.up_steps.clear()
                    self.down_steps.clear()
                    continue
                for v in VARIANTS:
                    timings[v].append(results[v])
        finally:
            ignore_interrupts()
            self.cleanup()
        return timings

    # cleanup ---------------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Stop whatever is still running, then delete the temp dir (worktrees and logs live in it)."""
        for what, step in self.cleanup_steps():
            try:
                step()
            except Exception as exc:
                print(f"cleanup: {what}: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stop_cli_child(self) -> None:
        child = self.cli_child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGINT)  # lets berth roll back what it started
        try:
            child.communicate(timeout=self.cli_interrupt_grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()

    def down_berth_sessions(self) -> None:
        if not (self.repo / ".berth" / "state.db").exists():
            return
        from berth.lifecycle.engine import DownRequest, Engine
        from berth.lifecycle.workspace import Workspace

        engine = self.engine or Engine(Workspace(self.repo))
        engine.recover()
        for session in engine.list_sessions():
            engine.down(DownRequest(slug=session.slug, force=True))


def comparison_args(
    doc: str | None,
    argv: Sequence[str] | None,
    default_runs: int,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """--runs, --warmup, then the script's `extra` options, then --json and --steps."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs", type=int, default=default_runs, help=f"measured runs (default {default_runs})"
    )
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured warm-up runs (default 1)")
    if extra is not None:
        extra(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--steps", action="store_true", help="also print the in-process per-step times")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")
    return args


def comparison_figures(
    timings: Mapping[str, Sequence[Timing]],
    bench: ComparisonBench,
    after_ratios: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report's figures: summaries per variant and phase, ratios of Berth to raw, [`after_ratios`],
    the in-process per-step summaries and every sample (seconds throughout)."""
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
    return {
        "seconds": {v: {p: s.to_dict() for p, s in ph.items()} for v, ph in stats.items()},
        "ratios_vs_raw_median_total": ratios,
        **(after_ratios or {}),
        "inprocess_steps_seconds": {
            "up": {k: s.to_dict() for k, s in step_medians(bench.up_steps).items()},
            "down": {k: s.to_dict() for k, s in step_medians(bench.down_steps).items()},
        },
        "samples_seconds": {v: [{"up": t.up, "down": t.down} for t in ts] for v, ts in timings.items()},
    }


def machine_lines(m: Mapping[str, Any], tools: str) -> list[str]:
    """The two lines under a comparison's title: machine facts (ending with `tools`) and the source."""
    return [
        f"{m['date']}; {m['cpus']} CPUs ({m['cpu_model']}); {m['platform']}; {m['python']}; {tools}",
        f"berth {m['source']}; 1-min load average at the end: {m['load_1min_at_end']}",
    ]


def comparison_lines(report: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """The variants table, a blank line, then Berth's ratios to raw."""
    header = ["variant"] + [f"{p} {s}" for p in PHASES for s in ("med", "p95", "min")]
    rows = [
        [labels[v]] + [ms(report["seconds"][v][p][s]) for p in PHASES for s in ("median", "p95", "min")]
        for v in VARIANTS
    ]
    lines = [render_table(header, rows), ""]
    for v in ("inprocess", "cli"):
        r = report["ratios_vs_raw_median_total"][v]
        lines.append(
            f"{labels[v]:<17} / raw (median total): {r['ratio']:.2f}x  (+{ms(r['overhead_s'])} ms; "
            f"up {r['up_ratio']:.2f}x, down {r['down_ratio']:.2f}x)"
        )
    return lines


def step_lines(report: Mapping[str, Any]) -> list[str]:
    """A blank line and a table of the in-process steps, for `up` then for `down`."""
    lines: list[str] = []
    for phase in ("up", "down"):
        steps = report["inprocess_steps_seconds"][phase]
        lines += [
            "",
            render_table(
                [f"in-process {phase} step", "med", "p95", "min"],
                [[n, ms(s["median"]), ms(s["p95"]), ms(s["min"])] for n, s in steps.items()],
            ),
        ]
    return lines
