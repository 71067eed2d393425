"""The rollback guard alone: LIFO, disarm, journal-before-step, failing undos."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from berth.adapters.processes import OsProcesses
from berth.state.rollback import RollbackGuard, UndoRegistry, UndoStep
from berth.state.store import SessionStore


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "state.db", OsProcesses())


def recording_registry(log: list[str], *, failing: set[str] = frozenset()) -> UndoRegistry:  # type: ignore[assignment]
    def handler(args: Mapping[str, Any]) -> None:
        if args["name"] in failing:
            raise RuntimeError(f"cannot undo {args['name']}")
        log.append(args["name"])

    return UndoRegistry({"record": handler})


def step(name: str) -> UndoStep:
    return UndoStep("record", {"name": name}, f"undo {name}")


def test_unwinds_newest_first_on_exception(store: SessionStore) -> None:
    log: list[str] = []
    with pytest.raises(ValueError), RollbackGuard("op-1", store, recording_registry(log)) as guard:
        guard.push(step("a"))
        guard.push(step("b"))
        guard.push(step("c"))
        raise ValueError("boom")
    assert log == ["c", "b", "a"]


def test_keyboard_interrupt_also_rolls_back(store: SessionStore) -> None:
    log: list[str] = []
    with pytest.raises(KeyboardInterrupt), RollbackGuard("op-1", store, recording_registry(log)) as guard:
        guard.push(step("a"))
        raise KeyboardInterrupt
    assert log == ["a"]


def test_disarm_keeps_everything_and_later_pushes_never_run(store: SessionStore) -> None:
    log: list[str] = []
    with pytest.raises(ValueError), RollbackGuard("op-1", store, recording_registry(log)) as guard:
        guard.push(step("a"))
        guard.disarm()
        guard.push(step("after-disarm"))
        raise ValueError("late failure")
    assert log == []
    assert len(guard) == 0


def test_clean_exit_without_disarm_does_not_unwind(store: SessionStore) -> None:
    log: list[str] = []
    with RollbackGuard("op-1", store, recording_registry(log)) as guard:
        guard.push(step("a"))
    assert log == []


def test_failing_undo_does_not_stop_the_others_and_is_reported(store: SessionStore) -> None:
    log: list[str] = []
    events: list[tuple[str, str, str | None]] = []
    guard = RollbackGuard(
        "op-1",
        store,
        recording_registry(log, failing={"b"}),
        lambda s, state, detail: events.append((s.args["name"], state, detail)),
    )
    for name in "abc":
        guard.push(step(name))
    results = guard.rollback()
    assert log == ["c", "a"]
    assert [(r.step.args["name"], r.ok) for r in results] == [("c", True), ("b", False), ("a", True)]
    assert ("b", "failed", "RuntimeError: cannot undo b") in events
    states = {e.args["name"]: e.state for e in store.journal("op-1")}
    assert states == {"a": "undone", "b": "failed", "c": "undone"}, "the failed undo stays for recover"


def test_step_journals_intent_before_the_body_runs(store: SessionStore) -> None:
    guard = RollbackGuard("op-1", store, recording_registry([]))
    seen_inside: list[str] = []
    with guard.step(step("worktree")):
        seen_inside = [e.state for e in store.journal("op-1")]
    assert seen_inside == ["intent"], "the undo record must be persisted before the step starts"
    assert [e.state for e in store.journal("op-1")] == ["done"]


def test_a_step_that_fails_midway_is_undone_too(store: SessionStore) -> None:
    log: list[str] = []
    with pytest.raises(OSError), RollbackGuard("op-1", store, recording_registry(log)) as guard:
        guard.push(step("first"))
        with guard.step(step("half-created")):
            raise OSError("died mid-step")
    assert log == ["half-created", "first"]


def test_step_handle_refines_the_persisted_record(store: SessionStore) -> None:
    guard = RollbackGuard("op-1", store, recording_registry([]))
    with guard.step(UndoStep("record", {"name": "svc", "pid": None}, "stop svc")) as handle:
        handle.update(pid=4242)
    assert store.journal("op-1")[0].args == {"name": "svc", "pid": 4242}


def test_resume_replays_a_journal_from_another_process(store: SessionStore) -> None:
    first = RollbackGuard("op-9", store, recording_registry([]))
    first.push(step("a"))
    with first.step(step("b")):
        pass
    entries = [(e.id, UndoStep(e.kind, e.args, e.description)) for e in store.journal("op-9")]
    log: list[str] = []
    RollbackGuard.resume("op-9", entries, store, recording_registry(log)).rollback()
    assert log == ["b", "a"]


def test_unknown_undo_kind_is_a_reported_failure(store: SessionStore) -> None:
    guard = RollbackGuard("op-1", store, UndoRegistry())
    guard.push(UndoStep("nope", {}, "mystery"))
    (result,) = guard.rollback()
    assert not result.ok and "no undo handler" in (result.error or "")
