"""Noticing session changes, including those made by other processes (the CLI, another server), by
polling each repository's state revision counter: a cheap single-row read."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from berth.errors import BerthError
from berth.rpc.protocol import SessionChangedNotification
from berth.views import session_view
from berth.workspace import Workspace

logger = logging.getLogger(__name__)
Broadcast = Callable[[str, Any], None]


class SessionWatcher:
    def __init__(self, broadcast: Broadcast, *, poll_seconds: float) -> None:
        self.broadcast = broadcast
        self.poll_seconds = poll_seconds
        self._workspaces: dict[str, Workspace] = {}
        self._revision: dict[str, int] = {}
        self._seen: dict[str, dict[str, tuple[str, str, str | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def watch(self, ws: Workspace) -> None:
        key = str(ws.root)
        if key in self._workspaces:
            return
        self._workspaces[key] = ws
        if (ws.state_dir / "state.db").exists():
            self._revision[key] = ws.store.revision()
            self._seen[key] = self._snapshot(ws)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def poke(self) -> None:
        """Check now (an operation of this server just changed something)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            for key, ws in list(self._workspaces.items()):
                try:
                    self._check(key, ws)
                except BerthError as exc:
                    logger.warning("cannot watch %s: %s", key, exc)
                except Exception:
                    logger.exception("session watcher failed for %s", key)

    def _check(self, key: str, ws: Workspace) -> None:
        if not (ws.state_dir / "state.db").exists():
            return
        revision = ws.store.revision()
        if revision == self._revision.get(key):
            return
        self._revision[key] = revision
        before = self._seen.get(key, {})
        records = {s.slug: s for s in ws.store.list_sessions()}
        after = {slug: (r.status.value, r.updated_at.isoformat(), r.op_id) for slug, r in records.items()}
        self._seen[key] = after
        for slug, sig in after.items():
            if before.get(slug) != sig:
                record = records[slug]
                self.broadcast(
                    "berth/sessionChanged",
                    SessionChangedNotification(slug=slug, status=record.status, session=session_view(record)),
                )
        for slug in before.keys() - after.keys():
            self.broadcast("berth/sessionChanged", SessionChangedNotification(slug=slug, status="removed"))

    @staticmethod
    def _snapshot(ws: Workspace) -> dict[str, tuple[str, str, str | None]]:
        return {s.slug: (s.status.value, s.updated_at.isoformat(), s.op_id) for s in ws.store.list_sessions()}
