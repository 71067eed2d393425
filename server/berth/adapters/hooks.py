"""Lifecycle hooks: one shell string each, run with `sh -c` in its own process group so that a
cancellation terminates the hook and everything it started."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from berth.adapters.processes import wait_or_cancel
from berth.domain.cancel import CancelToken
from berth.domain.errors import BerthError, ErrorCode, OperationCancelled

_OUTPUT_TAIL_LINES = 20


def run_hook(
    name: str,
    command: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    cancel: CancelToken,
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Run a hook to completion. Non-zero exit: HOOK_FAILED with its last output lines."""
    cancel.check()
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise BerthError(
            ErrorCode.HOOK_FAILED,
            f"hook {name} could not start in {cwd}: {exc}",
            f"check [hooks].{name} in berth.toml",
            hook=name,
        ) from exc
    output: list[str] = []
    reader = threading.Thread(target=_pump, args=(proc, output, on_line), daemon=True)
    reader.start()
    if wait_or_cancel(proc, cancel):
        reader.join(timeout=1)
        raise OperationCancelled(f"{name} hook")
    reader.join(timeout=2)
    if proc.returncode != 0:
        tail = "\n".join(output[-_OUTPUT_TAIL_LINES:])
        raise BerthError(
            ErrorCode.HOOK_FAILED,
            f"hook {name} failed with exit code {proc.returncode}: {command}"
            + (f"\n--- last output ---\n{tail}" if tail else ""),
            f"fix the hook or [hooks].{name} in berth.toml; everything this operation created was rolled back",
            hook=name,
            exit_code=proc.returncode,
        )


def _pump(proc: subprocess.Popen[bytes], output: list[str], on_line: Callable[[str], None] | None) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", errors="replace").rstrip()
        output.append(line)
        if on_line is not None:
            on_line(line)
