"""A session's compose project: what Berth records about it (in ``SessionRecord.resources``) and how one
compose group is taken down again, by rollback, by `recover`, or by `down`.

Taking a group down is idempotent and tolerates a half-created group: it stops any compose process
still running for it, runs ``compose down`` while the files exist, then removes through the docker SDK
whatever still carries the session's labels, and checks that nothing of the group remains."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from berth.adapters import compose, docker_engine, processes
from berth.cancel import NEVER_CANCELLED
from berth.errors import BerthError
from berth.records import SessionRecord

RESOURCE_KEY = "compose"
APP_ROLE_LABEL = "berth.role"
APP_ROLE_VALUE = "app"
STOP_TIMEOUT_SECONDS = 10


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


def take_down_group(args: Mapping[str, Any]) -> None:
    """The `compose_down` undo handler (arguments: see undo.compose_down)."""
    project, root = args["project"], args["root"]
    services = set(args["services"])
    spare_containers = set(args.get("spare_containers") or [])
    spare_volumes: Sequence[str] = args.get("spare_volumes") or []
    remove_volumes = bool(args["remove_volumes"])
    if args.get("marker"):
        processes.stop([], [args["marker"]])  # a compose up still running for this group (crash, cancel)
    selector = docker_engine.session_labels(project, root)
    files = [Path(f) for f in args["files"]]
    if not spare_containers and all(f.is_file() for f in files):
        _compose_down(project, files, remove_volumes=remove_volumes and not spare_volumes)
    with docker_engine.connect() as client:

        def leftovers() -> list[docker_engine.Container]:
            return [
                c
                for c in docker_engine.containers(client, selector)
                if c.service in services and c.id not in spare_containers
            ]

        docker_engine.remove_containers(client, leftovers(), volumes=remove_volumes)
        docker_engine.remove_unused(client, selector, volumes_too=remove_volumes, spare=spare_volumes)
        left = [c.name for c in leftovers()]
    if left:
        raise RuntimeError(f"containers still present after removal: {', '.join(left)}")


def _compose_down(project: str, files: list[Path], *, remove_volumes: bool) -> None:
    try:
        cli = compose.find_compose()
    except BerthError:
        return  # the SDK sweep that follows removes the containers anyway
    args = ["down", "--timeout", str(STOP_TIMEOUT_SECONDS), *(["-v"] if remove_volumes else [])]
    compose.run(cli, project, files, args, cwd=files[0].parent, env=dict(os.environ), cancel=NEVER_CANCELLED)
