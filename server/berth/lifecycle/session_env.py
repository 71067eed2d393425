"""A session's environment for people and tools: its generated variables (what `.env.berth` holds),
and the command lines that run something inside it: natively in its worktree with the environment
its native services get, or in a docker service's container through `docker compose exec`.

Plain functions over a `Workspace`, shared by the CLI (which execs what they return), the JSON-RPC
server (`berth/env`, whose result a client opens a terminal with) and any later frontend. Every
refusal (unknown session or service, a stopped or busy session, a service that is not running) is
a BerthError raised before anything runs."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from berth.adapters import docker_endpoint
from berth.domain.config import BerthConfig
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction, session_not_found
from berth.domain.models import SessionStatus
from berth.domain.records import SessionRecord
from berth.domain.slug import resolve_session_ref
from berth.lifecycle.workspace import Workspace
from berth.modes.context import generated_env, session_process_env

CONTAINER_SHELL = "sh"
"""The shell `berth shell --service` starts in a container: every image with a shell has `sh`."""
FALLBACK_SHELL = "/bin/sh"


class EnvFormat(StrEnum):
    DOTENV = "dotenv"
    JSON = "json"
    SHELL = "shell"


@dataclass(frozen=True)
class SessionEnv:
    slug: str
    variables: dict[str, str]
    """The generated variables, the content of `.env.berth`."""
    env_file: Path
    worktree: Path


@dataclass(frozen=True)
class SessionCommand:
    """What to run for `exec` / `shell`: the program and its arguments, where, with what environment."""

    slug: str
    service: str | None
    """A docker service whose container runs the command; None: natively in the worktree."""
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    """The whole environment of the child: the OS env, then what the session adds (`overlay`)."""
    overlay: dict[str, str]
    """What the session adds on top of the OS env: the inherited env files, then `.env.berth`."""
    container: str | None = None


def session_env(ws: Workspace, ref: str) -> SessionEnv:
    """The session's generated variables (stopped sessions keep their slot and ports, so they have
    them too)."""
    session = _session(ws, ref)
    config = _config(ws)
    return SessionEnv(
        slug=session.slug,
        variables=dict(sorted(generated_env(session, config).items())),
        env_file=Path(session.env_file),
        worktree=Path(session.worktree_path),
    )


def exec_command(
    ws: Workspace, ref: str, command: Sequence[str], *, service: str | None = None, tty: bool = False
) -> SessionCommand:
    """`command` in the session: natively in its worktree with its environment, or with `service`
    in that docker service's container (a pseudo-TTY only when `tty`)."""
    if not command:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            "no command to run was given",
            "put the command after `--`, e.g. `berth exec SLUG -- env`",
        )
    session = _runnable_session(ws, ref)
    config = _config(ws)
    overlay = _overlay(session, config)
    env = {**os.environ, **overlay}
    worktree = Path(session.worktree_path)
    if service is None:
        _check_found(command[0], worktree, env)
        return SessionCommand(session.slug, None, list(command), worktree, env, overlay)
    from berth.modes.compose.exec import container_command  # the docker SDK, only when asked for

    found = container_command(session, config, service, command, tty=tty)
    overlay = {**overlay, **found.engine_env}
    env = docker_endpoint.subprocess_env(session.endpoint, env)
    return SessionCommand(session.slug, service, found.argv, found.cwd, env, overlay, found.container)


def shell_command(
    ws: Workspace, ref: str, *, service: str | None = None, tty: bool = True, user_shell: str | None = None
) -> SessionCommand:
    """An interactive shell in the session: `user_shell` (default $SHELL, else /bin/sh) in the
    worktree, or `sh` in a docker service's container."""
    if service is not None:
        return exec_command(ws, ref, [CONTAINER_SHELL], service=service, tty=tty)
    shell = user_shell or os.environ.get("SHELL") or FALLBACK_SHELL
    return exec_command(ws, ref, [shell], tty=tty)


def render_env(variables: Mapping[str, str], fmt: EnvFormat) -> str:
    """dotenv (`K=V`, as `.env.berth`), JSON, or shell (`export K='V'`, for `eval "$(…)"`)."""
    if fmt is EnvFormat.JSON:
        return json.dumps(dict(variables), indent=2) + "\n"
    if fmt is EnvFormat.SHELL:
        return "".join(f"export {k}={_single_quoted(variables[k])}\n" for k in sorted(variables))
    return "".join(f"{k}={variables[k]}\n" for k in sorted(variables))


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _session(ws: Workspace, ref: str) -> SessionRecord:
    slug = resolve_session_ref(ref)
    found = ws.store.get_session(slug)
    if found is None:
        raise session_not_found(slug)
    return found


def _runnable_session(ws: Workspace, ref: str) -> SessionRecord:
    session = _session(ws, ref)
    slug, branch = session.slug, session.branch
    if session.status is SessionStatus.PENDING or session.op_id is not None:
        raise BerthError(
            ErrorCode.SESSION_BUSY,
            f"session {slug!r} is being brought up or torn down right now",
            "wait until that operation ends (if the command that started it crashed, recover first), then retry",
            remedies=(Remedy(RemedyAction.LIST_SESSIONS), Remedy(RemedyAction.RECOVER)),
            slug=slug,
        )
    if session.status is SessionStatus.STOPPED:
        raise BerthError(
            ErrorCode.SESSION_STOPPED,
            f"session {slug!r} is stopped: its services are down",
            f"bring it up again (berth up {branch}), then retry",
            remedies=(Remedy(RemedyAction.UP, {"branch": branch}),),
            slug=slug,
        )
    if not Path(session.worktree_path).is_dir():
        raise BerthError(
            ErrorCode.WORKTREE_NOT_FOUND,
            f"the worktree of session {slug!r} is missing at {session.worktree_path}",
            "take the stale session down, then bring the branch up again",
            remedies=(Remedy(RemedyAction.DOWN, {"slug": slug}), Remedy(RemedyAction.UP, {"branch": branch})),
            slug=slug,
        )
    return session


def _config(ws: Workspace) -> BerthConfig | None:
    """berth.toml, or None when it is broken now: the session's variables come from its record."""
    try:
        return ws.config()
    except BerthError:
        return None


def _overlay(session: SessionRecord, config: BerthConfig | None) -> dict[str, str]:
    """What the session's native services get on top of the OS env (the same assembly)."""
    inherited = [e.file for e in config.inherit_entries] if config is not None else []
    return session_process_env(
        Path(session.worktree_path), inherited, generated_env(session, config), base={}
    )


def _check_found(program: str, cwd: Path, env: Mapping[str, str]) -> None:
    if "/" in program:
        path = cwd / program
        found = path.is_file() and os.access(path, os.X_OK)
    else:
        found = shutil.which(program, path=env.get("PATH", os.defpath)) is not None
    if not found:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            f"command {program!r} was not found "
            + ("in the session's worktree" if "/" in program else "on the session's PATH"),
            "check the command's name (the session runs with your PATH and its env files' PATH, if any)",
            command=program,
        )
