"""Waiting until a native service is ready, or failing with its last log lines."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from berth.adapters import ports
from berth.adapters.process_table import HostSnapshot
from berth.adapters.processes import SpawnedProcess, tail
from berth.domain.cancel import CancelToken
from berth.domain.config import ReadyProbe
from berth.domain.envnames import port_env_name
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction

_POLL_SECONDS = 0.01
_FOREIGN_POLL_SECONDS = 0.1
"""While another process answers on the port, the service is given time to fail (or bind) between looks."""


class PortTaken(BerthError):
    """The service exited during start-up while its port is held by a process that is not the
    session's: something took the port between the lease and the bind. The bring-up may lease
    another port and restart the service (modes/host/port_race.py)."""

    def __init__(self, service: str, port: int, holder: int, exit_code: int, log_path: Path) -> None:
        super().__init__(
            ErrorCode.PORT_IN_USE,
            f"service {service!r} exited with status {exit_code} during start-up: its port {port} is held "
            f"by PID {holder}, which is not this session's; last log lines:\n{tail(log_path) or '(no output)'}",
            "stop whatever holds the port, or choose another port for the service",
            remedies=(
                Remedy(RemedyAction.CHOOSE_PORT, {"service": service}),
                Remedy(RemedyAction.SHOW_LOG, {"path": str(log_path), "service": service}),
            ),
            service=service,
            port=port,
            holder_pid=holder,
            exit_code=exit_code,
        )
        self.service, self.port, self.holder = service, port, holder


def foreign_holder(process: SpawnedProcess, port: int) -> int | None:
    """The PID of a listener on `port` that is not the service's own (its process group and their
    descendants), or None when the service holds the port or nobody visibly does. The same rule as
    `status`'s wrong-owner (modes/host/views.py)."""
    host = HostSnapshot.take()
    if port in host.ports_of(host.tree(process.identity)):
        return None
    holder = host.port_owner.get(port)
    if holder is None or holder in host.tree(process.identity):
        return None
    return holder


def _probe_once(probe: ReadyProbe, port: int, cwd: Path, env: Mapping[str, str]) -> bool:
    if probe.type == "tcp":
        return ports.accepts_tcp(port)
    if probe.type == "http":
        import urllib.error  # only services with an HTTP readiness probe need it
        import urllib.request

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
    """Poll the probe until it passes and the port's listener is the service's own; returns the
    seconds it took. A probe answered by another process (the service could not bind and will
    exit) is not readiness. PortTaken when the service exits while another process holds the port."""
    started = time.monotonic()
    deadline = started + probe.timeout
    holder: int | None = None
    while True:
        cancel.check()
        code = process.popen.poll()
        if code is not None:
            taken = foreign_holder(process, port)
            if taken is not None:
                raise PortTaken(service, port, taken, code, process.log_path)
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
            holder = foreign_holder(process, port) if probe.type != "command" else None
            if holder is None:
                return time.monotonic() - started
        if time.monotonic() >= deadline:
            held = f"; port {port} is held by PID {holder}, which is not this service" if holder else ""
            raise BerthError(
                ErrorCode.SERVICE_NOT_READY,
                f"service {service!r} was not ready on port {port} after {probe.timeout:g}s "
                f"({probe.type} probe{held}); last log lines:\n{tail(process.log_path) or '(no output)'}",
                f"make it listen on $PORT / ${{{port_env_name(service)}}} or raise ready.timeout; "
                f"full log: {process.log_path}",
                remedies=(
                    Remedy(RemedyAction.SHOW_LOG, {"path": str(process.log_path), "service": service}),
                ),
                service=service,
                **({"holder_pid": holder} if holder else {}),
            )
        cancel.wait(_FOREIGN_POLL_SECONDS if holder else _POLL_SECONDS)
