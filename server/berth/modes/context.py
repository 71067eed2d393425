"""What a step sees. A bring-up step takes a `BringUp`, a teardown step a `TearDown`; both carry the
repository's layout, store and worktrees, the session being worked on, the operation's rollback guard
(bring-up), its cancellation token and its event sink. The engine builds them; modes list the steps."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from berth.adapters import envfile
from berth.adapters.git import Worktrees
from berth.adapters.processes import SpawnedProcess
from berth.domain.cancel import CancelToken
from berth.domain.config import BerthConfig, RunKind, ServiceConfig
from berth.domain.engine_endpoint import Endpoint
from berth.domain.envnames import (
    LOCAL_HOST,
    host_env_name,
    port_env_name,
    service_url,
    session_identity_env,
    url_env_name,
)
from berth.domain.events import EventSink
from berth.domain.layout import Layout, env_file
from berth.domain.models import DownBlocker, DownPlan, KeptResource, ResourceRef, TeardownReceipt
from berth.domain.ports import PortPolicy
from berth.domain.records import SessionRecord
from berth.state.rollback import RollbackGuard
from berth.state.store import SessionStore

FALLBACK_SERVICE = ServiceConfig(name="app", base_port=3000)
"""Host mode with no native service still gets one port, for the app the user runs by hand."""


@dataclass(frozen=True)
class UpRequest:
    branch: str
    reuse_worktree: bool = False
    ports: dict[str, int] = field(default_factory=dict)
    services: list[str] | None = None
    context: str | None = None
    """`--context`: the docker context a new session runs on (beats berth.toml `engine`)."""


@dataclass(frozen=True)
class DownRequest:
    slug: str
    keep_worktree: bool = False
    keep_volumes: bool = False
    keep_images: bool = False
    force: bool = False


def service_host(session: SessionRecord, name: str) -> str:
    """The host a session's service `name` is reached on from this machine: the one place that
    decides it. A native service, or a port a local engine publishes, is on the loopback; a port a
    remote engine publishes is on that engine's host (the compose record, read raw as below, names
    the docker ports)."""
    record = session.resources.get("compose")
    docker_ports = record.get("ports", {}) if isinstance(record, dict) else {}
    return session.endpoint.reach_host if name in docker_ports else LOCAL_HOST


def _port_protocol(session: SessionRecord, name: str) -> str:
    """The transport of a port: `tcp` unless the session's compose record (modes/compose/project.py,
    which imports this module, hence read raw here) publishes it as UDP or SCTP."""
    record = session.resources.get("compose")
    port = record.get("ports", {}).get(name) if isinstance(record, dict) else None
    return str(port.get("protocol", "tcp")) if isinstance(port, dict) else "tcp"


def generated_env(session: SessionRecord, config: BerthConfig | None) -> dict[str, str]:
    """The variables of `.env.berth`: the session's identity, each port under its service's name
    (`BERTH_<NAME>_PORT`, `_HOST`, and `_URL` for a TCP port) and aliases, and PORT (the first
    native service). Without a config (a broken berth.toml at teardown) every port still gets its
    `BERTH_<NAME>_*` variables."""
    env = session_identity_env(session.slug, session.slot, session.mode)
    known = {s.name: s for s in config.services} if config is not None else {}
    first_native: int | None = None
    for name, port in session.ports.items():
        svc = known.get(name, FALLBACK_SERVICE if name == FALLBACK_SERVICE.name else None)
        host = service_host(session, name)
        env[port_env_name(name)] = str(port)
        env[host_env_name(name)] = host
        if _port_protocol(session, name) == "tcp":
            env[url_env_name(name)] = service_url(host, port)
        if svc is None:  # a compose service published without a [[services]] entry
            continue
        for alias in svc.port_env:
            env[alias] = str(port)
        if svc.run is RunKind.NATIVE and first_native is None:
            first_native = port
    if first_native is not None:
        env["PORT"] = str(first_native)
    return env


def session_process_env(
    worktree: Path,
    inherited: list[str],
    generated: Mapping[str, str],
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What a session's processes run with: the OS env (`base`, default `os.environ`; `{}` gives
    only what the session adds to it), the inherited env files, `.env.berth`, then the generated
    variables (later wins)."""
    files = [worktree / name for name in inherited]
    files.append(env_file(worktree))
    return envfile.merged_env(os.environ if base is None else base, files, generated)


