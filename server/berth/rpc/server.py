"""The Berth language server: one `BerthServer` per client connection, sharing one `BerthApp`.

Handlers are thin: validate params, resolve the repository root, run one engine call off the event
loop, and turn engine events into `$/progress`, `berth/rollback`, `berth/sessionChanged` and
`window/logMessage` notifications."""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path

from berth import __version__
from berth.adapters.git_worktrees import find_main_root
from berth.bringup import UpRequest
from berth.cancel import CancelToken
from berth.config import CONFIG_FILE
from berth.engine import DownRequest, Engine
from berth.errors import BerthError, ErrorCode
from berth.models import RecoveryReport, SessionView, TeardownReceipt
from berth.rollback import UndoState, UndoStep
from berth.rpc.glue import converter_factory, register_method, to_jsonrpc_error
from berth.rpc.protocol import (
    METHODS,
    NOTIFICATIONS,
    PROTOCOL_VERSION,
    DownParams,
    ListParams,
    RecoverParams,
    RollbackNotification,
    SessionsResult,
    StatusParams,
    UpParams,
)
from berth.rpc.watcher import SessionWatcher
from berth.workspace import Workspace

logger = logging.getLogger(__name__)
T = TypeVar("T")


class BerthApp:
    """State shared by every connection: engines per repository, the session watcher, the worker pool."""

    def __init__(self, *, token: str | None = None, poll_seconds: float = 0.25) -> None:
        self.token = token
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="berth-op")
        self.connections: set[BerthServer] = set()
        self.watcher = SessionWatcher(self.broadcast, poll_seconds=poll_seconds)
        self._engines: dict[Path, Engine] = {}

    def engine(self, root: Path) -> Engine:
        if root not in self._engines:
            self._engines[root] = Engine(Workspace(root))
        self.watcher.watch(self._engines[root].ws)
        return self._engines[root]

    def broadcast(self, method: str, params: Any) -> None:
        for conn in list(self.connections):
            if conn.state.initialized and not conn.state.closing:
                conn.protocol.notify(method, params)


@dataclass
class ConnectionState:
    workspace_folders: list[Path] = field(default_factory=list)
    authenticated: bool = False
    initialized: bool = False
    closing: bool = False
    exit_code: int | None = None
    inflight: dict[int, tuple[CancelToken, Future[Any]]] = field(default_factory=dict)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class BerthProtocol(LanguageServerProtocol):
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Any:
        server: BerthServer = self._server  # type: ignore[assignment]
        server.authenticate(params.initialization_options)
        result = yield from super().lsp_initialize(params)
        server.remember_folders(params)
        result.capabilities.experimental = {
            "berth": {
                "protocolVersion": PROTOCOL_VERSION,
                "methods": sorted(METHODS),
                "notifications": sorted(NOTIFICATIONS),
            }
        }
        return result

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Any:
        server: BerthServer = self._server  # type: ignore[assignment]
        server.begin_exit(0 if self._shutdown else 1)
        yield from ()


