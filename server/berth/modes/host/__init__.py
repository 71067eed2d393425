"""Host mode: everything runs natively."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from berth.adapters.process_table import HostSnapshot
from berth.domain.config import BerthConfig, Mode
from berth.domain.engine_endpoint import Endpoint
from berth.domain.models import ResourceRef, ServiceView
from berth.domain.records import SessionRecord
from berth.modes import common
from berth.modes.context import BringUp, DownStep, PlanStep, Step
from berth.modes.host import down, up
from berth.modes.host.views import native_service_views

UP_STEPS: list[Step] = [
    ("pre_up hook", common.pre_up_hook),
    ("allocate ports", up.allocate_native_ports),
    ("create worktree", common.ensure_worktree),
    ("inherit env files", common.inherit_env_files),
    ("write .env.berth", common.write_env_file),
    ("pre_spawn hook", common.pre_spawn_hook),
    ("start services", up.spawn_native_services),
    ("wait until ready", up.wait_until_ready),
    ("post_up hook", common.post_up_hook),
]

DOWN_STEPS: list[DownStep] = [
    ("pre_down hook", common.pre_down_hook),
    ("stop services", down.stop_native_processes),
    ("remove worktree", common.remove_worktree),
    ("release ports", common.release_leases),
    ("post_down hook", common.post_down_hook),
]

PLAN_STEPS: list[PlanStep] = [down.plan_native_processes, common.plan_worktree, common.plan_leases]


@dataclass(frozen=True)
class HostMode:
    mode: Mode = Mode.HOST
    up_steps: Sequence[Step] = tuple(UP_STEPS)
    down_steps: Sequence[DownStep] = tuple(DOWN_STEPS)
    plan_steps: Sequence[PlanStep] = tuple(PLAN_STEPS)

    def preflight(
        self, config: BerthConfig, *, context: str | None, recorded: SessionRecord | None
    ) -> Endpoint | None:
        return None  # git and process spawning are always there; no Docker engine

    def has_work(self, ctx: BringUp) -> bool:
        return bool(up.services_to_start(ctx))

    def service_views(self, record: SessionRecord, host: HostSnapshot | None) -> list[ServiceView]:
        return native_service_views(record, record.ports, host)

    def shared_resources(self, record: SessionRecord) -> list[ResourceRef]:
        return []


HOST = HostMode()
