"""Every row of issue 12's speed table in one run: Berth's figure, its target, and the raw
counterpart measured in the same run (interleaved A B A B ...), with medians and min-max.

Rows and where they come from:
- CLI start-up (`berth --version`, `berth ls --json` and `berth status --json` with 10 live sessions,
  against `python -c pass`): measured here, in rounds whose order rotates.
- host `up`+`down` via the CLI and via a warm engine (the server's code path, in-process) against the
  raw sequence: bench_host.py --json.
- container `up`+`down`, the same against raw `docker compose up -d --wait` + `down`:
  bench_container.py --json (skipped with --no-docker).
- `berth/status` and `berth/list` p50 with 100 sessions, spawn → `initialize` answered against
  `python -c "import pygls.lsp.server"`: bench_rpc.py --json --sessions 100.
- 8 concurrent host `up`+`down` through the CLI against the same 8 raw sequences run concurrently:
  measured here (bench_host.py's raw sequence, 8 threads).
- the server's idle RSS after initialize, one list and one status, and its warm-up: measured here.

Usage: python bench/bench_all.py [--quick] [--no-docker] [--json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import (
    REPO_ROOT,
    ensure_importable,
    interrupt_on,
    machine_info,
    pick_free_base,
    progress,
    render_table,
)

BENCH = Path(__file__).resolve().parent
VENV_BERTH = REPO_ROOT / ".venv" / "bin" / "berth"


def stats(samples: Sequence[float]) -> dict[str, float]:
    """Median, min and max in ms."""
    return {
        "median": statistics.median(samples) * 1000,
        "min": min(samples) * 1000,
        "max": max(samples) * 1000,
        "n": len(samples),
    }


def timed(argv: Sequence[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=False, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


# -- CLI start-up -----------------------------------------------------------------------------------
def cli_startup(rounds: int, quiet: bool) -> dict[str, dict[str, float]]:
    import bench_rpc

    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-all-"))
    farm = bench_rpc.ListenerFarm(10)
    try:
        repo = (tmp / "repo").resolve()
        bench_rpc.make_repo(repo, farm.listeners)
        progress(f"... CLI start-up: {rounds} rounds with 10 live sessions", quiet)
        berth = str(VENV_BERTH)
        commands: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "berth --version": [berth, "--version"],
            "berth ls --json": [berth, "ls", "--json"],
            "berth status --json": [berth, "status", "--json"],
        }
        check = json.loads(
            subprocess.run(commands["berth status --json"], cwd=repo, capture_output=True).stdout
        )
        states = {s["state"] for x in check["sessions"] for s in x["services"]}
        if len(check["sessions"]) != 10 or states != {"running"}:
            raise RuntimeError(f"status fixture: {len(check['sessions'])} sessions, states {states}")
        samples: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for index in range(rounds + 1):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed = timed(commands[name], repo)
                if index:
                    samples[name].append(elapsed)
        return {name: stats(s) for name, s in samples.items()}
    finally:
        farm.close()
        shutil.rmtree(tmp, ignore_errors=True)


# -- server RSS -------------------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def server_rss(rounds: int, quiet: bool) -> dict[str, Any]:
    import bench_rpc

    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-rss-"))
    farm = bench_rpc.ListenerFarm(10)
    after_init: list[float] = []
    idle: list[float] = []
    try:
        repo = (tmp / "repo").resolve()
        bench_rpc.make_repo(repo, farm.listeners)
        progress(f"... server RSS: {rounds} servers", quiet)
        for _ in range(rounds):
            server = bench_rpc.Server(repo, tmp / "serve.log")
            try:
                server.initialize()
                after_init.append(rss_mb(server.proc.pid))
                server.conn.request("berth/list", {})
                server.conn.request("berth/status", {})
                time.sleep(1.0)  # idle: the warm-up after initialize has finished by now
                idle.append(rss_mb(server.proc.pid))
            finally:
                server.shutdown()
    finally:
        farm.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "after_initialize_mb": statistics.median(after_init),
        "idle_mb": {"median": statistics.median(idle), "min": min(idle), "max": max(idle), "n": len(idle)},
    }


# -- 8 concurrent up+down ---------------------------------------------------------------------------
def concurrent_updown(rounds: int, quiet: bool, width: int = 8) -> dict[str, dict[str, float]]:
    """`width` CLI up+down sequences at once against `width` raw sequences at once (bench_host.py's
    raw sequence: worktree add, spawn, wait for the port, stop, worktree remove), alternating."""
    import bench_host
    from common import git, init_repo

    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-conc-"))
    base = pick_free_base(list(range(1, 2 * width + 2)))
    repo = tmp / "repo"
    toml = (
        f'mode = "host"\nmax_slots = {width}\n[[services]]\nname = "web"\nbase_port = {base}\n'
        f'command = "exec python3 -m http.server $PORT --bind 127.0.0.1"\n'
    )
    init_repo(repo, {"berth.toml": toml, ".gitignore": ".berth/\n"})
    berth = str(VENV_BERTH)
    raw_procs: list[subprocess.Popen[bytes]] = []
    # git 2.39 fails a `worktree add` that runs while another one creates its entry ("failed to read
    # .git/worktrees/<x>/commondir"): the raw side serialises its worktree commands as Berth does
    git_lock = threading.Lock()

    def raw_one(run: str, k: int) -> None:
        port = base + width + 1 + k  # not the ports berth's slots use
        branch = f"raw-{run}-{k}"
        path = repo / ".berth" / "raw" / branch
        env = {**os.environ, "PORT": str(port)}
        with git_lock:
            git(repo, "worktree", "add", "-b", branch, str(path))
        log = tmp / "logs" / f"{branch}.log"
        proc = bench_host.spawn_like_berth(bench_host.WEB_COMMAND, cwd=path, env=env, log_path=log)
        raw_procs.append(proc)
        bench_host.wait_for_port(proc, port, log)
        bench_host.stop_group(proc)
        bench_host.reap(proc, bench_host.KILL_GRACE)
        raw_procs.remove(proc)
        with git_lock:
            git(repo, "worktree", "remove", "--force", str(path))

    def cli_one(run: str, k: int) -> None:
        up = subprocess.run(
            [berth, "up", f"cli-{run}-{k}", "--json"], cwd=repo, capture_output=True, text=True
        )
        if up.returncode != 0:
            raise RuntimeError(f"berth up failed: {up.stdout}{up.stderr}")
        slug = json.loads(up.stdout)["slug"]
        down = subprocess.run([berth, "down", slug, "--json"], cwd=repo, capture_output=True, text=True)
        if down.returncode != 0:
            raise RuntimeError(f"berth down failed: {down.stdout}{down.stderr}")

    def batch(fn: Callable[[str, int], None], run: str) -> float:
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(width) as pool:
            for f in [pool.submit(fn, run, k) for k in range(width)]:
                f.result()
        return time.perf_counter() - started

    samples: dict[str, list[float]] = {"raw": [], "cli": []}
    try:
        progress(f"... {width} concurrent up+down: {rounds} rounds", quiet)
        for index in range(rounds + 1):
            order = [("raw", raw_one), ("cli", cli_one)]
            if index % 2:
                order.reverse()
            for name, fn in order:
                elapsed = batch(fn, f"{index}")
                if index:
                    samples[name].append(elapsed)
    finally:
        for proc in raw_procs:
            bench_host.stop_group(proc, signal.SIGKILL)
        subprocess.run([berth, "recover", "--json"], cwd=repo, capture_output=True)
        listed = subprocess.run([berth, "ls", "--json"], cwd=repo, capture_output=True, text=True)
        for session in json.loads(listed.stdout or '{"sessions": []}').get("sessions", []):
            subprocess.run(
                [berth, "down", session["slug"], "--force", "--json"], cwd=repo, capture_output=True
            )
        shutil.rmtree(tmp, ignore_errors=True)
    return {name: stats(s) for name, s in samples.items()}


# -- the sub-benchmarks -----------------------------------------------------------------------------
def sub_bench(script: str, args: Sequence[str], quiet: bool) -> dict[str, Any]:
    progress(f"... {script} {' '.join(args)}", quiet)
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
        text=True,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def comparison_rows(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Median/min/max of up+down totals per variant, from a bench_host/bench_container report."""
    return {
        variant: stats([s["up"] + s["down"] for s in samples])
        for variant, samples in report["samples_seconds"].items()
    }


