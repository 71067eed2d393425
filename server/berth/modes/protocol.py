"""What a mode is: its checks before anything is created, its bring-up and teardown step lists,
whether a re-up of a whole session has anything to do, and how its services look to clients."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from berth.adapters.process_table import HostSnapshot
from berth.domain.config import BerthConfig, Mode
from berth.domain.engine_endpoint import Endpoint
from berth.domain.models import ResourceRef, ServiceView
from berth.domain.records import SessionRecord
from berth.modes.context import BringUp, DownStep, PlanStep, Step


class SessionMode(Protocol):
    @property
    def mode(self) -> Mode: ...

    @property
    def up_steps(self) -> Sequence[Step]: ...

    @property
    def down_steps(self) -> Sequence[DownStep]: ...

    @property
    def plan_steps(self) -> Sequence[PlanStep]:
        """What `down --dry-run` asks: one read-only planner per teardown step that removes something."""
        ...

    def preflight(
        self, config: BerthConfig, *, context: str | None, recorded: SessionRecord | None
    ) -> Endpoint | None:
        """Raise a BerthError before anything is reserved or created (e.g. no Docker engine); the
        Docker engine the session will run on (None: the mode uses none). `context`: `--context`;
        `recorded`: the session as it is stored, if it exists."""
        ...

    def has_work(self, ctx: BringUp) -> bool:
        """Whether a re-up of an active session has a service to (re)start."""
        ...

    def service_views(self, record: SessionRecord, host: HostSnapshot | None) -> list[ServiceView]:
        """One view per service; live (asking the host and engine) when `host` is given."""
        ...

    def shared_resources(self, record: SessionRecord) -> list[ResourceRef]:
        """What the session uses without owning it (never removed by its down)."""
        ...
