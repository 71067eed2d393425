"""A command in one of a session's docker services: `docker compose exec` in its running container,
with the session's project name and its own compose file, refused precisely before anything runs
when the service is not the session's or has no running container."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from berth.adapters import compose_cli, docker_endpoint, docker_engine
from berth.domain.config import BerthConfig, RunKind
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction
from berth.domain.records import SessionRecord
from berth.modes.compose.project import ComposeGroup, ComposeRecord, compose_record


@dataclass(frozen=True)
class ContainerCommand:
    argv: list[str]
    cwd: Path
    """Where compose runs (the group's project directory)."""
    container: str
    engine_env: dict[str, str]
    """The variables that send the docker CLI to the session's engine (DOCKER_HOST wins over any
    DOCKER_CONTEXT and the current context)."""


def docker_services(session: SessionRecord) -> list[str]:
    """The compose services the session runs (empty in host mode)."""
    record = compose_record(session)
    return record.services if record is not None else []


def container_command(
    session: SessionRecord,
    config: BerthConfig | None,
    service: str,
    command: Sequence[str],
    *,
    tty: bool,
) -> ContainerCommand:
    record = compose_record(session)
    group = _group_of(session, record, config, service)
    assert record is not None  # _group_of refuses a session without compose services
    with docker_engine.connect(session.endpoint) as client:
        mine = [c for c in docker_engine.containers(client, record.selector) if c.service == service]
    running = [c for c in mine if c.state == "running"]
    if not running:
        state = (
            f"its container {mine[0].name} is {mine[0].state}"
            if mine
            else "it has no container (removed outside Berth?)"
        )
        raise BerthError(
            ErrorCode.SERVICE_NOT_RUNNING,
            f"docker service {service!r} of session {session.slug!r} is not running: {state}",
            "bring the session up again, which restarts its stopped containers, then retry",
            remedies=(Remedy(RemedyAction.UP, {"branch": session.branch}),),
            slug=session.slug,
            service=service,
            state=mine[0].state if mine else None,
        )
    cli = compose_cli.find_compose()
    argv = compose_cli.exec_argv(cli, record.project, group.run_files, service, command, tty=tty)
    engine_env = docker_endpoint.subprocess_env(session.endpoint, {})
    return ContainerCommand(argv=argv, cwd=group.run_dir, container=running[0].name, engine_env=engine_env)


def _group_of(
    session: SessionRecord, record: ComposeRecord | None, config: BerthConfig | None, service: str
) -> ComposeGroup:
    known = record.services if record is not None else []
    declared = config.service(service) if config is not None else None
    if record is not None:
        for group in record.groups:
            if service in group.services:
                return group
        if service in record.not_started:
            profiles = ", ".join(record.not_started[service]) or "?"
            raise BerthError(
                ErrorCode.SERVICE_NOT_RUNNING,
                f"docker service {service!r} of session {session.slug!r} is not started: the active "
                f"compose profiles leave it out (it is in profile {profiles})",
                "enable its profile (`profiles` in berth.toml or COMPOSE_PROFILES) and bring the session "
                "up again",
                slug=session.slug,
                service=service,
                profiles=record.not_started[service],
            )
    if declared is not None and declared.run is RunKind.NATIVE:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            f"{service!r} is a native service of session {session.slug!r}: it has no container",
            "leave the service out to run the command in the session's worktree with its environment",
            slug=session.slug,
            service=service,
        )
    raise BerthError(
        ErrorCode.UNKNOWN_SERVICE,
        f"session {session.slug!r} has no docker service {service!r}; "
        + (f"its docker services: {', '.join(known)}" if known else "it runs no docker service"),
        "name one of its docker services, or leave the service out to run in the session's worktree",
        slug=session.slug,
        service=service,
        known=known,
    )
