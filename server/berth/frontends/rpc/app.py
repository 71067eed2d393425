"""State shared by every connection of one `berth serve`: an engine per repository, the session
watcher, and the worker pool that runs blocking engine work off the event loop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from berth.frontends.rpc.watcher import SessionWatcher
from berth.lifecycle.engine import Engine
from berth.lifecycle.workspace import Workspace


class Connection(Protocol):
    def notify_if_open(self, method: str, params: Any) -> None:
        """Send a notification unless the connection is not initialized yet or closing."""
        ...


class BerthApp:
    def __init__(self, *, token: str | None = None, poll_seconds: float = 0.25) -> None:
        self.token = token
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="berth-op")
        self.connections: set[Connection] = set()
        self.watcher = SessionWatcher(self.broadcast, self.executor, poll_seconds=poll_seconds)
        self._engines: dict[Path, Engine] = {}

    async def engine(self, root: Path) -> Engine:
        """The repository's engine, its sessions watched from now on."""
        if root not in self._engines:
            self._engines[root] = Engine(Workspace(root))
        await self.watcher.watch(self._engines[root].ws)
        return self._engines[root]

    def broadcast(self, method: str, params: Any) -> None:
        for conn in list(self.connections):
            conn.notify_if_open(method, params)
