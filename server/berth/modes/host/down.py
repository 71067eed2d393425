"""Teardown step for native services: every process of their groups, and every process carrying
one of their markers, stopped in one pass."""

from __future__ import annotations

from berth.adapters import processes
from berth.domain.models import ResourceRef
from berth.modes.context import DownPreview, TearDown


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


def plan_native_processes(p: DownPreview) -> None:
    """What `stop_native_processes` would stop (read from the process table, nothing signalled)."""
    records = p.session.processes
    victims = processes.session_processes(
        [r.identity for r in records.values()], [r.marker for r in records.values()]
    )
    victim_pids = {v.pid for v in victims}
    for name, proc in records.items():
        if proc.pid in victim_pids:
            p.remove.append(ResourceRef(kind="process", name=f"{name} (pid {proc.pid})"))
    others = len(victims) - sum(1 for r in records.values() if r.pid in victim_pids)
    if others > 0:
        p.remove.append(
            ResourceRef(kind="process", name=f"{others} more process(es) of the services' groups")
        )
