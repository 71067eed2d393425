"""The SQLite state store: slots, leases, busy sessions, stale operations, corruption."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from berth.adapters.processes import OsProcesses
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.models import SessionStatus
from berth.domain.ports import PortRequest
from berth.domain.records import OperationKind, SessionRecord
from berth.domain.undo import UndoStep
from berth.modes import undo
from berth.state.store import Reservation, SessionStore, StaleOperation


class Probe:
    """A host where exactly `taken` ports are in use."""

    def __init__(self, taken: set[int]) -> None:
        self.taken = taken

    def is_taken(self, port: int, protocol: str = "tcp") -> bool:
        return port in self.taken and protocol == "tcp"

    def describe_holder(self, port: int, protocol: str = "tcp") -> str:
        return "in use (test)"


def session_factory(slug: str):  # type: ignore[no-untyped-def]
    def make(slot: int) -> SessionRecord:
        return SessionRecord(
            slug=slug,
            branch=slug,
            mode="host",
            slot=slot,
            status=SessionStatus.PENDING,
            worktree_path=f"/tmp/{slug}",
            worktree_owned=True,
            env_file=f"/tmp/{slug}/.env.berth",
        )

    return make


def undo_for(prev: SessionRecord | None, op_id: str) -> UndoStep:
    return undo.forget_session("x", op_id)


def reserve(store: SessionStore, slug: str, max_slots: int = 3) -> Reservation:
    return store.reserve(
        slug=slug,
        branch=slug,
        kind=OperationKind.UP,
        max_slots=max_slots,
        new_session=session_factory(slug),
        undo_for=undo_for,
    )


def test_first_free_slot_and_exhaustion(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db", OsProcesses())
    assert [reserve(store, s).session.slot for s in ("aa", "bb", "cc")] == [1, 2, 3]
    with pytest.raises(BerthError) as info:
        reserve(store, "dd")
    assert info.value.code is ErrorCode.SLOTS_EXHAUSTED
    store.delete_session("aa", op_id=store.get_session("aa").op_id)  # type: ignore[union-attr]
    assert reserve(store, "ee").session.slot == 1


def test_busy_slug_is_refused_while_its_owner_lives(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db", OsProcesses())
    reserve(store, "aa")
    with pytest.raises(BerthError) as info:
        reserve(store, "aa")
    assert info.value.code is ErrorCode.SESSION_BUSY


def _reserve_in_child(db: str) -> None:
    reserve(SessionStore(Path(db), OsProcesses()), "aa")


def test_slug_held_by_a_dead_owner_is_stale(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    SessionStore(db, OsProcesses())
    child = multiprocessing.get_context("fork").Process(target=_reserve_in_child, args=(str(db),))
    child.start()
    child.join()
    store = SessionStore(db, OsProcesses())
    with pytest.raises(StaleOperation):
        reserve(store, "aa")
    assert [op.slug for op in store.abandoned_operations()] == ["aa"]


def test_slug_conflict_between_branches(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db", OsProcesses())
    r = reserve(store, "feat-x")
    store.finish_operation(r.operation.op_id, "done")
    with pytest.raises(BerthError) as info:
        store.reserve(
            slug="feat-x",
            branch="feat/x",
            kind=OperationKind.UP,
            max_slots=3,
            new_session=None,
            undo_for=undo_for,
        )
    assert info.value.code is ErrorCode.SLUG_CONFLICT


def test_leases_never_collide_and_skip_taken_ports(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db", OsProcesses())
    taken = {5001}
    a = store.lease_ports(
        "aa", "op-a", [PortRequest("web", 5001, [5001, 5009, 5017], strict=False)], Probe(taken)
    )
    b = store.lease_ports("bb", "op-b", [PortRequest("web", 5009, [5009, 5017], strict=False)], Probe(set()))
    assert a == {"web": 5009}
    assert b == {"web": 5017}, "a port leased to another session is never handed out again"
    with pytest.raises(BerthError) as info:
        store.lease_ports("cc", "op-c", [PortRequest("web", 5017, [5017], strict=True)], Probe(set()))
    assert info.value.code is ErrorCode.PORT_IN_USE and "leased to session 'bb'" in info.value.message
    with pytest.raises(BerthError) as info:
        store.lease_ports("cc", "op-c", [PortRequest("web", 5017, [5017, 5009], strict=False)], Probe(set()))
    assert info.value.code is ErrorCode.PORT_EXHAUSTED
    assert store.release_leases("aa", "op-other") == 0
    assert store.release_leases("aa", "op-a") == 1


def test_two_services_of_one_session_never_share_a_port_and_a_resume_keeps_its_own(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db", OsProcesses())
    # unstract's shape: skipping the file's own ports brings two services to the same next candidate
    api = PortRequest("worker-api", 8094, [8094, 8098], strict=False)
    notify = PortRequest("worker-notification", 8094, [8094, 8098], strict=False)
    assert store.lease_ports("aa", "op-a", [api, notify], Probe(set())) == {
        "worker-api": 8094,
        "worker-notification": 8098,
    }
    resumed = PortRequest("worker-notification", 8098, [8098, 8094], strict=False)
    assert store.lease_ports("aa", "op-a2", [resumed], Probe({8098})) == {"worker-notification": 8098}, (
        "its own lease is the service's even while its own process holds the port"
    )


def test_corrupt_state_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BerthError) as info:
        SessionStore(db, OsProcesses()).list_sessions()
    assert info.value.code is ErrorCode.STATE_CORRUPT
    assert db.read_bytes() == b"this is not sqlite" * 100


def test_tcp_and_udp_are_separate_and_blocks_are_leased_whole(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db", OsProcesses())
    tcp = PortRequest("dns", 5300, [5300], strict=False)
    udp = PortRequest("dns-udp", 5300, [5300], strict=False, protocol="udp")
    assert store.lease_ports("aa", "op-a", [tcp, udp], Probe(set())) == {"dns": 5300, "dns-udp": 5300}
    block = PortRequest("media", 5300, [5300, 5310, 5320], strict=False, protocol="udp", width=3)
    assert store.lease_ports("bb", "op-b", [block], Probe(set())) == {"media": 5310}, "5300/udp is aa's"
    overlapping = PortRequest("rtp", 5311, [5311, 5313], strict=False, protocol="udp")
    assert store.lease_ports("cc", "op-c", [overlapping], Probe(set())) == {"rtp": 5313}


def test_subnets_never_overlap_other_sessions_or_the_engine(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db", OsProcesses())
    wanted = [("back", ["172.28.0.0/16", "172.29.0.0/16", "172.30.0.0/16"])]
    assert store.lease_subnets("aa", "op-a", wanted, in_use=["172.17.0.0/16"]) == {"back": "172.28.0.0/16"}
    assert store.lease_subnets("bb", "op-b", wanted, in_use=["172.29.5.0/24"]) == {"back": "172.30.0.0/16"}
    assert store.lease_subnets("aa", "op-a2", wanted, in_use=[]) == {"back": "172.28.0.0/16"}, "kept on re-up"
    store.release_leases("aa")
    assert store.lease_subnets("cc", "op-c", wanted, in_use=[]) == {"back": "172.28.0.0/16"}


def test_a_version_1_state_file_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "s.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE leases (port INTEGER PRIMARY KEY, slug TEXT NOT NULL, service TEXT NOT NULL, op_id TEXT);"
        "INSERT INTO leases VALUES (4001, 'aa', 'web', NULL); PRAGMA user_version = 1;"
    )
    conn.close()
    store = SessionStore(db, OsProcesses())
    taken = PortRequest("web", 4001, [4001, 4009], strict=False)
    assert store.lease_ports("bb", "op-b", [taken], Probe(set())) == {"web": 4009}, "aa's tcp lease survived"


def _open_and_lease(path: str, index: int, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        store = SessionStore(Path(path), OsProcesses())
        ports = store.lease_ports(
            f"s{index}",
            f"op-{index}",
            [PortRequest("web", 6000, list(range(6000, 6040)), strict=False)],
            Probe(set()),
        )
        results.put(("ok", ports["web"]))  # type: ignore[attr-defined]
    except BerthError as exc:
        results.put((exc.code.value, exc.message))  # type: ignore[attr-defined]


def test_processes_creating_the_state_file_at_once_all_get_it(tmp_path: Path) -> None:
    """Two `berth up` in a fresh repository: both create the state file (schema, WAL) at the same
    moment. SQLite refuses the loser at once (no busy wait for a journal-mode change), which must be
    retried, not reported as a store locked for 10 s."""
    ctx = multiprocessing.get_context("fork")
    for attempt in range(5):
        db = tmp_path / f"s{attempt}.db"
        barrier, results = ctx.Barrier(6), ctx.Queue()
        children = [
            ctx.Process(target=_open_and_lease, args=(str(db), i, barrier, results)) for i in range(6)
        ]
        for c in children:
            c.start()
        outcomes = [results.get(timeout=30) for _ in children]
        for c in children:
            c.join()
        assert all(kind == "ok" for kind, _ in outcomes), outcomes
        assert len({port for _, port in outcomes}) == 6, "and each got its own port"
