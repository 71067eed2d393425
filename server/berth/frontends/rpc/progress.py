"""Engine events in LSP terms: work-done progress (`$/progress`) around a long request, rollback
steps as `berth/rollback`, log lines as `window/logMessage`, and session changes as a poke to the
watcher (which broadcasts `berth/sessionChanged`). Events arrive on a worker thread and are
marshalled onto the event loop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from berth.domain.cancel import CancelToken
from berth.domain.events import LogLevel
from berth.domain.undo import UndoState, UndoStep
from berth.frontends.rpc.protocol import RollbackNotification

if TYPE_CHECKING:
    from berth.frontends.rpc.connection import BerthServer

_MESSAGE_TYPES = {
    "info": types.MessageType.Info,
    "warning": types.MessageType.Warning,
    "error": types.MessageType.Error,
}


class RpcEventSink:
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

    def log(self, level: LogLevel, line: str) -> None:
        params = types.LogMessageParams(type=_MESSAGE_TYPES[level], message=line)
        self._call(self.server.window_log_message, params)

    def session_changed(self, slug: str) -> None:
        self._call(self.on_change)


class Operation:
    """Work-done progress around one long request: the client's token, or one we create; the
    client's cancel button (`window/workDoneProgress/cancel`) cancels the operation."""

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
        return event_sink(self.server, self.token)


def event_sink(server: BerthServer, token: str | int | None = None) -> RpcEventSink:
    return RpcEventSink(server, asyncio.get_running_loop(), token, server.app.watcher.poke)


def _client_supports_progress(server: BerthServer) -> bool:
    caps = getattr(server.protocol, "client_capabilities", None)
    window = getattr(caps, "window", None) if caps is not None else None
    return bool(getattr(window, "work_done_progress", False))
