"""Teardown step for native services: every process of their groups, and every process carrying
one of their markers, stopped in one pass."""

from __future__ import annotations

from berth.adapters import processes
from berth.domain.models import ResourceRef
from berth.modes.context import TearDown


def stop_native_processes(td: TearDown) -> None:
    records = td.session.processes
    victims = processes.session_processes(
        [p.identity for p in records.values()], [p.marker for p in records.values()]
    )
    processes.terminate(victims)
    victim_pids = {v.pid for v in victims}
    for name, proc in records.items():
        if proc.pid in victim_pids:
            td.removed.append(ResourceRef(kind="process", name=f"{name} (pid {proc.pid})"))
    td.services_stopped = True
