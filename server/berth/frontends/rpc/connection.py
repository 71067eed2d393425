"""One client connection: the LSP lifecycle (initialize with the optional token, shutdown, exit),
the workspace folders it declared, and running blocking engine work on the worker pool so that a
cancelled request cancels the engine's token and waits for its rollback before it is answered."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from berth import __version__
from berth.domain.cancel import CancelToken
from berth.domain.errors import BerthError, ErrorCode
from berth.frontends.rpc.app import BerthApp
from berth.frontends.rpc.catalog import capabilities
from berth.frontends.rpc.glue import converter_factory, to_jsonrpc_error
from berth.frontends.rpc.roots import RootCache, resolve_root, uri_to_path

T = TypeVar("T")


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
        result.capabilities.experimental = {"berth": capabilities()}
        return result

    @lsp_method(types.INITIALIZED)
    def lsp_initialized(self, *args: Any) -> Any:
        server: BerthServer = self._server  # type: ignore[assignment]
        server.app.warm_up()  # the client has the initialize answer: import what requests need
        result = yield from super().lsp_initialized(*args)  # type: ignore[no-untyped-call]
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
        self._watching: asyncio.Future[None] | None = None
        self._roots = RootCache()

    # -- lifecycle ------------------------------------------------------------------------------
    def authenticate(self, options: Any) -> None:
        if self.app.token is None:
            return
        given = options.get("token") if isinstance(options, dict) else None
        if not isinstance(given, str) or not hmac.compare_digest(given, self.app.token):
            asyncio.get_running_loop().call_soon(self.close_connection)
            raise to_jsonrpc_error(
                BerthError(
                    ErrorCode.AUTH_FAILED,
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
        self.state.workspace_folders = [p for p in (uri_to_path(u) for u in uris) if p is not None]
        self.state.initialized = True
        self._watching = asyncio.ensure_future(self._watch_folders())

    async def _watch_folders(self) -> None:
        for folder in self.state.workspace_folders:
            try:
                await self.app.engine(await self.resolve_root(str(folder)))
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

    def notify_if_open(self, method: str, params: Any) -> None:
        if self.state.initialized and not self.state.closing:
            self.protocol.notify(method, params)

    def close_connection(self) -> None:
        self.state.closing = True
        self.app.connections.discard(self)
        self.state.closed.set()

    # -- requests -------------------------------------------------------------------------------
    def require_ready(self) -> None:
        if not self.state.authenticated:
            raise BerthError(
                ErrorCode.AUTH_FAILED, "not authenticated", "send initialize with the token first"
            )
        if self.state.closing:
            raise BerthError(
                ErrorCode.CONNECTION_CLOSING, "the connection is closing", "reconnect to send more requests"
            )

    async def resolve_root(self, root: str | None) -> Path:
        """The repository a request is about (see roots.py), resolved on the worker pool."""
        folders = self.state.workspace_folders
        cached = self._roots.get(root, folders)
        if cached is not None:
            return cached
        main = await self.run_blocking(lambda: resolve_root(root, folders))
        self._roots.put(root, folders, main)
        return main

    async def run_blocking(self, fn: Callable[[], T]) -> T:
        """Blocking work without a cancellation token (a query, recovery) on the worker pool; a
        cancelled request still waits for it, so nothing runs on after its answer."""
        wrapped = asyncio.wrap_future(self.app.executor.submit(fn))
        try:
            return await asyncio.shield(wrapped)
        except asyncio.CancelledError:
            await asyncio.gather(wrapped, return_exceptions=True)
            raise

    async def run_engine(self, fn: Callable[[], T], cancel: CancelToken) -> T:
        """Run a cancellable engine operation on the worker pool; a cancelled request cancels the
        engine's token and waits for its rollback before the request is answered."""
        future = self.app.executor.submit(fn)
        wrapped = asyncio.wrap_future(future)
        key = id(future)
        self.state.inflight[key] = (cancel, future)
        try:
            return await asyncio.shield(wrapped)
        except asyncio.CancelledError:
            cancel.cancel()
            await asyncio.gather(wrapped, return_exceptions=True)
            raise
        finally:
            self.state.inflight.pop(key, None)
