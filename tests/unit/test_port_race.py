"""The port race's pure parts: moving one lease in one transaction, and reading which host ports a
failed `compose up` names as taken."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from berth.adapters.processes import OsProcesses
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.ports import PortRequest
from berth.modes.compose.port_race import conflicting_ports
from berth.state.store import SessionStore


class Probe:
    """A host where exactly `taken` ports are in use."""

    def __init__(self, taken: set[int]) -> None:
        self.taken = taken

    def is_taken(self, port: int, protocol: str = "tcp") -> bool:
        return port in self.taken

    def describe_holder(self, port: int, protocol: str = "tcp") -> str:
        return "in use (test)"


def leases(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT port, protocol, slug, service, op_id FROM leases ORDER BY port"
        ).fetchall()


def test_move_lease_releases_the_taken_port_and_leases_the_next_free_candidate(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SessionStore(db, OsProcesses())
    store.lease_ports("aa", "op-1", [PortRequest("web", 44001, [44001, 44009], strict=False)], Probe(set()))
    store.lease_ports("bb", "op-2", [PortRequest("web", 44009, [44009], strict=False)], Probe(set()))
    request = PortRequest("web", 44009, [44009, 44017, 44025], strict=False)

    moved = store.move_lease("aa", "op-1", request, 44001, Probe({44017}))

    assert moved == 44025, "44009 is bb's lease, 44017 is taken on the host"
    assert leases(db) == [(44009, "tcp", "bb", "web", "op-2"), (44025, "tcp", "aa", "web", "op-1")]
    store.release_leases("aa", "op-1")  # the bring-up's journalled undo releases the new lease
    assert leases(db) == [(44009, "tcp", "bb", "web", "op-2")]


def test_a_move_with_no_free_candidate_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SessionStore(db, OsProcesses())
    store.lease_ports("aa", "op-1", [PortRequest("web", 44001, [44001], strict=False)], Probe(set()))
    with pytest.raises(BerthError) as info:
        store.move_lease(
            "aa", "op-1", PortRequest("web", 44009, [44009], strict=False), 44001, Probe({44009})
        )
    assert info.value.code is ErrorCode.PORT_EXHAUSTED
    assert leases(db) == [(44001, "tcp", "aa", "web", "op-1")], "the old lease is still there"


@pytest.mark.parametrize(
    ("line", "ports"),
    [
        (
            "Error response from daemon: driver failed programming external connectivity on endpoint "
            "x-web-1 (3f0c): Bind for 0.0.0.0:44009 failed: port is already allocated",
            {44009},
        ),
        (
            "Error response from daemon: driver failed programming external connectivity on endpoint x-web-1: "
            "Error starting userland proxy: listen tcp4 0.0.0.0:44001: bind: address already in use",
            {44001},
        ),
        ("Bind for [::]:44017 failed: port is already allocated", {44017}),
        ("container x-web-1 is unhealthy", set()),
    ],
)
def test_conflicting_ports_are_read_from_compose_output(line: str, ports: set[int]) -> None:
    exc = BerthError(
        ErrorCode.COMPOSE_FAILED, "docker compose up failed", "hint", output=["Container x Starting", line]
    )
    assert conflicting_ports(exc) == ports
    assert conflicting_ports(BerthError(ErrorCode.HOOK_FAILED, line, "hint")) == set()
