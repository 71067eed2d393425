"""State shared by every connection of one `berth serve`: an engine per repository, the session
watcher, and the worker pool that runs blocking engine work off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from berth.frontends.rpc.lazy import ENGINE_MODULES, warm_up
from berth.frontends.rpc.watcher import SessionWatcher

if TYPE_CHECKING:  # imported on the first request, after `initialize` is answered (server start-up)
    from berth.lifecycle.engine import Engine


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
        self._building: dict[Path, asyncio.Future[Engine]] = {}
        self._warming = False

    async def engine(self, root: Path) -> Engine:
        """The repository's engine, its sessions watched from now on. Built on the worker pool (the
        first one imports the engine's modules, unless the warm-up did already)."""
        if root not in self._engines:
            building = self._building.get(root)
            if building is None:
                building = asyncio.wrap_future(self.executor.submit(_build_engine, root))
                self._building[root] = building
            try:
                built = await asyncio.shield(building)
            finally:
                if building.done():
                    self._building.pop(root, None)
            self._engines.setdefault(root, built)
        await self.watcher.watch(self._engines[root].ws)
        return self._engines[root]

    def warm_up(self) -> None:
        """Import what later requests need, on the worker pool, once `initialize` is answered."""
        if not self._warming:
            self._warming = True
            self.executor.submit(warm_up, *ENGINE_MODULES)

    def broadcast(self, method: str, params: Any) -> None:
        for conn in list(self.connections):
            conn.notify_if_open(method, params)


def _build_engine(root: Path) -> Engine:
    from berth.lifecycle.engine import Engine
    from berth.lifecycle.workspace import Workspace

    return Engine(Workspace(root))
