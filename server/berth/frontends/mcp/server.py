"""The MCP server: Berth's tools, each a thin call into the engine.

Every tool resolves its repository (the `root` argument, else the client's first MCP root, else the
working directory; validated by the JSON-RPC server's rule, frontends/rpc/roots.py), runs one engine
call through the bridge, and answers structured content (the protocol's wire models) with a short
text summary. A BerthError becomes a tool error: `isError`, the message and hint as text, and the
stable `code` (with hint, remedies, details) as structured content."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from mcp import MCPDeprecationWarning
from mcp.server.mcpserver import Context, ListRoots, MCPServer, Resolve
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.types import CallToolResult, ListRootsResult, TextContent, ToolAnnotations
from pydantic import BaseModel, RootModel

from berth import __version__
from berth.domain.cancel import CancelToken
from berth.domain.errors import BerthError, ErrorCode, internal_error
from berth.domain.models import DownPlan, RemedyView, SessionView, TeardownReceipt
from berth.frontends.mcp import summaries
from berth.frontends.mcp.arguments import (
    DOWN_ARGUMENTS,
    ENV_ARGUMENTS,
    EXEC_ARGUMENTS,
    LIST_ARGUMENTS,
    LOGS_ARGUMENTS,
    MAX_LOG_BYTES,
    STATUS_ARGUMENTS,
    UP_ARGUMENTS,
    BoundedLogs,
    ExecCommand,
    ExecResult,
    ToolArguments,
)
from berth.frontends.mcp.bridge import CallEvents, EngineBridge, call_events
from berth.frontends.rpc.protocol import (
    DownParams,
    DownResult,
    EnvParams,
    EnvResult,
    ErrorData,
    LogsParams,
    SessionsResult,
    StatusParams,
    UpParams,
)
from berth.frontends.rpc.roots import RootCache, resolve_root, uri_to_path
from berth.lifecycle.engine import DownRequest, Engine, UpRequest

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Berth gives each git branch its own isolated development environment (a session): a worktree, "
    "unique ports, native processes and/or a docker compose project. berth_up a branch, read its "
    "ports and URLs from the result (or berth_env), run commands in it with berth_exec, read "
    "berth_logs, and berth_down it when done. Sessions are shared with the CLI and the editor."
)


@dataclass
class ToolCall:
    """What a tool body gets: the repository's engine, the call's event sink and context."""

    engine: Engine
    events: CallEvents
    ctx: Context
    bridge: EngineBridge

    async def run_engine(self, fn: Callable[[CancelToken], Any], what: str) -> Any:
        cancel = CancelToken()

        async def on_cancelled(exc: BaseException | None) -> None:
            await report_cancelled(self, what, exc)

        return await self.bridge.run_engine(lambda: fn(cancel), cancel, on_cancelled)


Body = Callable[[ToolCall, dict[str, Any]], Awaitable[CallToolResult]]


def client_roots(ctx: Context) -> ListRoots | None:
    """Ask the client for its roots (`roots/list`) when it declares the capability."""
    caps = ctx.client_capabilities
    return ListRoots() if caps is not None and caps.roots is not None else None


class BerthTools:
    def __init__(self, bridge: EngineBridge, cwd: Path) -> None:
        self.bridge = bridge
        self.cwd = cwd
        self._roots = RootCache()

    async def repository(self, root: str | None, declared: ListRootsResult | None) -> Path:
        folders = [p for p in (uri_to_path(str(r.uri)) for r in (declared.roots if declared else [])) if p]
        if root is None and not folders:
            root = str(self.cwd)
        cached = self._roots.get(root, folders)
        if cached is not None:
            return cached
        main = await self.bridge.run_blocking(lambda: _resolve_root(root, folders))
        self._roots.put(root, folders, main)
        return main

    def wrap(self, name: str, body: Body) -> Callable[..., Awaitable[CallToolResult]]:
        async def tool(
            ctx: Context,
            roots: Annotated[ListRootsResult | None, Resolve(client_roots)],
            **arguments: Any,
        ) -> CallToolResult:
            async with call_events(ctx) as events:
                try:
                    root = await self.repository(arguments.get("root"), roots)
                    engine = await self.bridge.engine(root)
                    return await body(ToolCall(engine, events, ctx, self.bridge), arguments)
                except BerthError as exc:
                    return error_result(exc, events)
                except Exception as exc:
                    logger.exception("%s failed", name)
                    internal = internal_error(
                        exc,
                        f"{name} failed unexpectedly: {type(exc).__name__}",
                        "this is a bug in Berth; the server's stderr has the traceback",
                    )
                    return error_result(internal, events)

        tool.__name__ = name
        return tool


def _resolve_root(root: str | None, folders: list[Path]) -> Path:
    try:
        return resolve_root(root, folders)
    except OSError as exc:  # e.g. a name too long for the file system: still just a bad root
        raise BerthError(
            ErrorCode.ROOT_INVALID,
            f"root {root[:200] if root else root!r} cannot be read: {exc.strerror or exc}",
            "pass the absolute path of a git repository that has a berth.toml",
        ) from None


def error_result(exc: BerthError, events: CallEvents | None = None) -> CallToolResult:
    undone = events.undone if events is not None else []
    text = f"{exc.message}; {exc.hint}"
    if undone:
        text += "\nrolled back: " + "; ".join(summaries.undo_line(u) for u in undone)
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=error_data(exc, events),
        is_error=True,
    )


def error_data(exc: BerthError, events: CallEvents | None = None) -> dict[str, Any]:
    data = ErrorData(
        code=exc.code,
        hint=exc.hint,
        remedies=[RemedyView.model_validate(r.to_dict()) for r in exc.remedies] or None,
        details=dict(exc.details) or None,
    ).to_wire()
    data["message"] = exc.message
    if events is not None and events.undone:
        data["rolledBack"] = [u.to_wire() for u in events.undone]
    return data


async def report_cancelled(call: ToolCall, what: str, exc: BaseException | None) -> None:
    """A cancelled call is never answered (MCP), so say what its rollback did as its last progress
    message and as a log message: the error's text, and its structured content."""
    if isinstance(exc, BerthError):
        error = exc
    elif exc is None:
        error = BerthError(
            ErrorCode.CANCELLED,
            f"the {what} was cancelled after it had finished: nothing was rolled back",
            "check berth_status; take the session down with berth_down if it is not wanted",
        )
    else:
        error = BerthError(ErrorCode.INTERNAL, f"the cancelled {what} failed: {exc}", "see the server log")
    result = error_result(error, call.events)
    text = result.content[0].text  # type: ignore[union-attr]
    call.events.announce(f"cancelled: {text}")
    try:
        with warnings.catch_warnings():  # deprecated from 2026-07-28 on, still what most clients speak
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await call.ctx.session.send_log_message(
                level="warning", data={"text": text, **(result.structured_content or {})}, logger="berth"
            )
    except Exception:  # the client may be gone, or speak a protocol without logging
        logger.debug("cancellation log message not sent", exc_info=True)