# -- the table --------------------------------------------------------------------------------------
def fmt_range(s: dict[str, float], digits: int = 0) -> str:
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def build_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(  # noqa: PLR0917
        figure: str, target: str, berth: str, raw: str, value: float, limit: float, unit: str = ""
    ) -> None:
        rows.append(
            {
                "figure": figure,
                "target": target,
                "berth": berth,
                "raw": raw,
                "value": round(value, 3),
                "unit": unit,
                "met": value <= limit,
            }
        )

    cli = r["cli_startup"]
    bare = cli["python -c pass"]
    for name, limit in (("berth --version", 30), ("berth ls --json", 50), ("berth status --json", 80)):
        label = f"`{name}`" + (", 10 live sessions" if name != "berth --version" else "")
        add(
            label,
            f"<= {limit} ms",
            fmt_range(cli[name]) + " ms",
            "python -c pass " + fmt_range(bare) + " ms",
            cli[name]["median"],
            limit,
            "ms",
        )
    # up+down through Berth vs the raw tools, per mode: (report key, what raw means, limits per variant)
    for mode, raw_tools, limits in (
        ("host", "raw", {"cli": 2.0, "inprocess": 1.15}),
        ("container", "raw compose", {"cli": 1.3, "inprocess": 1.05}),
    ):
        figures = r.get(mode)
        if not figures:
            continue
        raw = figures["raw"]
        for variant, label in (("cli", "CLI"), ("inprocess", "warm engine")):
            add(
                f"{mode} up+down via the {label} vs {raw_tools}",
                f"<= {limits[variant]}x",
                fmt_range(figures[variant]) + " ms",
                fmt_range(raw) + " ms",
                figures[variant]["median"] / raw["median"],
                limits[variant],
                "x",
            )
    rpc = r.get("rpc")
    if rpc:
        trips = rpc["round_trips"]["100"]
        for method, limit in (("berth/status", 10), ("berth/list", 3)):
            t = trips[method]
            add(
                f"`{method}` p50, 100 live sessions",
                f"<= {limit} ms",
                f"{t['p50_ms']:.2f} ({t['min_ms']:.2f}-{t['max_ms']:.2f}) ms, {t['response_bytes']} B",
                "-",
                t["p50_ms"],
                limit,
                "ms",
            )
    conc = r.get("concurrent")
    if conc:
        add(
            "8 concurrent up+down (CLI) vs 8 raw concurrently",
            "<= 1.2x",
            fmt_range(conc["cli"]) + " ms",
            fmt_range(conc["raw"]) + " ms",
            conc["cli"]["median"] / conc["raw"]["median"],
            1.2,
            "x",
        )
    if rpc:
        s = rpc["startup"]["100"]
        serve = s["berth serve → initialize answer"]
        pygls = s['python -c "import pygls.lsp.server"']
        add(
            "spawn -> initialize answered vs import pygls.lsp.server",
            "<= 1.1x",
            f"{serve['p50_ms']:.0f} ({serve['min_ms']:.0f}-{serve['max_ms']:.0f}) ms",
            f"{pygls['p50_ms']:.0f} ({pygls['min_ms']:.0f}-{pygls['max_ms']:.0f}) ms",
            serve["p50_ms"] / pygls["p50_ms"],
            1.1,
            "x",
        )
    rss = r.get("rss")
    if rss:
        idle = rss["idle_mb"]
        add(
            "server idle RSS (after initialize, list, status)",
            "<= 60 MB",
            f"{idle['median']:.1f} ({idle['min']:.1f}-{idle['max']:.1f}) MB",
            f"after initialize only {rss['after_initialize_mb']:.1f} MB",
            idle["median"],
            60,
            "MB",
        )
    return rows


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"Berth speed table (issue 12), {m['date']}; {m['cpus']} CPUs ({m['cpu_model']}); {m['python']}",
        f"berth {m['source']}; 1-min load average at the end: {m['load_1min_at_end']}",
        "medians, (min-max) in parentheses; ratios are of medians measured in the same run",
        "",
    ]
    table = [
        [
            r["figure"],
            r["target"],
            r["berth"],
            r["raw"],
            f"{r['value']:.2f}{r['unit']}" if r["unit"] == "x" else f"{r['value']:.1f} {r['unit']}",
            "yes" if r["met"] else "NO",
        ]
        for r in report["rows"]
    ]
    lines.append(render_table(["figure", "target", "berth", "raw counterpart", "figure", "met"], table))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds everywhere (a few minutes)")
    parser.add_argument("--no-docker", action="store_true", help="skip the container rows")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    ensure_importable(__file__, ("berth", "psutil"))
    interrupt_on(signal.SIGTERM, signal.SIGHUP)
    quick = args.quick
    report: dict[str, Any] = {}
    report["cli_startup"] = cli_startup(10 if quick else 30, args.quiet)
    host = sub_bench("bench_host.py", ["--runs", "5" if quick else "10"], args.quiet)
    report["host"] = comparison_rows(host)
    if not args.no_docker:
        container = sub_bench("bench_container.py", ["--runs", "3" if quick else "5"], args.quiet)
        report["container"] = comparison_rows(container)
    report["rpc"] = sub_bench(
        "bench_rpc.py",
        ["--sessions", "100", "--requests", "50" if quick else "200", "--spawns", "5" if quick else "10"],
        args.quiet,
    )
    report["concurrent"] = concurrent_updown(2 if quick else 5, args.quiet)
    report["rss"] = server_rss(2 if quick else 5, args.quiet)
    report["machine"] = machine_info(REPO_ROOT)
    report["rows"] = build_rows(report)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
