"""The rollback guard: one undo stack per operation, persisted in a journal, unwound newest first.

A step writes its undo record *before* it starts (state ``intent``) and marks it ``done`` when it
succeeds, so a process killed mid-step still leaves a record another process can replay. Undo
records are data (a kind plus JSON arguments) run by an :class:`UndoRegistry`; handlers are
idempotent and accept a resource that was half created or never created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from berth.domain.records import JournalState
from berth.domain.undo import UndoState, UndoStep


class UndoJournal(Protocol):
    def journal_intent(self, op_id: str, kind: str, args: dict[str, Any], description: str) -> int: ...
    def journal_mark(self, entry_id: int, state: JournalState, error: str | None = None) -> None: ...
    def journal_update_args(self, entry_id: int, args: dict[str, Any]) -> None: ...


UndoHandler = Callable[[Mapping[str, Any]], None]
UndoListener = Callable[[UndoStep, UndoState, "str | None"], None]


class UnknownUndoKind(Exception):
    pass


class UndoRegistry:
    """Maps an undo kind to the function that performs it."""

    def __init__(self, handlers: Mapping[str, UndoHandler] | None = None) -> None:
        self._handlers: dict[str, UndoHandler] = dict(handlers or {})

    def run(self, step: UndoStep) -> None:
        handler = self._handlers.get(step.kind)
        if handler is None:
            raise UnknownUndoKind(f"no undo handler for {step.kind!r}")
        handler(step.args)


@dataclass(frozen=True)
class UndoResult:
    step: UndoStep
    ok: bool
    error: str | None = None


@dataclass
class _Entry:
    entry_id: int
    step: UndoStep


@dataclass
class StepHandle:
    """Lets a running step refine its undo record once it knows more (e.g. the pid it spawned)."""

    _guard: RollbackGuard
    _entry: _Entry

    def update(self, **args: Any) -> None:
        merged = {**self._entry.step.args, **args}
        self._entry.step = UndoStep(self._entry.step.kind, merged, self._entry.step.description)
        self._guard.journal.journal_update_args(self._entry.entry_id, merged)


@dataclass
class RollbackGuard:
    op_id: str
    journal: UndoJournal
    registry: UndoRegistry
    listener: UndoListener | None = None
    _stack: list[_Entry] = field(default_factory=list)
    _armed: bool = True
    results: list[UndoResult] = field(default_factory=list)

    @classmethod
    def resume(
        cls,
        op_id: str,
        entries: Sequence[tuple[int, UndoStep]],
        journal: UndoJournal,
        registry: UndoRegistry,
        listener: UndoListener | None = None,
    ) -> RollbackGuard:
        """Rebuild the stack of an operation from its journal (crash recovery)."""
        guard = cls(op_id, journal, registry, listener)
        guard._stack = [_Entry(entry_id, step) for entry_id, step in entries]
        return guard

    def __len__(self) -> int:
        return len(self._stack)

    def push(self, step: UndoStep) -> None:
        """Register the inverse of a step that already succeeded. Ignored once disarmed."""
        if not self._armed:
            return
        entry_id = self.journal.journal_intent(self.op_id, step.kind, dict(step.args), step.description)
        self.journal.journal_mark(entry_id, JournalState.DONE)
        self._stack.append(_Entry(entry_id, step))

    @contextmanager
    def step(self, undo: UndoStep) -> Iterator[StepHandle]:
        """Journal `undo` before the step runs; mark it done when the body succeeds.

        If the body fails the record stays on the stack, so the half-done step is undone too.
        """
        if not self._armed:
            raise RuntimeError("a disarmed guard takes no more steps")
        entry = _Entry(
            self.journal.journal_intent(self.op_id, undo.kind, dict(undo.args), undo.description), undo
        )
        self._stack.append(entry)
        yield StepHandle(self, entry)
        self.journal.journal_mark(entry.entry_id, JournalState.DONE)

    def disarm(self) -> None:
        self._armed = False
        self._stack.clear()

    def rollback(self) -> list[UndoResult]:
        """Run every inverse newest first; a failing one is reported and the rest still run."""
        results: list[UndoResult] = []
        while self._stack:
            entry = self._stack.pop()
            results.append(self._undo(entry))
        self._armed = False
        self.results.extend(results)
        return results

    def _undo(self, entry: _Entry) -> UndoResult:
        self._notify(entry.step, UndoState.UNDOING, None)
        try:
            self.registry.run(entry.step)
        except Exception as exc:  # an undo failure must not stop the others
            detail = f"{type(exc).__name__}: {exc}"
            self.journal.journal_mark(entry.entry_id, JournalState.FAILED, detail)
            self._notify(entry.step, UndoState.FAILED, detail)
            return UndoResult(entry.step, ok=False, error=detail)
        self.journal.journal_mark(entry.entry_id, JournalState.UNDONE)
        self._notify(entry.step, UndoState.UNDONE, None)
        return UndoResult(entry.step, ok=True)

    def _notify(self, step: UndoStep, state: UndoState, detail: str | None) -> None:
        if self.listener is not None:
            self.listener(step, state, detail)

    def __enter__(self) -> RollbackGuard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None and self._armed:
            self.rollback()