def ok(model: BaseModel | dict[str, Any], text: str) -> CallToolResult:
    structured = model if isinstance(model, dict) else model.model_dump(mode="json", by_alias=True)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


# -- tool bodies ----------------------------------------------------------------------------------
async def up(call: ToolCall, arguments: dict[str, Any]) -> CallToolResult:
    p = UpParams.model_validate(arguments)
    request = UpRequest(branch=p.branch, reuse_worktree=p.reuse_worktree, ports=p.ports, services=p.services)
    view: SessionView = await call.run_engine(
        lambda cancel: call.engine.up(request, cancel, call.events), f"up of {p.branch}"
    )
    return ok(view, summaries.session(view, call.events.notes))


async def down(call: ToolCall, arguments: dict[str, Any]) -> CallToolResult:
    p = DownParams.model_validate(arguments)
    request = DownRequest(
        slug=p.slug, keep_worktree=p.keep_worktree, keep_volumes=p.keep_volumes, keep_images=p.keep_images
    )
    if p.dry_run:
        plan: DownPlan = await call.bridge.run_blocking(lambda: call.engine.plan_down(request))
        return ok(plan, summaries.plan(plan))
    receipt: TeardownReceipt = await call.run_engine(
        lambda cancel: call.engine.down(request, cancel, call.events), f"down of {p.slug}"
    )
    return ok(receipt, summaries.receipt(receipt))


async def status(call: ToolCall, arguments: dict[str, Any]) -> CallToolResult:
    p = StatusParams.model_validate(arguments)
    rows = await call.bridge.run_blocking(lambda: call.engine.status_wire(p.slug))
    return ok({"sessions": rows}, summaries.sessions(rows))


async def list_sessions(call: ToolCall, arguments: dict[str, Any]) -> CallToolResult:
    rows = await call.bridge.run_blocking(call.engine.list_wire)
    return ok({"sessions": rows}, summaries.sessions(rows))


async def logs(call: ToolCall, arguments: dict[str, Any]) -> CallToolResult:
    from berth.domain.logs import parse_duration
    from berth.lifecycle.logs import LogRequest, SessionLogs

    p = LogsParams.model_validate(arguments)
    since = parse_duration(p.since) if p.since is not None else None
    request = LogRequest(slug=p.slug, services=tuple(p.services or ()), tail=p.tail, since=since)
    lines = await call.bridge.run_blocking(lambda: SessionLogs(call.engine.ws).read(request))
    views = [line.to_view() for line in lines]
    kept, size = len(views), 0
    while kept > 0 and size + len(views[kept - 1].text) + 1 <= MAX_LOG_BYTES:
        size += len(views[kept - 1].text) + 1
        kept -= 1
    result = BoundedLogs(lines=views[kept:], left_out=kept)
    return ok(result, summaries.log_lines(result))


async def env(call: ToolCall, arguments: dict[str, Any]) -> CallToolResult:
    from berth.lifecycle.session_env import session_env

    p = EnvParams.model_validate(arguments)
    found = await call.bridge.run_blocking(lambda: session_env(call.engine.ws, p.slug))
    result = EnvResult(
        slug=found.slug,
        variables=found.variables,
        env_file=str(found.env_file),
        worktree_path=str(found.worktree),
    )
    return ok(result, summaries.env(result))


