"""`berth/logs`: the last lines of a session's services, or (with `follow`) a stream of
`berth/logLine` notifications until the client cancels the request or the session goes down.

Bounded: the follower's readers fill a queue of at most `DEFAULT_QUEUE_LINES` lines (see
lifecycle/logs.py); this sender takes lines from it only as fast as the connection carries them
(on TCP it waits while more than `HIGH_WATER_BYTES` wait in the socket's buffer; on stdio the write
itself blocks), so a slow client makes the queue drop lines, never the server's memory grow, and the
client gets a `skipped` marker where lines were dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from berth.domain.cancel import CancelToken
from berth.domain.logs import LogLine, LogsResult, parse_duration
from berth.frontends.rpc.protocol import LogLineNotification, LogsParams

if TYPE_CHECKING:
    from berth.frontends.rpc.connection import BerthServer
    from berth.lifecycle.logs import FollowOutcome

HIGH_WATER_BYTES = 64 * 1024
"""A TCP client with more than this unread in the server's socket buffer gets nothing more until it reads."""
_YIELD_EVERY = 50


class LogLineSender:
    """Sends lines as `berth/logLine` from the follower's thread, waiting for the connection."""

    def __init__(
        self, server: BerthServer, loop: asyncio.AbstractEventLoop, token: str | int, cancel: CancelToken
    ) -> None:
        self.server = server
        self.loop = loop
        self.token = token
        self.cancel = cancel

    def emit(self, lines: list[LogLine]) -> None:
        """Called on the follower's thread; returns once the lines are written (or cancelled)."""
        coro: Coroutine[Any, Any, None] = self._send(lines)
        asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _send(self, lines: list[LogLine]) -> None:
        for index, line in enumerate(lines, start=1):
            if self.cancel.cancelled or self.server.state.closing:
                return
            note = LogLineNotification(token=self.token, **line.to_view().model_dump())
            self.server.notify_if_open("berth/logLine", note)
            await self._writable()
            if index % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # other requests of this connection go on meanwhile

    async def _writable(self) -> None:
        transport = getattr(self.server.protocol.writer, "transport", None)
        if transport is None:
            return  # stdio: the write itself blocks until the client reads
        while (
            transport.get_write_buffer_size() > HIGH_WATER_BYTES
            and not transport.is_closing()
            and not self.cancel.cancelled
        ):
            await asyncio.sleep(0.05)


async def handle_logs(ls: BerthServer, p: LogsParams) -> LogsResult:
    from berth.lifecycle.logs import LogRequest, SessionLogs  # not at start-up: see handlers.py

    ls.require_ready()
    engine = await ls.app.engine(await ls.resolve_root(p.root))
    since = parse_duration(p.since) if p.since is not None else None
    request = LogRequest(slug=p.slug, services=tuple(p.services or ()), tail=p.tail, since=since)
    logs = SessionLogs(engine.ws)
    if not p.follow:
        lines = await ls.run_blocking(lambda: logs.read(request))
        return LogsResult(lines=[line.to_view() for line in lines])

    token = p.token if p.token is not None else ls.protocol.msg_id
    cancel = CancelToken()
    sender = LogLineSender(ls, asyncio.get_running_loop(), token if token is not None else "", cancel)
    ended: list[FollowOutcome] = []

    def follow() -> None:
        ended.append(logs.follow(request, sender.emit, cancel))

    try:
        await ls.run_engine(follow, cancel)
    except asyncio.CancelledError:
        # $/cancelRequest: run_engine cancelled the follower and waited for it; answer why it ended
        if not ended:
            raise
    outcome = ended[0]
    message = outcome.message
    if outcome.ended == "cancelled":
        message = "stopped following: the request was cancelled"
    return LogsResult(lines=[], ended=outcome.ended, message=message, skipped=outcome.skipped)
