"""Port leases per Docker engine: a remote engine's ports never collide with this machine's, two
sessions on one engine never share one, and a version-2 state file keeps its leases as this machine's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from berth.adapters.processes import OsProcesses
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.ports import PortRequest
from berth.state.store import SessionStore
from unit.test_store import Probe

REMOTE = "tcp://10.231.0.2:2376"


def fixed(port: int) -> PortRequest:
    return PortRequest("web", port, [port], strict=True, fixed=True)


def test_the_same_port_on_two_engines_and_never_twice_on_one(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db", OsProcesses())

    here = store.lease_ports("aa", "op-a", [fixed(5000)], Probe(set()))
    there = store.lease_ports("bb", "op-b", [fixed(5000)], Probe(set()), engine=REMOTE)
    with pytest.raises(BerthError) as caught:
        store.lease_ports("cc", "op-c", [fixed(5000)], Probe(set()), engine=REMOTE)

    assert here == there == {"web": 5000}
    assert caught.value.code is ErrorCode.PORT_IN_USE and "'bb'" in caught.value.message
    assert {(lease.slug, lease.engine) for lease in store.leases()} == {("aa", ""), ("bb", REMOTE)}
    moved = store.move_lease(
        "bb", "op-b", PortRequest("web", 5000, [5001], strict=False), 5000, Probe(set()), engine=REMOTE
    )
    assert moved == 5001 and {(x.slug, x.port, x.engine) for x in store.leases()} == {
        ("aa", 5000, ""),
        ("bb", 5001, REMOTE),
    }


def test_a_version_2_state_file_keeps_its_leases_as_this_machines(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE leases (port INTEGER NOT NULL, protocol TEXT NOT NULL, slug TEXT NOT NULL, "
        "service TEXT NOT NULL, op_id TEXT, PRIMARY KEY (port, protocol));"
        "INSERT INTO leases VALUES (4001, 'tcp', 'aa', 'web', NULL); PRAGMA user_version = 2;"
    )
    conn.close()

    store = SessionStore(db, OsProcesses())

    [lease] = store.leases()
    assert (lease.port, lease.slug, lease.engine) == (4001, "aa", "")
    taken = PortRequest("web", 4001, [4001, 4009], strict=False)
    assert store.lease_ports("bb", "op-b", [taken], Probe(set())) == {"web": 4009}
    assert store.lease_ports("cc", "op-c", [taken], Probe(set()), engine=REMOTE) == {"web": 4001}