@dataclass
class BringUp:
    """Everything one bring-up knows; steps read and extend it."""

    layout: Layout
    store: SessionStore
    worktrees: Worktrees
    config: BerthConfig
    request: UpRequest
    session: SessionRecord
    previous: SessionRecord | None
    op_id: str
    guard: RollbackGuard
    cancel: CancelToken
    events: EventSink
    spawned: dict[str, SpawnedProcess] = field(default_factory=dict)
    docker_ports: Callable[[], set[tuple[int, str]]] | None = None
    """Host ports docker containers publish, for port probing (set by the compose planner)."""
    current_step: tuple[str, int, int] = ("", 0, 0)
    """The step running now (name, index, total), set by the engine: a step can report within it."""

    @property
    def slug(self) -> str:
        return self.session.slug

    @property
    def endpoint(self) -> Endpoint:
        """The Docker engine the session runs on (resolved at its first up, recorded since)."""
        return self.session.endpoint

    @property
    def worktree(self) -> Path:
        return Path(self.session.worktree_path)

    @property
    def port_policy(self) -> PortPolicy:
        cfg = self.config
        return PortPolicy(
            slot=self.session.slot,
            stride=cfg.slot_stride,
            max_slots=cfg.max_slots,
            search_range=cfg.port_search_range,
            strict=cfg.strict_port,
        )

    def native_services(self) -> list[ServiceConfig]:
        return self.config.native_services or [FALLBACK_SERVICE]

    def generated_env(self) -> dict[str, str]:
        return generated_env(self.session, self.config)

    def process_env(self) -> dict[str, str]:
        inherited = [e.file for e in self.config.inherit_entries]
        return session_process_env(self.worktree, inherited, self.generated_env())

    def log(self, line: str, *, source: str | None = None) -> None:
        self.events.log("info", f"[{self.slug}{' ' + source if source else ''}] {line}")

    def progress_note(self, note: str) -> None:
        """Report progress within the current step: `<step>: <note>` at the step's index."""
        name, index, total = self.current_step
        self.events.progress(self.slug, f"{name}: {note}" if name else note, index, total)


Step = tuple[str, Callable[[BringUp], None]]


@dataclass
class TearDown:
    layout: Layout
    store: SessionStore
    worktrees: Worktrees
    config: BerthConfig | None
    """None when berth.toml is broken: teardown still works, only hooks are skipped."""
    request: DownRequest
    session: SessionRecord
    op_id: str
    cancel: CancelToken
    events: EventSink
    removed: list[ResourceRef] = field(default_factory=list)
    kept: list[KeptResource] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    services_stopped: bool = False
    keeps_session: bool = False
    """The worktree stays as the session's (asked for, or it holds uncommitted changes): the session
    is kept as stopped, with its slot, instead of removed."""

    @property
    def worktree(self) -> Path:
        return Path(self.session.worktree_path)

    @property
    def endpoint(self) -> Endpoint:
        return self.session.endpoint

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.events.log("warning", f"[{self.session.slug}] {text}")

    def log(self, line: str, *, source: str | None = None) -> None:
        self.events.log("info", f"[{self.session.slug}{' ' + source if source else ''}] {line}")

    def process_env(self) -> dict[str, str]:
        inherited = [e.file for e in self.config.inherit_entries] if self.config else []
        return session_process_env(self.worktree, inherited, generated_env(self.session, self.config))

    def receipt(self, *, stopped: bool) -> TeardownReceipt:
        return TeardownReceipt(
            slug=self.session.slug,
            removed=self.removed,
            kept=self.kept,
            warnings=self.warnings,
            status="stopped" if stopped else "removed",
        )


DownStep = tuple[str, Callable[[TearDown], None]]


@dataclass
class DownPreview:
    """What a `down --dry-run` sees: the same as a teardown, read-only. Each mode lists one planner
    per teardown step (`plan_steps`), next to the step it predicts; none changes anything."""

    layout: Layout
    store: SessionStore
    worktrees: Worktrees
    config: BerthConfig | None
    request: DownRequest
    session: SessionRecord
    remove: list[ResourceRef] = field(default_factory=list)
    keep: list[KeptResource] = field(default_factory=list)
    blockers: list[DownBlocker] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    keeps_session: bool = False

    @property
    def worktree(self) -> Path:
        return Path(self.session.worktree_path)

    def plan(self) -> DownPlan:
        return DownPlan(
            slug=self.session.slug,
            status="stopped" if self.keeps_session else "removed",
            remove=self.remove,
            keep=self.keep,
            blockers=self.blockers,
            warnings=self.warnings,
        )


PlanStep = Callable[[DownPreview], None]
