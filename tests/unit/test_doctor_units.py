"""Fast checks of doctor's and prune's pure parts: markers name their repository, a check that hangs
is given up on in time, and the leftover rules for processes."""

from __future__ import annotations

import threading

import pytest

from berth.domain.envnames import marker_op, marker_root, process_marker
from berth.domain.records import ProcessRecord, SessionRecord
from berth.lifecycle.doctor import _bounded, _TimedOut
from berth.lifecycle.leftovers import MarkedProcess, orphan_processes


def test_a_marker_names_its_operation_and_repository() -> None:
    marker = process_marker("/src/my@app", "up-0123456789ab", "service/web")
    assert marker == "up-0123456789ab/service/web@/src/my@app"
    assert marker_root(marker) == "/src/my@app" and marker_op(marker) == "up-0123456789ab"
    assert marker_root("up-0123456789ab/service/web") is None, "an older berth's marker names no repository"


def test_a_hanging_check_is_given_up_on() -> None:
    release = threading.Event()
    with pytest.raises(_TimedOut):  # without the bound, the check would answer True after 30 s
        _bounded(lambda: release.wait(30), 0.2)
    release.set()
    assert _bounded(lambda: 42, 1) == 42
    with pytest.raises(ZeroDivisionError):
        _bounded(lambda: 1 / 0, 1)


def _session(slug: str, marker: str) -> SessionRecord:
    return SessionRecord.model_validate(
        {
            "slug": slug,
            "branch": slug,
            "mode": "host",
            "slot": 1,
            "status": "active",
            "worktree_path": f"/r/.berth/worktrees/{slug}",
            "worktree_owned": True,
            "env_file": "/x",
            "processes": {
                "web": ProcessRecord(service="web", pid=1, start_time=0.0, log_path="/l", marker=marker)
            },
        }
    )


def test_a_marked_process_is_a_leftover_only_without_session_or_operation() -> None:
    def proc(pid: int, op: str, slug: str | None) -> MarkedProcess:
        return MarkedProcess(pid, 0.0, process_marker("/r", op, "service/web"), slug, "x")

    live = _session("live", process_marker("/r", "up-aaaaaaaaaaaa", "service/web"))
    found = [
        proc(1, "up-aaaaaaaaaaaa", "live"),  # the session's own service
        proc(2, "up-bbbbbbbbbbbb", "live"),  # a post_up hook's daemon of a live session
        proc(3, "up-cccccccccccc", "gone"),  # an operation in flight (or abandoned: its journal has it)
        proc(4, "up-dddddddddddd", "gone"),  # nobody's
        proc(5, "up-eeeeeeeeeeee", None),
    ]
    orphans = orphan_processes(found, [live], ["up-cccccccccccc"])
    assert [p.pid for p in orphans] == [4, 5]
