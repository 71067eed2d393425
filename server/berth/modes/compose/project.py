"""What Berth records about a session's compose project (in ``SessionRecord.resources``): its name,
its label values, its groups (one base compose file plus the session's overlay each) and where each
allocated port goes."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from berth.adapters import docker_engine
from berth.domain.records import SessionRecord

RESOURCE_KEY = "compose"
APP_ROLE_LABEL = "berth.role"
APP_ROLE_VALUE = "app"


class ComposeGroup(BaseModel):
    compose: str = Field(description="The base compose file (absolute, inside the worktree).")
    overlay: str = Field(description="The session's overlay for it, under <root>/.berth/overlays.")
    services: list[str] = Field(description="Compose services the overlay covers.")
    start: list[str] | None = Field(default=None, description="Services named on `up`; None: all.")

    @property
    def files(self) -> list[Path]:
        return [Path(self.compose), Path(self.overlay)]

    @property
    def project_dir(self) -> Path:
        return Path(self.compose).parent


class PortRecord(BaseModel):
    service: str
    target: int
    base: int
    entry: int | None = None


class ComposeRecord(BaseModel):
    project: str
    root: str = Field(description="The repository root, the value of the berth.root label.")
    op: str = Field(description="Value of the berth.op label: the operation that first created them.")
    groups: list[ComposeGroup] = Field(default_factory=list)
    ports: dict[str, PortRecord] = Field(default_factory=dict, description="Port name -> where it goes.")

    @property
    def services(self) -> list[str]:
        """The compose services this session runs, in order."""
        out: list[str] = []
        for group in self.groups:
            for name in group.start if group.start is not None else group.services:
                if name not in out:
                    out.append(name)
        return out

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