async def exec_in_session(call: ToolCall, arguments: dict[str, Any]) -> CallToolResult:
    from berth.adapters.captured_run import run_captured
    from berth.lifecycle.session_env import exec_command

    slug = EnvParams.model_validate({"root": arguments.get("root"), "slug": arguments["slug"]}).slug
    command_args = ExecCommand.model_validate(
        {k: arguments[k] for k in ("argv", "service", "timeoutSeconds")}
    )
    command = await call.bridge.run_blocking(
        lambda: exec_command(call.engine.ws, slug, command_args.argv, service=command_args.service, tty=False)
    )
    done = await call.run_engine(
        lambda cancel: run_captured(
            command.argv,
            cwd=command.cwd,
            env=command.env,
            timeout=command_args.timeout_seconds,
            cancel=cancel,
        ),
        f"command in {slug}",
    )
    result = ExecResult(
        slug=command.slug,
        service=command.service,
        argv=command.argv,
        cwd=str(command.cwd),
        exit_code=done.exit_code,
        stdout=done.stdout.text,
        stderr=done.stderr.text,
        stdout_truncated=done.stdout.truncated,
        stderr_truncated=done.stderr.truncated,
        timed_out=done.timed_out,
    )
    return ok(result, summaries.exec_result(result))


# -- registration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    arguments: type[ToolArguments]
    result: type[BaseModel] | type[RootModel[Any]]
    annotations: ToolAnnotations
    body: Body


_READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "berth_up",
        "Bring a branch's session up",
        "Create (or resume) the branch's session: a git worktree, leased ports, its native services "
        "and/or compose project, `.env.berth`, hooks. Transactional: any failure or cancellation rolls "
        "back everything it created. Reports each step as progress. Answers the session: ports, "
        "services, worktree path.",
        UP_ARGUMENTS,
        SessionView,
        ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
        up,
    ),
    ToolSpec(
        "berth_down",
        "Tear a session down",
        "Stop the session's services and remove what Berth created for it. Never removes a worktree "
        "with uncommitted changes (it is kept and said so: that stays a person's decision). With "
        "dryRun, changes nothing and answers the plan: what would be removed and kept, and blockers.",
        DOWN_ARGUMENTS,
        DownResult,
        ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
        ),
        down,
    ),
    ToolSpec(
        "berth_status",
        "Live health of sessions",
        "Every session of the repository (or one, with its uncommitted changes) with live service "
        "states, ports and pids.",
        STATUS_ARGUMENTS,
        SessionsResult,
        _READ_ONLY,
        status,
    ),
    ToolSpec(
        "berth_list",
        "List sessions",
        "The repository's sessions from Berth's state file (cheap; no probing).",
        LIST_ARGUMENTS,
        SessionsResult,
        _READ_ONLY,
        list_sessions,
    ),
    ToolSpec(
        "berth_logs",
        "Read a session's logs",
        f"The last lines of the session's services, interleaved by time (at most {MAX_LOG_BYTES // 1024} KiB).",
        LOGS_ARGUMENTS,
        BoundedLogs,
        _READ_ONLY,
        logs,
    ),
    ToolSpec(
        "berth_exec",
        "Run a command in a session",
        "Run argv in the session: natively in its worktree with the session's environment (its ports "
        "as variables), or with `service` in that docker service's container. Output is bounded "
        "(64 KiB each); the timeout kills the command's process group.",
        EXEC_ARGUMENTS,
        ExecResult,
        ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
        ),
        exec_in_session,
    ),
    ToolSpec(
        "berth_env",
        "A session's variables",
        "The session's generated variables (what `.env.berth` holds: ports, hosts, URLs), its env file "
        "and worktree path.",
        ENV_ARGUMENTS,
        EnvResult,
        _READ_ONLY,
        env,
    ),
)


def _tool(tools: BerthTools, spec: ToolSpec) -> Tool:
    """A Tool whose input schema is `spec.arguments` and output schema `spec.result` (the SDK would
    derive both from the function's signature; here they come from the protocol's models)."""
    tool = Tool.from_function(
        tools.wrap(spec.name, spec.body),
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=spec.annotations,
    )
    metadata = FuncMetadata(arg_model=spec.arguments, output_model=spec.result)
    if metadata.output_schema is not None and "type" not in metadata.output_schema:
        # a union of objects (berth_down's receipt or plan): MCP wants `type: object` at the top
        metadata.output_schema = {"type": "object", **metadata.output_schema}
    tool.fn_metadata = metadata
    tool.parameters = spec.arguments.model_json_schema(by_alias=True)
    return tool


def build_server(bridge: EngineBridge | None = None, cwd: Path | None = None) -> MCPServer:
    tools = BerthTools(bridge or EngineBridge(), cwd or Path(os.getcwd()))
    return MCPServer(
        "berth",
        title="Berth",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        tools=[_tool(tools, spec) for spec in TOOLS],
    )
