"""Taking compose groups down: the one procedure used by rollback, `recover` and `down`.

`compose down` of each group while its files exist, then the engine is asked what still carries the
session's labels and whatever is left (and not spared) is removed through the SDK, then the engine
is asked again: what remains is reported, never ignored. Idempotent, and tolerant of a group that
was only half created (a crash or a cancel in the middle of `compose up`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.adapters import compose_cli, docker_engine, processes
from berth.domain.cancel import NEVER_CANCELLED, CancelToken
from berth.domain.engine_endpoint import LOCAL_ENGINE, Endpoint
from berth.domain.errors import BerthError
from berth.domain.undo import UndoStep

if TYPE_CHECKING:
    from docker import DockerClient

COMPOSE_DOWN = "compose_down"
STOP_TIMEOUT_SECONDS = 10


def compose_down(
    *,
    project: str,
    root: Path,
    files: list[Path],
    services: list[str],
    remove_volumes: bool,
    spare_containers: list[str],
    spare_volumes: list[str],
    marker: str,
    label: str,
    endpoint: Endpoint,
) -> UndoStep:
    """Take one compose group down: what its `compose up` (even half done) created, and nothing else."""
    args = {
        "project": project,
        "root": str(root),
        "files": [str(f) for f in files],
        "services": services,
        "remove_volumes": remove_volumes,
        "spare_containers": spare_containers,
        "spare_volumes": spare_volumes,
        "marker": marker,
        "engine": endpoint.to_dict(),  # a crash recovery tears down on this engine, whatever the env says
    }
    volumes = "and its volumes" if remove_volumes else "(volumes kept)"
    return UndoStep(COMPOSE_DOWN, args, f"take down compose group {label} of {project} {volumes}")


def run_compose_down(
    cli: compose_cli.ComposeCli,
    project: str,
    files: Sequence[Path],
    *,
    remove_volumes: bool,
    remove_images: bool,
    env: Mapping[str, str],
    endpoint: Endpoint,
    cancel: CancelToken,
    on_line: Callable[[str], None] | None = None,
) -> compose_cli.ComposeRun:
    """`compose down`; `remove_images` also removes the images compose built and named after the
    project (`--rmi local`), never pulled or shared ones."""
    args = [
        "down",
        "--timeout",
        str(STOP_TIMEOUT_SECONDS),
        *(["-v"] if remove_volumes else []),
        *(["--rmi", "local"] if remove_images else []),
    ]
    return compose_cli.run(
        cli,
        project,
        files,
        args,
        cwd=files[0].parent,
        env=env,
        endpoint=endpoint,
        cancel=cancel,
        on_line=on_line,
    )


@dataclass(frozen=True)
class Sweep:
    """What the engine still holds of a session after compose down: remove it, then look again."""

    selector: Sequence[str]
    services: Collection[str] | None = None
    """Only containers of these compose services (None: every container of the session)."""
    spare_containers: Collection[str] = ()
    spare_volumes: Collection[str] = ()

    def containers(self, client: DockerClient) -> list[docker_engine.Container]:
        return [
            c
            for c in docker_engine.containers(client, self.selector)
            if (self.services is None or c.service in self.services) and c.id not in self.spare_containers
        ]

    def run(self, client: DockerClient, *, remove_volumes: bool) -> list[str]:
        """Remove the leftovers; the names of containers still there afterwards."""
        docker_engine.remove_containers(client, self.containers(client), volumes=remove_volumes)
        docker_engine.remove_unused(
            client, self.selector, volumes_too=remove_volumes, spare=list(self.spare_volumes)
        )
        return [c.name for c in self.containers(client)]


def take_down_group(args: Mapping[str, Any]) -> None:
    """The `compose_down` undo handler (arguments: see `compose_down`)."""
    spare_containers = set(args.get("spare_containers") or [])
    spare_volumes: list[str] = list(args.get("spare_volumes") or [])
    remove_volumes = bool(args["remove_volumes"])
    endpoint = Endpoint.from_dict(args["engine"]) if args.get("engine") else LOCAL_ENGINE
    if args.get("marker"):
        processes.stop([], [args["marker"]])  # a compose up still running for this group (crash, cancel)
    files = [Path(f) for f in args["files"]]
    if not spare_containers and all(f.is_file() for f in files):
        try:
            cli = compose_cli.find_compose()
        except BerthError:
            cli = None  # the sweep below removes the containers anyway
        if cli is not None:
            run_compose_down(
                cli,
                args["project"],
                files,
                remove_volumes=remove_volumes and not spare_volumes,
                remove_images=remove_volumes,  # a fresh session's rollback: what it built goes too
                env=os.environ,
                endpoint=endpoint,
                cancel=NEVER_CANCELLED,
            )
    sweep = Sweep(
        selector=docker_engine.session_labels(args["project"], args["root"]),
        services=set(args["services"]),
        spare_containers=spare_containers,
        spare_volumes=spare_volumes,
    )
    with docker_engine.connect(endpoint) as client:
        left = sweep.run(client, remove_volumes=remove_volumes)
    if left:
        raise RuntimeError(f"containers still present after removal: {', '.join(left)}")
