"""Shared by the doctor/prune tests: their port range (43000-43999), leftovers made the way crashes
make them, and reading `berth doctor --json`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

import free_ports
from berth.domain.envnames import MARKER_ENV, process_marker
from conftest import BERTH
from waiting import wait_until

PORTS = range(43000, 43900, 100)
"""Each test takes a block of 100 ports here (host_toml: web at base+1.., api at base+51..)."""


def free_block(width: int = 100) -> int:
    return free_ports.free_block(PORTS, width)


def berth(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BERTH, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def doctor(repo: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    done = berth("doctor", "--json", cwd=repo, env=env)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


def start_marked_process(root: Path, slug: str, cwd: Path) -> psutil.Process:
    """A process as a service of `root` carries it, started by hand (as if its state were lost)."""
    env = {
        **os.environ,
        MARKER_ENV: process_marker(root, "up-0123456789ab", "service/web"),
        "BERTH_SLUG": slug,
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return psutil.Process(proc.pid)


def kill_9_mid_up(repo: Path, branch: str, flag: Path) -> None:
    """`berth up` killed with SIGKILL once its pre_spawn hook has created `flag`."""
    up = subprocess.Popen(
        [*BERTH, "up", branch], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    def reached() -> bool:
        assert up.poll() is None, f"berth up ended early: {up.stderr.read() if up.stderr else ''}"
        return flag.exists()

    wait_until(reached, timeout=60, what=f"{flag} to appear")
    os.kill(up.pid, signal.SIGKILL)
    up.wait()


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def reap(proc: psutil.Process) -> None:
    """Stop a process the test started, if it still runs."""
    try:
        proc.kill()
        proc.wait(5)
    except psutil.NoSuchProcess:
        pass
