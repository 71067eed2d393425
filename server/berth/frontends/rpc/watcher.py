"""Noticing session changes, including those made by other processes (the CLI, another server), by
polling each repository's state revision counter: a cheap single-row read, done on the worker pool
so the event loop never waits on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from berth.domain.errors import BerthError

if TYPE_CHECKING:  # the engine's modules load on the first request, after `initialize` is answered
    from berth.frontends.rpc.protocol import SessionChangedNotification
    from berth.lifecycle.workspace import Workspace

logger = logging.getLogger(__name__)
Broadcast = Callable[[str, Any], None]
_Signature = tuple[str, str, str | None]


class SessionWatcher:
    def __init__(self, broadcast: Broadcast, executor: Executor, *, poll_seconds: float) -> None:
        self.broadcast = broadcast
        self.executor = executor
        self.poll_seconds = poll_seconds
        self._workspaces: dict[str, Workspace] = {}
        self._revision: dict[str, int] = {}
        self._seen: dict[str, dict[str, _Signature]] = {}
        self._baselines: dict[str, asyncio.Future[list[SessionChangedNotification]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def watch(self, ws: Workspace) -> None:
        """Start watching `ws`; returns once the baseline is read, so a change the caller makes
        next is noticed against it."""
        key = str(ws.root)
        if key not in self._baselines:
            self._workspaces[key] = ws
            loop = asyncio.get_running_loop()
            self._baselines[key] = asyncio.ensure_future(
                loop.run_in_executor(self.executor, self._changes, key, ws)
            )
            if self._task is None:
                self._task = loop.create_task(self._run())
        with contextlib.suppress(Exception):  # an unreadable state file is reported by the request
            await asyncio.shield(self._baselines[key])

    def poke(self) -> None:
        """Check now (an operation of this server just changed something)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            for key, ws in list(self._workspaces.items()):
                if not self._baselines[key].done():
                    continue
                try:
                    notes = await loop.run_in_executor(self.executor, self._changes, key, ws)
                except BerthError as exc:
                    logger.warning("cannot watch %s: %s", key, exc)
                    continue
                except Exception:
                    logger.exception("session watcher failed for %s", key)
                    continue
                for note in notes:
                    self.broadcast("berth/sessionChanged", note)

    def _changes(self, key: str, ws: Workspace) -> list[SessionChangedNotification]:
        """What changed since the last look (blocking: reads the state file)."""
        from berth.frontends.rpc.protocol import SessionChangedNotification
        from berth.lifecycle.views import session_view

        if not ws.layout.state_file.exists():
            return []
        revision = ws.store.revision()
        if revision == self._revision.get(key):
            return []
        self._revision[key] = revision
        before = self._seen.get(key, {})
        records = {s.slug: s for s in ws.store.list_sessions()}
        after = {slug: (r.status.value, r.updated_at.isoformat(), r.op_id) for slug, r in records.items()}
        self._seen[key] = after
        notes = [
            SessionChangedNotification(
                slug=slug, status=records[slug].status, session=session_view(records[slug])
            )
            for slug, sig in after.items()
            if before.get(slug) != sig
        ]
        notes += [
            SessionChangedNotification(slug=slug, status="removed") for slug in before.keys() - after.keys()
        ]
        return notes
