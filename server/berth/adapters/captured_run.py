"""Run a command to completion with its output captured and bounded: the first `limit` bytes of
stdout and of stderr are kept (the rest is read and counted, so the child never blocks on a full
pipe), and a timeout or a cancellation kills its whole process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from berth.domain.cancel import CancelToken
from berth.domain.errors import BerthError, ErrorCode

DEFAULT_OUTPUT_LIMIT = 64 * 1024
_CHUNK = 8192
_POLL_SECONDS = 0.05
_TERM_GRACE_SECONDS = 2.0
_DRAIN_SECONDS = 1.0


@dataclass(frozen=True)
class CapturedStream:
    text: str
    truncated: bool
    """More was written than was kept."""


@dataclass(frozen=True)
class CapturedRun:
    exit_code: int
    """The exit status; 128 + N when killed by signal N (the shell's convention)."""
    stdout: CapturedStream
    stderr: CapturedStream
    timed_out: bool
    cancelled: bool


class _BoundedReader(threading.Thread):
    def __init__(self, pipe: IO[bytes], limit: int) -> None:
        super().__init__(daemon=True)
        self.pipe, self.limit = pipe, limit
        self.kept = bytearray()
        self.dropped = 0

    def run(self) -> None:
        with self.pipe:
            while chunk := self.pipe.read1(_CHUNK):  # type: ignore[attr-defined]
                room = self.limit - len(self.kept)
                self.kept += chunk[: max(room, 0)]
                self.dropped += max(len(chunk) - max(room, 0), 0)

    def result(self) -> CapturedStream:
        return CapturedStream(self.kept.decode("utf-8", errors="replace"), self.dropped > 0)


def run_captured(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    cancel: CancelToken,
    limit: int = DEFAULT_OUTPUT_LIMIT,
) -> CapturedRun:
    """Run `argv` (no stdin, its own process group) until it exits, `timeout` passes or `cancel`."""
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            f"{argv[0]} could not be started: {exc.strerror or exc}",
            "check the command (and, for a docker service, the docker CLI on PATH)",
            argv=list(argv),
        ) from exc
    assert proc.stdout is not None and proc.stderr is not None
    readers = [_BoundedReader(proc.stdout, limit), _BoundedReader(proc.stderr, limit)]
    for reader in readers:
        reader.start()
    timed_out = cancelled = False
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if cancel.wait(_POLL_SECONDS):
            cancelled = True
            break
        if time.monotonic() >= deadline:
            timed_out = True
            break
    if proc.poll() is None:
        _kill_group(proc)
    code = proc.wait()
    for reader in readers:
        reader.join(_DRAIN_SECONDS)
    if any(reader.is_alive() for reader in readers):
        _kill_group(proc)  # a background child of the command still holds its output open
        for reader in readers:
            reader.join()
    return CapturedRun(
        exit_code=code if code >= 0 else 128 - code,
        stdout=readers[0].result(),
        stderr=readers[1].result(),
        timed_out=timed_out,
        cancelled=cancelled,
    )


def _kill_group(leader: subprocess.Popen[bytes]) -> None:
    """TERM the process group; KILL what is left once the leader exits or the grace period ends."""
    try:
        os.killpg(leader.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        leader.wait(_TERM_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGKILL)
