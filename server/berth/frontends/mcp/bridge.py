"""Engine work off the event loop, and its events back onto one tool call.

The engine blocks (git, processes, SQLite), so each call runs on a worker thread with a CancelToken.
When MCP cancels the tool call (`notifications/cancelled`, a closed HTTP stream), the token is
cancelled and the call waits, shielded from its own cancellation, until the engine's rollback has
finished: nothing a cancelled call created outlives it. Events the engine emits on its thread are
queued to one sender per call, so `notifications/progress` go out in order with increasing values."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
from mcp.server.mcpserver import Context

from berth.domain.cancel import CancelToken
from berth.domain.events import LogLevel
from berth.domain.undo import UndoState, UndoStep

if TYPE_CHECKING:
    from berth.lifecycle.engine import Engine

T = TypeVar("T")
logger = logging.getLogger(__name__)

_NOTIFY_TIMEOUT_SECONDS = 5.0
"""A notification the client does not take within this is dropped: a gone client must not hold up
the rollback's report (or the server)."""


@dataclass(frozen=True)
class UndoEvent:
    step: str
    kind: str
    state: UndoState
    detail: str | None

    def to_wire(self) -> dict[str, object]:
        wire: dict[str, object] = {"step": self.step, "kind": self.kind, "state": self.state.value}
        if self.detail:
            wire["detail"] = self.detail
        return wire


@dataclass
class CallEvents:
    """An EventSink for one tool call: progress goes to the client, the rest is kept for the answer."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, float | None] | None]
    undone: list[UndoEvent] = field(default_factory=list)
    notes: list[tuple[LogLevel, str]] = field(default_factory=list)

    def _send(self, message: str, total: float | None = None) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (message, total))

    def progress(self, slug: str, step: str, index: int, total: int) -> None:
        self._send(f"{slug}: {step} ({index}/{total})", total)

    def undo(self, slug: str, op_id: str, step: UndoStep, state: UndoState, detail: str | None) -> None:
        if state is UndoState.UNDOING:
            self._send(f"{slug}: rolling back: {step.description}")
            return
        self.undone.append(UndoEvent(step.description, step.kind, state, detail))

    def log(self, level: LogLevel, line: str) -> None:
        self.notes.append((level, line))

    def session_changed(self, slug: str) -> None:
        pass  # nobody to tell: an MCP client asks for status

    def announce(self, message: str) -> None:
        """A message of the server's own (e.g. what a cancellation rolled back) as the next progress."""
        self._send(message)


async def _send_progress(ctx: Context, queue: asyncio.Queue[tuple[str, float | None] | None]) -> None:
    """Send each event as `notifications/progress` 1, 2, 3, … (the engine's step count as total);
    shielded, so a cancelled call still reports its rollback."""
    sent = 0
    with anyio.CancelScope(shield=True):
        while (item := await queue.get()) is not None:
            message, total = item
            sent += 1
            with anyio.move_on_after(_NOTIFY_TIMEOUT_SECONDS):
                try:
                    await ctx.report_progress(
                        sent, total if total is not None and sent <= total else None, message
                    )
                except Exception:  # a client that went away: the engine's work goes on regardless
                    logger.debug("progress notification not sent", exc_info=True)


@asynccontextmanager
async def call_events(ctx: Context) -> AsyncIterator[CallEvents]:
    """The call's sink, its sender running until the block ends (everything queued is sent first)."""
    events = CallEvents(asyncio.get_running_loop(), asyncio.Queue())
    async with anyio.create_task_group() as group:
        group.start_soon(_send_progress, ctx, events.queue)
        try:
            yield events
        finally:  # behind whatever the engine's thread has scheduled: the sender ends last
            events.loop.call_soon_threadsafe(events.queue.put_nowait, None)


class EngineBridge:
    """An engine per repository and the worker pool that runs their blocking work."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="berth-mcp")
        self._engines: dict[Path, Engine] = {}

    async def engine(self, root: Path) -> Engine:
        if root not in self._engines:
            built = await self.run_blocking(lambda: _build_engine(root))
            self._engines.setdefault(root, built)
        return self._engines[root]

    async def run_blocking(self, fn: Callable[[], T]) -> T:
        """Blocking work that takes no cancellation token: a cancelled call still waits for it."""
        future = asyncio.wrap_future(self.executor.submit(fn))
        try:
            return await asyncio.shield(future)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await asyncio.gather(future, return_exceptions=True)
            raise

    async def run_engine(
        self,
        fn: Callable[[], T],
        cancel: CancelToken,
        on_cancelled: Callable[[BaseException | None], Awaitable[None]],
    ) -> T:
        """Run a cancellable engine call; when the tool call is cancelled, cancel the token, wait
        (shielded) for the rollback to finish, tell `on_cancelled` how the engine ended (its
        exception, or None when it had finished anyway), then let the cancellation go on."""
        future = asyncio.wrap_future(self.executor.submit(fn))
        try:
            return await asyncio.shield(future)
        except anyio.get_cancelled_exc_class():
            cancel.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(future, return_exceptions=True)
                await on_cancelled(future.exception())
            raise

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _build_engine(root: Path) -> Engine:
    from berth.lifecycle.engine import Engine
    from berth.lifecycle.workspace import Workspace

    return Engine(Workspace(root))
