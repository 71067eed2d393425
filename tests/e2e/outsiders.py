"""Outsider processes for port-race tests: a hook line that starts tests/e2e/port_grabber.py on a
port in the background (outside the session), and reading / stopping what it started."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import psutil

import free_ports
from waiting import wait_until

GRABBER = Path(__file__).with_name("port_grabber.py")


def grab_hook(port_expr: str, pidfile: Path, *, once: Path | None = None) -> str:
    """A hook command that makes an outsider take `port_expr` (e.g. `$BERTH_WEB_PORT`) and returns
    once it holds it. The outsider has no Berth marker and its own session: nobody's service. With
    `once`, only the first run of the hook grabs (the file records that it did)."""
    start = (
        f"env -u BERTH_PROCESS_MARKER setsid {shlex.quote(sys.executable)} {shlex.quote(str(GRABBER))} "
        f'"{port_expr}" {shlex.quote(str(pidfile))} </dev/null >/dev/null 2>&1 & '
        f"while [ ! -s {shlex.quote(str(pidfile))} ]; do sleep 0.02; done"
    )
    if once is None:
        return start
    return f"if [ ! -e {shlex.quote(str(once))} ]; then touch {shlex.quote(str(once))}; {start}; fi"


def start_on_demand(folder: Path, pidfile: Path) -> psutil.Process:
    """An outsider (a child of the test, not of any session) taking every port asked of it."""

    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(GRABBER), "--on-demand", str(folder), str(pidfile)],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )

    def started() -> bool:
        assert proc.poll() is None, "the port grabber exited before it started"
        return pidfile.exists()

    wait_until(started, timeout=10, interval=0.01, what="the port grabber to start")
    return psutil.Process(proc.pid)


def start_watching(envfile: Path, var: str, pidfile: Path) -> subprocess.Popen[bytes]:
    """An outsider that takes the port `var` names in `envfile` as soon as the file appears."""
    return subprocess.Popen(
        [sys.executable, str(GRABBER), "--watch", str(envfile), var, str(pidfile)],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def ask_for_port(folder: Path, port_expr: str) -> str:
    """Shell lines a service runs before binding: have the on-demand outsider take `port_expr` first."""
    d = shlex.quote(str(folder))
    return f'touch {d}/want-"{port_expr}"; while [ ! -e {d}/held-"{port_expr}" ]; do sleep 0.01; done'


def outsider(pidfile: Path) -> psutil.Process:
    return psutil.Process(int(pidfile.read_text()))


def listens_on(proc: psutil.Process, port: int) -> bool:
    return any(
        c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in proc.net_connections()
    )


def stop(pidfile: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


PORTS = range(44000, 44930, 100)
"""The port race and down plan tests' range: each takes a block of `width` ports at one of these."""


def free_block(width: int) -> int:
    """A base in PORTS whose `width` ports are free (the ports of connections a test of this range
    just closed, in TIME_WAIT, count as free: Berth's probe sees them so too)."""
    return free_ports.free_block(PORTS, width, time_wait_is_free=True)
