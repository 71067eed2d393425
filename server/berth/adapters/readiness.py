"""Waiting until a native service is ready, or failing with its last log lines."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from berth.adapters import ports
from berth.adapters.processes import SpawnedProcess, tail
from berth.domain.cancel import CancelToken
from berth.domain.config import ReadyProbe
from berth.domain.envnames import port_env_name
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction

_POLL_SECONDS = 0.01


def _probe_once(probe: ReadyProbe, port: int, cwd: Path, env: Mapping[str, str]) -> bool:
    if probe.type == "tcp":
        return ports.accepts_tcp(port)
    if probe.type == "http":
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe.path}", timeout=1) as resp:
                return int(resp.status) < 500
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except (urllib.error.URLError, OSError):
            return False
    assert probe.command is not None
    result = subprocess.run(
        ["/bin/sh", "-c", probe.command],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        timeout=probe.timeout,
        check=False,
    )
    return result.returncode == 0


def wait_ready(
    service: str,
    process: SpawnedProcess,
    port: int,
    probe: ReadyProbe,
    *,
    cwd: Path,
    env: Mapping[str, str],
    cancel: CancelToken,
) -> float:
    """Poll the probe until it passes; returns the seconds it took."""
    started = time.monotonic()
    deadline = started + probe.timeout
    while True:
        cancel.check()
        code = process.popen.poll()
        if code is not None:
            raise BerthError(
                ErrorCode.SPAWN_FAILED,
                f"service {service!r} exited with status {code} during start-up; last log lines:\n"
                f"{tail(process.log_path) or '(no output)'}",
                f"fix its command in berth.toml; full log: {process.log_path}",
                remedies=(
                    Remedy(RemedyAction.SHOW_LOG, {"path": str(process.log_path), "service": service}),
                ),
                service=service,
                exit_code=code,
            )
        if _probe_once(probe, port, cwd, env):
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            raise BerthError(
                ErrorCode.SERVICE_NOT_READY,
                f"service {service!r} was not ready on port {port} after {probe.timeout:g}s "
                f"({probe.type} probe); last log lines:\n{tail(process.log_path) or '(no output)'}",
                f"make it listen on $PORT / ${{{port_env_name(service)}}} or raise ready.timeout; "
                f"full log: {process.log_path}",
                remedies=(
                    Remedy(RemedyAction.SHOW_LOG, {"path": str(process.log_path), "service": service}),
                ),
                service=service,
            )
        cancel.wait(_POLL_SECONDS)
