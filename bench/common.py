"""Helpers shared by the benchmarks: statistics, free-port probing, git, machine facts, tables.

Standard library only, so it imports before the benchmark decides which interpreter to use."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


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


def machine_info(source: Path | None = None) -> dict[str, str | int | float | None]:
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "git": git_version.removeprefix("git version ").strip(),
        "executable": sys.executable,
        "load_1min_at_end": None if load is None else round(load, 2),
        "source": None if source is None else source_revision(source),
    }


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
