"""What Berth records about a session's compose project (in ``SessionRecord.resources``): its name,
its label values, its groups (the user's compose files, and the session's own file compose runs,
written from compose's model of them) and where each allocated port goes."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from berth.adapters import docker_engine
from berth.domain.records import SessionRecord

RESOURCE_KEY = "compose"
APP_ROLE_LABEL = "berth.role"
APP_ROLE_VALUE = "app"


class ComposeGroup(BaseModel):
    files: list[str] = Field(
        default_factory=list,
        description="The user's compose files (absolute, in the worktree); empty: compose's own discovery.",
    )
    project_dir: str = Field(default="", description="Where compose runs and finds `.env`.")
    profiles: list[str] = Field(default_factory=list)
    session_file: str = Field(
        default="", description="The session's compose file (compose's model, rewritten per session)."
    )
    services: list[str] = Field(description="The compose services this session runs from the group.")
    start: list[str] | None = Field(default=None, description="Services named on `up`; None: all.")
    one_shots: list[str] = Field(
        default_factory=list, description="Services others wait on to complete: exit 0 is success."
    )
    not_started: dict[str, list[str]] = Field(
        default_factory=dict, description="Services left out by profiles -> their profiles."
    )
    wait_seconds: float = Field(default=120.0, description="How long `up --wait` may take.")
    fixed_subnets: dict[str, str] = Field(
        default_factory=dict, description="subnet_key -> the subnet the file fixes (moved per session)."
    )
    shared: list[str] = Field(
        default_factory=list,
        description="`network:<name>` / `volume:<name>`: external, shared, never removed; `path:<dir>`: a host path "
        "outside the worktree that services bind-mount, shared by every session.",
    )
    bridged: list[str] = Field(
        default_factory=list,
        description="Declared services only on internal networks, given a session bridge to publish on.",
    )
    compose: str | None = Field(default=None, description="Before the session file: the base file.")
    overlay: str | None = Field(default=None, description="Before the session file: the overlay.")

    @property
    def run_files(self) -> list[Path]:
        """The `-f` files compose runs this group with."""
        if self.session_file:
            return [Path(self.session_file)]
        return [Path(f) for f in (self.compose, self.overlay) if f]  # a session brought up before

    @property
    def own_file(self) -> Path | None:
        """The file Berth wrote for this group (removed once its containers are down)."""
        own = self.session_file or self.overlay
        return Path(own) if own else None

    @property
    def run_dir(self) -> Path:
        if self.project_dir:
            return Path(self.project_dir)
        return Path(self.compose).parent if self.compose else Path(self.session_file).parent


class PortRecord(BaseModel):
    service: str = Field(description="The compose service whose container publishes the port.")
    target: int = Field(description="The container port (the first of a block).")
    base: int = Field(description="The port the slot arithmetic starts from.")
    entry: int | None = Field(default=None, description="Index in the service's ports; None: added.")
    protocol: str = "tcp"
    width: int = Field(default=1, description="Consecutive ports leased and published as one block.")
    host_ip: str | None = None


class ComposeRecord(BaseModel):
    project: str
    root: str = Field(description="The repository root, the value of the berth.root label.")
    op: str = Field(description="Value of the berth.op label: the operation that first created them.")
    groups: list[ComposeGroup] = Field(default_factory=list)
    ports: dict[str, PortRecord] = Field(default_factory=dict, description="Port name -> where it goes.")
    subnets: dict[str, str] = Field(default_factory=dict, description="Network -> the session's subnet.")

    @property
    def services(self) -> list[str]:
        """The compose services this session runs, in order."""
        return list(dict.fromkeys(name for group in self.groups for name in group.services))

    @property
    def one_shots(self) -> set[str]:
        return {name for group in self.groups for name in group.one_shots}

    @property
    def not_started(self) -> dict[str, list[str]]:
        return {name: p for group in self.groups for name, p in group.not_started.items()}

    @property
    def labels(self) -> dict[str, str]:
        return {
            docker_engine.SESSION_LABEL: self.project,
            docker_engine.OP_LABEL: self.op,
            docker_engine.ROOT_LABEL: self.root,
        }

    @property
    def selector(self) -> list[str]:
        """Label filters matching this session's containers, networks and volumes, and nothing else."""
        return docker_engine.session_labels(self.project, self.root)


def compose_record(session: SessionRecord) -> ComposeRecord | None:
    raw = session.resources.get(RESOURCE_KEY)
    return None if raw is None else ComposeRecord.model_validate(raw)


def project_name(prefix: str, slug: str) -> str:
    return f"{prefix}_{slug}"
