"""How the engine reports what it does. The CLI renders these; the RPC layer turns them into
notifications. The engine knows nothing about either."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from berth.domain.undo import UndoState, UndoStep

LogLevel = Literal["info", "warning", "error"]


class EventSink(Protocol):
    def progress(self, slug: str, step: str, index: int, total: int) -> None: ...
    def undo(self, slug: str, op_id: str, step: UndoStep, state: UndoState, detail: str | None) -> None: ...
    def log(self, level: LogLevel, line: str) -> None: ...
    def session_changed(self, slug: str) -> None: ...


class NullSink:
    def progress(self, slug: str, step: str, index: int, total: int) -> None:
        pass

    def undo(self, slug: str, op_id: str, step: UndoStep, state: UndoState, detail: str | None) -> None:
        pass

    def log(self, level: LogLevel, line: str) -> None:
        pass

    def session_changed(self, slug: str) -> None:
        pass


@dataclass
class RecordingSink:
    """Keeps every event; used by tests and by callers that summarise afterwards."""

    progress_events: list[tuple[str, str, int, int]] = field(default_factory=list)
    undo_events: list[tuple[str, str, str, UndoState, str | None]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def progress(self, slug: str, step: str, index: int, total: int) -> None:
        self.progress_events.append((slug, step, index, total))

    def undo(self, slug: str, op_id: str, step: UndoStep, state: UndoState, detail: str | None) -> None:
        self.undo_events.append((slug, op_id, step.kind, state, detail))

    def log(self, level: LogLevel, line: str) -> None:
        self.logs.append((level, line))

    def session_changed(self, slug: str) -> None:
        self.changed.append(slug)