class BerthServer(LanguageServer):
    def __init__(self, app: BerthApp) -> None:
        super().__init__(
            "berth", __version__, protocol_cls=BerthProtocol, converter_factory=converter_factory
        )
        self.app = app
        self.state = ConnectionState(authenticated=app.token is None)
        self._closer: asyncio.Future[None] | None = None
        self._roots: dict[str | None, Path] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    def authenticate(self, options: Any) -> None:
        if self.app.token is None:
            return
        given = options.get("token") if isinstance(options, dict) else None
        if not isinstance(given, str) or not hmac.compare_digest(given, self.app.token):
            asyncio.get_running_loop().call_soon(self.close_connection)
            raise to_jsonrpc_error(
                BerthError(
                    ErrorCode.ROOT_INVALID,
                    "this berth server requires a token in initializationOptions.token",
                    "read it from the token file the server printed at start-up",
                )
            )
        self.state.authenticated = True

    def remember_folders(self, params: types.InitializeParams) -> None:
        uris = [f.uri for f in params.workspace_folders or []]
        if not uris and params.root_uri:
            uris = [params.root_uri]
        if not uris and params.root_path:
            uris = [Path(params.root_path).as_uri()]
        self.state.workspace_folders = [p for p in (_uri_to_path(u) for u in uris) if p is not None]
        self.state.initialized = True
        for folder in self.state.workspace_folders:
            try:
                self.app.engine(self.resolve_root(str(folder)))
            except BerthError:
                continue  # not a Berth repository (yet): nothing to watch

    def begin_exit(self, code: int) -> None:
        """Roll back in-flight work, then close this connection."""
        self.state.closing = True
        self.state.exit_code = code
        for token, _ in self.state.inflight.values():
            token.cancel()
        self._closer = asyncio.ensure_future(self._close_after_inflight())

    async def _close_after_inflight(self) -> None:
        pending = [asyncio.wrap_future(f) for _, f in self.state.inflight.values()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self.close_connection()

    def close_connection(self) -> None:
        self.state.closing = True
        self.app.connections.discard(self)
        self.state.closed.set()

    # -- requests -------------------------------------------------------------------------------
    def require_ready(self) -> None:
        if not self.state.authenticated:
            raise BerthError(
                ErrorCode.ROOT_INVALID, "not authenticated", "send initialize with the token first"
            )
        if self.state.closing:
            raise BerthError(
                ErrorCode.CANCELLED, "the connection is closing", "reconnect to send more requests"
            )

    def resolve_root(self, root: str | None) -> Path:
        """The repository a request is about: given, or the first workspace folder; checked before any write."""
        cached = self._roots.get(root)
        if cached is not None and (cached / CONFIG_FILE).is_file():
            return cached
        main = self._resolve_root(root)
        self._roots[root] = main
        return main

    def _resolve_root(self, root: str | None) -> Path:
        folders = self.state.workspace_folders
        if root is None:
            if not folders:
                raise BerthError(
                    ErrorCode.ROOT_INVALID,
                    "no root given and the client declared no workspace folder",
                    "pass params.root (a path or file:// URI of the repository)",
                )
            path: Path | None = folders[0]
        else:
            path = _uri_to_path(root) if root.startswith("file:") else Path(root)
        if path is None or not path.is_absolute() or not path.is_dir():
            raise BerthError(
                ErrorCode.ROOT_INVALID,
                f"root {root!r} is not an existing absolute directory",
                "pass the absolute path of a git repository that has a berth.toml",
            )
        path = path.resolve()
        if folders and not any(path == f or path.is_relative_to(f) for f in folders):
            raise BerthError(
                ErrorCode.ROOT_INVALID,
                f"root {path} is outside the workspace folders",
                "pass one of the workspace folders declared in initialize",
            )
        try:
            main = find_main_root(path)
        except BerthError as exc:
            raise BerthError(
                ErrorCode.ROOT_INVALID, exc.message, "pass the root of a git repository"
            ) from exc
        if not (main / CONFIG_FILE).is_file():
            raise BerthError(
                ErrorCode.ROOT_INVALID,
                f"{main} has no {CONFIG_FILE}",
                "run `berth init` there first, or pass another root",
            )
        return main

    async def run_engine(self, fn: Callable[[], T], cancel: CancelToken | None = None) -> T:
        """Run blocking engine work on the worker pool; a cancelled request cancels the engine's
        token and waits for its rollback before the request is answered."""
        future = self.app.executor.submit(fn)
        wrapped = asyncio.wrap_future(future)
        key = id(future)
        if cancel is not None:
            self.state.inflight[key] = (cancel, future)
        try:
            return await asyncio.shield(wrapped)
        except asyncio.CancelledError:
            if cancel is not None:
                cancel.cancel()
            await asyncio.gather(wrapped, return_exceptions=True)
            raise
        finally:
            self.state.inflight.pop(key, None)


class RpcEventSink:
    """Engine events → notifications, marshalled onto the event loop from the worker thread."""

    def __init__(
        self,
        server: BerthServer,
        loop: asyncio.AbstractEventLoop,
        token: str | int | None,
        on_change: Callable[[], None],
    ) -> None:
        self.server = server
        self.loop = loop
        self.token = token
        self.on_change = on_change

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def progress(self, slug: str, step: str, index: int, total: int) -> None:
        if self.token is None:
            return
        report = types.WorkDoneProgressReport(
            message=f"{slug}: {step} ({index}/{total})",
            percentage=int(100 * (index - 1) / total),
            cancellable=True,
        )
        self._call(self.server.work_done_progress.report, self.token, report)

    def undo(self, slug: str, op_id: str, step: UndoStep, state: UndoState, detail: str | None) -> None:
        note = RollbackNotification(
            slug=slug, op_id=op_id, step=step.description, kind=step.kind, state=state, detail=detail
        )
        self._call(self.server.protocol.notify, "berth/rollback", note)

    def log(self, level: Literal["info", "warning", "error"], line: str) -> None:
        kind = {
            "info": types.MessageType.Info,
            "warning": types.MessageType.Warning,
            "error": types.MessageType.Error,
        }[level]
        self._call(self.server.window_log_message, types.LogMessageParams(type=kind, message=line))

    def session_changed(self, slug: str) -> None:
        self._call(self.on_change)


class Operation:
    """Work-done progress around one long request: the client's token, or one we create."""

    def __init__(self, server: BerthServer, title: str, token: str | int | None) -> None:
        self.server = server
        self.title = title
        self.token = token
        self.cancel = CancelToken()

    async def __aenter__(self) -> Operation:
        wdp = self.server.work_done_progress
        if self.token is None and _client_supports_progress(self.server):
            token = f"berth-{uuid.uuid4().hex[:12]}"
            try:
                await wdp.create_async(token)
                self.token = token
            except Exception:  # a client that refuses progress still gets its answer
                self.token = None
        if self.token is not None:
            wdp.tokens.pop(self.token, None)
            wdp.begin(
                self.token, types.WorkDoneProgressBegin(title=self.title, percentage=0, cancellable=True)
            )
            ui_cancel = wdp.tokens.get(self.token)
            if ui_cancel is not None:
                ui_cancel.add_done_callback(lambda _f: self.cancel.cancel())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if self.token is None:
            return
        message = (
            "done"
            if exc is None
            else (
                "cancelled and rolled back"
                if exc_type is asyncio.CancelledError or self.cancel.cancelled
                else "failed and rolled back"
            )
        )
        self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        self.server.work_done_progress.tokens.pop(self.token, None)

    def sink(self) -> RpcEventSink:
        return RpcEventSink(self.server, asyncio.get_running_loop(), self.token, self.server.app.watcher.poke)


def _client_supports_progress(server: BerthServer) -> bool:
    caps = getattr(server.protocol, "client_capabilities", None)
    window = getattr(caps, "window", None) if caps is not None else None
    return bool(getattr(window, "work_done_progress", False))


def _uri_to_path(uri: str) -> Path | None:
    fs = to_fs_path(uri)
    return Path(fs) if fs else None


# -- handlers ---------------------------------------------------------------------------------------
async def handle_up(ls: BerthServer, p: UpParams) -> SessionView:
    ls.require_ready()
    engine = ls.app.engine(ls.resolve_root(p.root))
    request = UpRequest(branch=p.branch, reuse_worktree=p.reuse_worktree, ports=p.ports, services=p.services)
    async with Operation(ls, f"Berth: up {p.branch}", p.work_done_token) as op:
        sink = op.sink()
        return await ls.run_engine(lambda: engine.up(request, op.cancel, sink), op.cancel)


async def handle_down(ls: BerthServer, p: DownParams) -> TeardownReceipt:
    ls.require_ready()
    engine = ls.app.engine(ls.resolve_root(p.root))
    request = DownRequest(
        slug=p.slug, keep_worktree=p.keep_worktree, keep_volumes=p.keep_volumes, force=p.force
    )
    async with Operation(ls, f"Berth: down {p.slug}", p.work_done_token) as op:
        sink = op.sink()
        return await ls.run_engine(lambda: engine.down(request, op.cancel, sink), op.cancel)


async def handle_status(ls: BerthServer, p: StatusParams) -> SessionsResult:
    ls.require_ready()
    engine = ls.app.engine(ls.resolve_root(p.root))
    return SessionsResult(sessions=await ls.run_engine(lambda: engine.status(p.slug)))


async def handle_list(ls: BerthServer, p: ListParams) -> SessionsResult:
    ls.require_ready()
    engine = ls.app.engine(ls.resolve_root(p.root))
    return SessionsResult(sessions=engine.list_sessions())


async def handle_recover(ls: BerthServer, p: RecoverParams) -> RecoveryReport:
    ls.require_ready()
    engine = ls.app.engine(ls.resolve_root(p.root))
    sink = RpcEventSink(ls, asyncio.get_running_loop(), None, ls.app.watcher.poke)
    return await ls.run_engine(lambda: engine.recover(sink))


def build_server(app: BerthApp) -> BerthServer:
    server = BerthServer(app)
    register_method(server, "berth/up", UpParams, handle_up)  # type: ignore[arg-type]
    register_method(server, "berth/down", DownParams, handle_down)  # type: ignore[arg-type]
    register_method(server, "berth/status", StatusParams, handle_status)  # type: ignore[arg-type]
    register_method(server, "berth/list", ListParams, handle_list)  # type: ignore[arg-type]
    register_method(server, "berth/recover", RecoverParams, handle_recover)  # type: ignore[arg-type]
    app.connections.add(server)
    return server
