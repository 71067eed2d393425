"""Native service processes: each in its own process group, identified by pid + start time and by a
marker in its environment, so a crashed bring-up's children can still be found and a recycled pid is
never signalled."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from berth.adapters import process_table
from berth.domain.cancel import CancelToken
from berth.domain.envnames import MARKER_ENV
from berth.domain.records import ProcessIdentity

if TYPE_CHECKING:  # psutil is imported only to tear down (a marker scan): `up` reads /proc itself
    import psutil

DEFAULT_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.02


def identity_of(pid: int) -> ProcessIdentity | None:
    """The process's pid + start time (from /proc, as psutil computes it), or None when it is gone."""
    return process_table.identity_of(pid)


def is_alive(identity: ProcessIdentity) -> bool:
    return process_table.is_alive(identity)


class OsProcesses:
    """This machine's process table, as the state store needs it (who owns an operation)."""

    def current(self) -> ProcessIdentity:
        me = identity_of(os.getpid())
        if me is None:
            raise RuntimeError("cannot read this process's own /proc entry")
        return me

    def is_alive(self, identity: ProcessIdentity) -> bool:
        return is_alive(identity)


@dataclass
class SpawnedProcess:
    identity: ProcessIdentity
    popen: subprocess.Popen[bytes]
    log_path: Path


def spawn(command: str, *, cwd: Path, env: Mapping[str, str], log_path: Path, marker: str) -> SpawnedProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env={**env, MARKER_ENV: marker},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # None: it exited before we could read its start time (a zombie still has its /proc entry)
    identity = identity_of(popen.pid) or ProcessIdentity(popen.pid, 0.0)
    return SpawnedProcess(identity, popen, log_path)


def kill_popen_group(proc: subprocess.Popen[bytes], grace: float = DEFAULT_GRACE_SECONDS) -> None:
    """SIGTERM the process group a child leads (it was started with start_new_session), SIGKILL after `grace`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_or_cancel(proc: subprocess.Popen[bytes], cancel: CancelToken, poll: float = 0.05) -> bool:
    """Wait for the child; if `cancel` fires first, kill its whole group and return True."""
    while True:
        try:
            proc.wait(timeout=poll)
            return False
        except subprocess.TimeoutExpired:
            if cancel.cancelled:
                kill_popen_group(proc)
                return True


def session_processes(leaders: Iterable[ProcessIdentity], markers: Iterable[str]) -> list[psutil.Process]:
    """Every live process of the given groups or carrying one of the markers, in one pass over the
    process table (a forked child that left its group still carries its marker)."""
    import psutil

    by_pgid = {leader.pid: leader for leader in leaders}
    wanted = set(markers)
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            leader = by_pgid.get(os.getpgid(proc.pid))
            in_group = leader is not None and leader.started_no_earlier_than_me(proc.info["create_time"])
            if not in_group and (not wanted or proc.environ().get(MARKER_ENV) not in wanted):
                continue
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError, PermissionError, OSError):
            continue
    return found


def _gone(proc: psutil.Process) -> bool:
    """Exited, or a zombie: an orphan's zombie may wait long for init to reap it."""
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    alive = procs
    while alive:
        for proc in alive:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)  # reap our own children
        alive = [p for p in alive if not _gone(p)]
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(_POLL_SECONDS)
    return alive


def terminate(processes: Iterable[psutil.Process], grace: float = DEFAULT_GRACE_SECONDS) -> int:
    """SIGTERM, then SIGKILL whatever is still alive after `grace` seconds. Returns how many were signalled."""
    import psutil

    procs = list(processes)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
    alive = _wait_gone(procs, grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    _wait_gone(alive, grace)
    return len(procs)


def stop(
    leaders: Iterable[ProcessIdentity], markers: Iterable[str], grace: float = DEFAULT_GRACE_SECONDS
) -> int:
    """Terminate the groups led by `leaders` and every process carrying one of `markers`."""
    return terminate(session_processes(leaders, markers), grace)


def tail(path: Path, lines: int = 10) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
