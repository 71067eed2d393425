"""The one SQLite state file: sessions, port leases, operations and their undo journal.

Every method is one short transaction. Allocation uses BEGIN IMMEDIATE so two processes never get the
same slot or port, and no transaction is ever held across a slow step.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction, session_not_found
from berth.domain.ports import PortProbe, PortRequest
from berth.domain.records import (
    JournalEntry,
    JournalState,
    OperationKind,
    OperationRecord,
    OperationStatus,
    ProcessIdentity,
    SessionRecord,
    utcnow,
)
from berth.domain.undo import UndoStep
from berth.state.version import SCHEMA_VERSION

_BUSY_SECONDS = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    slug TEXT PRIMARY KEY,
    slot INTEGER NOT NULL UNIQUE,
    op_id TEXT,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    port INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    slug TEXT NOT NULL,
    service TEXT NOT NULL,
    op_id TEXT,
    engine TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (engine, port, protocol)
);
CREATE TABLE IF NOT EXISTS subnets (
    subnet TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    network TEXT NOT NULL,
    op_id TEXT
);
CREATE TABLE IF NOT EXISTS operations (
    op_id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner_pid INTEGER NOT NULL,
    owner_start REAL NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    description TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS journal_by_op ON journal(op_id, id);
CREATE TABLE IF NOT EXISTS revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO revision VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS bump_on_insert AFTER INSERT ON sessions
    BEGIN UPDATE revision SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS bump_on_update AFTER UPDATE ON sessions
    BEGIN UPDATE revision SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS bump_on_delete AFTER DELETE ON sessions
    BEGIN UPDATE revision SET value = value + 1; END;
"""
_MIGRATIONS = {
    # 1 -> 2: a lease is a (port, protocol) pair; networks lease subnets (created by _SCHEMA)
    1: """
ALTER TABLE leases RENAME TO leases_v1;
CREATE TABLE leases (
    port INTEGER NOT NULL, protocol TEXT NOT NULL, slug TEXT NOT NULL, service TEXT NOT NULL, op_id TEXT,
    PRIMARY KEY (port, protocol)
);
INSERT INTO leases SELECT port, 'tcp', slug, service, op_id FROM leases_v1;
DROP TABLE leases_v1;
""",
    # 2 -> 3: leases are per Docker engine ('' = this machine: native services and local engines), so a
    # remote engine's ports never collide with this machine's
    2: """
ALTER TABLE leases RENAME TO leases_v2;
CREATE TABLE leases (
    port INTEGER NOT NULL, protocol TEXT NOT NULL, slug TEXT NOT NULL, service TEXT NOT NULL, op_id TEXT,
    engine TEXT NOT NULL DEFAULT '', PRIMARY KEY (engine, port, protocol)
);
INSERT INTO leases SELECT port, protocol, slug, service, op_id, '' FROM leases_v2;
DROP TABLE leases_v2;
""",
}


_INSERT_LEASE = (
    "INSERT INTO leases (port, protocol, slug, service, op_id, engine) VALUES (?, ?, ?, ?, ?, ?) "
    # a port this session already leases keeps its original op, so a failed resume never releases it
    "ON CONFLICT(engine, port, protocol) DO NOTHING"
)


class ProcessLiveness(Protocol):
    """Who is this process, and is an operation's owner still alive (adapters/processes.py)."""

    def current(self) -> ProcessIdentity: ...
    def is_alive(self, identity: ProcessIdentity) -> bool: ...


@dataclass(frozen=True)
class Reservation:
    session: SessionRecord
    previous: SessionRecord | None
    operation: OperationRecord
    first_undo: tuple[int, UndoStep]
    """Journalled in the same transaction as the claim, so a crash right after it is recoverable."""


UndoFor = Callable[[SessionRecord | None, str], UndoStep]


class StaleOperation(Exception):
    """The slug is held by an operation whose owner process died; recover it, then retry."""

    def __init__(self, op_id: str) -> None:
        super().__init__(op_id)
        self.op_id = op_id


class SessionStore:
    def __init__(self, path: Path, processes: ProcessLiveness) -> None:
        self.path = path
        self.processes = processes
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._guard_corruption():
            self._open_retrying()

    def _open_retrying(self) -> None:
        """Open the file, switch it to WAL and bring its schema up to date. Processes that create
        the file at the same moment (two `berth up` in a fresh repository) can be refused at once,
        without SQLite's busy wait (a journal-mode change, or a schema another process just
        committed under this connection's snapshot): those are retried within the busy timeout."""
        deadline = time.monotonic() + _BUSY_SECONDS
        pause = 0.01
        while True:
            try:
                self._setup(self._conn())
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                self.close()
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    @staticmethod
    def _setup(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            migration = "".join(_MIGRATIONS[v] for v in range(version, SCHEMA_VERSION) if v in _MIGRATIONS)
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE; {migration if version else ''}{_SCHEMA}"
                    f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- plumbing -------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=_BUSY_SECONDS, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA busy_timeout={int(_BUSY_SECONDS * 1000)}")
            except BaseException:
                conn.close()
                raise
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _guard_corruption(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise BerthError(
                    ErrorCode.SESSION_BUSY,
                    f"the state database {self.path} stayed locked for {_BUSY_SECONDS:g} s",
                    "another berth process is writing; retry in a moment",
                ) from exc
            raise BerthError(
                ErrorCode.STATE_CORRUPT,
                f"the state database {self.path} cannot be used: {exc}",
                "move it aside (it is not modified) and recover, or restore it from a backup",
                remedies=(Remedy(RemedyAction.RECOVER),),
            ) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._guard_corruption():
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._guard_corruption():
            yield self._conn()

    # -- sessions -------------------------------------------------------------------------------
    def _load(self, body: str) -> SessionRecord:
        try:
            return SessionRecord.model_validate_json(body)
        except ValidationError as exc:
            raise BerthError(
                ErrorCode.STATE_CORRUPT,
                f"a session in {self.path} cannot be read (a newer berth wrote it, or it was edited): "
                + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
                "upgrade berth, or move the state file aside and remove the session's resources by hand",
            ) from exc

    def get_session(self, slug: str) -> SessionRecord | None:
        with self._read() as conn:
            row = conn.execute("SELECT body FROM sessions WHERE slug = ?", (slug,)).fetchone()
        return self._load(row[0]) if row else None

    def list_sessions(self) -> list[SessionRecord]:
        with self._read() as conn:
            rows = conn.execute("SELECT body FROM sessions ORDER BY slot").fetchall()
        return [self._load(r[0]) for r in rows]

    def revision(self) -> int:
        with self._read() as conn:
            value: int = conn.execute("SELECT value FROM revision WHERE id = 1").fetchone()[0]
        return value

    def reserve(
        self,
        *,
        slug: str,
        branch: str,
        kind: OperationKind,
        max_slots: int,
        new_session: Callable[[int], SessionRecord] | None,
        undo_for: UndoFor,
    ) -> Reservation:
        """Claim the slug for one operation: a new pending session with the first free slot, or the
        existing session (resume/down). Refuses a slug busy with a live operation."""
        owner = self.processes.current()
        op = OperationRecord(
            op_id=f"{kind}-{uuid.uuid4().hex[:12]}",
            slug=slug,
            kind=kind,
            owner_pid=owner.pid,
            owner_start=owner.start_time,
            status=OperationStatus.RUNNING,
            started_at=utcnow(),
        )
        with self._write() as conn:
            row = conn.execute("SELECT body FROM sessions WHERE slug = ?", (slug,)).fetchone()
            previous = self._load(row[0]) if row else None
            if previous is not None and previous.op_id is not None:
                holder = self._operation(conn, previous.op_id)
                if holder is not None and self._in_flight(holder):
                    raise BerthError(
                        ErrorCode.SESSION_BUSY,
                        f"session {slug!r} has a {holder.kind} operation in flight ({holder.op_id}, "
                        f"pid {holder.owner_pid})",
                        "wait for it to finish, then retry",
                        op_id=holder.op_id,
                    )
                if holder is not None:
                    raise StaleOperation(holder.op_id)
            if previous is not None:
                if previous.branch != branch:
                    raise BerthError(
                        ErrorCode.SLUG_CONFLICT,
                        f"slug {slug!r} is already used by branch {previous.branch!r} "
                        f"(requested branch {branch!r})",
                        "take that session down first, or pick another branch name",
                        remedies=(Remedy(RemedyAction.DOWN, {"slug": slug}),),
                    )
                session = previous.model_copy(update={"op_id": op.op_id, "updated_at": utcnow()})
            elif new_session is None:
                raise session_not_found(slug)
            else:
                session = new_session(self._free_slot(conn, max_slots)).model_copy(update={"op_id": op.op_id})
            self._put(conn, session)
            conn.execute(
                "INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?, ?)",
                (op.op_id, slug, kind, op.owner_pid, op.owner_start, op.status, op.started_at.isoformat()),
            )
            undo = undo_for(previous, op.op_id)
            cur = conn.execute(
                "INSERT INTO journal (op_id, kind, args, description, state) VALUES (?, ?, ?, ?, ?)",
                (
                    op.op_id,
                    undo.kind,
                    json.dumps(dict(undo.args), sort_keys=True),
                    undo.description,
                    JournalState.DONE,
                ),
            )
            assert cur.lastrowid is not None
        return Reservation(session=session, previous=previous, operation=op, first_undo=(cur.lastrowid, undo))

    def reserve_existing(self, slug: str, kind: OperationKind, undo_for: UndoFor) -> Reservation:
        existing = self.get_session(slug)
        if existing is None:
            raise session_not_found(slug)
        return self.reserve(
            slug=slug, branch=existing.branch, kind=kind, max_slots=0, new_session=None, undo_for=undo_for
        )

    @staticmethod
    def _free_slot(conn: sqlite3.Connection, max_slots: int) -> int:
        used = {r[0] for r in conn.execute("SELECT slot FROM sessions")}
        for slot in range(1, max_slots + 1):
            if slot not in used:
                return slot
        raise BerthError(
            ErrorCode.SLOTS_EXHAUSTED,
            f"all {max_slots} slots are in use",
            "take a session down to free one, or raise max_slots in berth.toml",
            remedies=(
                Remedy(RemedyAction.LIST_SESSIONS),
                Remedy(RemedyAction.EDIT_CONFIG, {"key": "max_slots"}),
            ),
        )

    @staticmethod
    def _put(conn: sqlite3.Connection, session: SessionRecord) -> None:
        conn.execute(
            "INSERT INTO sessions (slug, slot, op_id, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(slug) DO UPDATE SET slot = excluded.slot, op_id = excluded.op_id, body = excluded.body",
            (session.slug, session.slot, session.op_id, session.model_dump_json()),
        )

    def save_session(self, session: SessionRecord, *, op_id: str | None) -> bool:
        """Write the session if `op_id` still owns it (None: only if nobody does). False if lost."""
        with self._write() as conn:
            row = conn.execute("SELECT op_id FROM sessions WHERE slug = ?", (session.slug,)).fetchone()
            if row is not None and row[0] != op_id:
                return False
            self._put(conn, session.model_copy(update={"updated_at": utcnow()}))
        return True

    def delete_session(self, slug: str, *, op_id: str | None) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM sessions WHERE slug = ? AND op_id IS ?", (slug, op_id))
            deleted = cur.rowcount > 0
            if deleted:
                conn.execute("DELETE FROM leases WHERE slug = ?", (slug,))
                conn.execute("DELETE FROM subnets WHERE slug = ?", (slug,))
        return deleted

    # -- ports ----------------------------------------------------------------------------------
    def lease_ports(
        self, slug: str, op_id: str, requests: Sequence[PortRequest], probe: PortProbe, *, engine: str = ""
    ) -> dict[str, int]:
        """Pick and lease one port (or block) per request on `engine` (a remote Docker engine's
        lease key; '' for this machine) in one transaction. Probing is quick."""
        chosen: dict[str, int] = {}
        with self._write() as conn:
            leased = self._leased_on(conn, engine)
            for req in requests:
                first = self._pick(req, leased, slug, probe)
                chosen[req.service] = first
                for port in req.block(first):
                    leased[(port, req.protocol)] = (slug, req.service)
                    # a port this session already leases keeps its original op, so a failed resume
                    # never releases it
                    conn.execute(_INSERT_LEASE, (port, req.protocol, slug, req.service, op_id, engine))
        return chosen

    @staticmethod
    def _leased_on(conn: sqlite3.Connection, engine: str) -> dict[tuple[int, str], tuple[str, str]]:
        return {
            (r[0], r[1]): (r[2], r[3])
            for r in conn.execute(
                "SELECT port, protocol, slug, service FROM leases WHERE engine = ?", (engine,)
            )
        }

    def move_lease(
        self, slug: str, op_id: str, request: PortRequest, old: int, probe: PortProbe, *, engine: str = ""
    ) -> int:
        """Release the port (block) `old` that `request.service` of this session leases and lease the
        first free candidate of `request` instead, in one transaction (a port race: something else
        took `old`). On failure nothing changes."""
        with self._write() as conn:
            for port in request.block(old):
                conn.execute(
                    "DELETE FROM leases WHERE port = ? AND protocol = ? AND slug = ? AND service = ? "
                    "AND engine = ?",
                    (port, request.protocol, slug, request.service, engine),
                )
            leased = self._leased_on(conn, engine)
            first = self._pick(request, leased, slug, probe)
            for port in request.block(first):
                conn.execute(_INSERT_LEASE, (port, request.protocol, slug, request.service, op_id, engine))
        return first

    def operation_on(self, slug: str) -> OperationRecord | None:
        """The operation holding session `slug` (in flight or abandoned), if any. Read-only."""
        with self._read() as conn:
            row = conn.execute("SELECT op_id FROM sessions WHERE slug = ?", (slug,)).fetchone()
            return self._operation(conn, row[0]) if row and row[0] else None

    def in_flight(self, op: OperationRecord) -> bool:
        """Whether `op` is running with its owner alive."""
        return self._in_flight(op)

    @staticmethod
    def _pick(
        req: PortRequest, leased: dict[tuple[int, str], tuple[str, str]], slug: str, probe: PortProbe
    ) -> int:
        """A port is this request's when nobody leases it, or this very service of this session does
        (a resume); another service of the same session is as much another holder as another session."""
        mine = (slug, req.service)

        def leased_elsewhere(first: int) -> str | None:
            holders = (leased.get((p, req.protocol)) for p in req.block(first))
            return next((h[0] for h in holders if h is not None and h != mine), None)

        def free(first: int) -> bool:
            return leased_elsewhere(first) is None and all(
                leased.get((p, req.protocol)) == mine or not probe.is_taken(p, req.protocol)
                for p in req.block(first)
            )

        what = (
            f"port {req.nominal}" if req.width == 1 else f"ports {req.nominal}-{req.nominal + req.width - 1}"
        )
        what += "/udp" if req.protocol != "tcp" else ""
        if req.fixed or req.strict:
            other = leased_elsewhere(req.nominal)
            if other is not None or (req.strict and not req.fixed and not free(req.nominal)):
                busy = next(
                    (p for p in req.block(req.nominal) if probe.is_taken(p, req.protocol)), req.nominal
                )
                raise BerthError(
                    ErrorCode.PORT_IN_USE,
                    f"{what} for service {req.service!r} "
                    + ("is" if req.width == 1 else "are")
                    + " "
                    + (
                        f"leased to session {other!r}" if other else probe.describe_holder(busy, req.protocol)
                    ),
                    "stop whatever holds it, choose another port for the service, or set strict_port = false",
                    remedies=(
                        Remedy(RemedyAction.CHOOSE_PORT, {"service": req.service}),
                        Remedy(RemedyAction.EDIT_CONFIG, {"key": "strict_port"}),
                    ),
                    port=req.nominal,
                    service=req.service,
                )
            return req.nominal
        for first in req.candidates:
            if free(first):
                return first
        raise BerthError(
            ErrorCode.PORT_EXHAUSTED,
            f"no free {'port' if req.width == 1 else f'block of {req.width} ports'} for service "
            f"{req.service!r} (tried {len(req.candidates)} candidates from {req.nominal})",
            "free a port, choose another port for the service, or increase port_search_range",
            remedies=(
                Remedy(RemedyAction.CHOOSE_PORT, {"service": req.service}),
                Remedy(RemedyAction.EDIT_CONFIG, {"key": "port_search_range"}),
            ),
            service=req.service,
        )

    def lease_subnets(
        self, slug: str, op_id: str, wanted: Sequence[tuple[str, Sequence[str]]], in_use: Sequence[str]
    ) -> dict[str, str]:
        """For each (network, candidate subnets in order), lease the first candidate that overlaps
        neither another session's lease nor a subnet already `in_use` on the engine."""
        import ipaddress

        chosen: dict[str, str] = {}
        with self._write() as conn:
            rows = conn.execute("SELECT subnet, slug, network FROM subnets").fetchall()
            mine = {r[2]: r[0] for r in rows if r[1] == slug}
            taken = [ipaddress.ip_network(r[0]) for r in rows if r[1] != slug]
            taken += [ipaddress.ip_network(s) for s in in_use]
            for network, candidates in wanted:
                pick = next(
                    (
                        c
                        for c in ([mine[network]] if network in mine else []) + list(candidates)
                        if not any(
                            ipaddress.ip_network(c).overlaps(t)
                            for t in taken
                            if t.version == ipaddress.ip_network(c).version
                        )
                    ),
                    None,
                )
                if pick is None:
                    raise BerthError(
                        ErrorCode.PORT_EXHAUSTED,
                        f"no free subnet for network {network!r} (tried {len(candidates)} of the same size)",
                        "remove unused docker networks (`docker network prune`) or take a session down",
                        network=network,
                    )
                taken.append(ipaddress.ip_network(pick))
                chosen[network] = pick
                conn.execute(
                    "INSERT INTO subnets VALUES (?, ?, ?, ?) ON CONFLICT(subnet) DO NOTHING",
                    (pick, slug, network, op_id),
                )
        return chosen

    def release_leases(self, slug: str, op_id: str | None = None) -> int:
        """Release a session's leases, or only those taken by operation `op_id`."""
        with self._write() as conn:
            if op_id is None:
                cur = conn.execute("DELETE FROM leases WHERE slug = ?", (slug,))
                conn.execute("DELETE FROM subnets WHERE slug = ?", (slug,))
            else:
                cur = conn.execute("DELETE FROM leases WHERE slug = ? AND op_id = ?", (slug, op_id))
                conn.execute("DELETE FROM subnets WHERE slug = ? AND op_id = ?", (slug, op_id))
        return cur.rowcount

    # -- operations -------------------------------------------------------------------------------
    @staticmethod
    def _operation(conn: sqlite3.Connection, op_id: str) -> OperationRecord | None:
        row = conn.execute("SELECT * FROM operations WHERE op_id = ?", (op_id,)).fetchone()
        return _operation_from_row(row) if row else None

    def _in_flight(self, op: OperationRecord) -> bool:
        return op.status is OperationStatus.RUNNING and self.processes.is_alive(op.owner)

    def finish_operation(self, op_id: str, status: OperationStatus, *, keep_journal: bool = False) -> None:
        """End an operation: release the session's busy flag and drop its journal."""
        with self._write() as conn:
            conn.execute("UPDATE operations SET status = ? WHERE op_id = ?", (status, op_id))
            for (body,) in conn.execute("SELECT body FROM sessions WHERE op_id = ?", (op_id,)).fetchall():
                self._put(conn, self._load(body).model_copy(update={"op_id": None}))
            if not keep_journal:
                conn.execute("DELETE FROM journal WHERE op_id = ?", (op_id,))
                conn.execute("DELETE FROM operations WHERE op_id = ?", (op_id,))

    def commit_session(self, session: SessionRecord, op_id: str) -> bool:
        """Atomically store the finished session and end its operation (journal dropped): after this
        no recovery can undo the bring-up. False if another command took the session over."""
        with self._write() as conn:
            row = conn.execute("SELECT op_id FROM sessions WHERE slug = ?", (session.slug,)).fetchone()
            if row is None or row[0] != op_id:
                return False
            self._put(conn, session.model_copy(update={"op_id": None, "updated_at": utcnow()}))
            conn.execute("DELETE FROM journal WHERE op_id = ?", (op_id,))
            conn.execute("DELETE FROM operations WHERE op_id = ?", (op_id,))
        return True

    def remove_session_and_finish(self, slug: str, op_id: str) -> None:
        """Atomically delete a torn-down session, its leases and its operation."""
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE slug = ? AND op_id IS ?", (slug, op_id))
            conn.execute("DELETE FROM leases WHERE slug = ?", (slug,))
            conn.execute("DELETE FROM subnets WHERE slug = ?", (slug,))
            conn.execute("DELETE FROM journal WHERE op_id = ?", (op_id,))
            conn.execute("DELETE FROM operations WHERE op_id = ?", (op_id,))

    def abandoned_operations(self) -> list[OperationRecord]:
        """Operations whose owner died mid-flight, or whose rollback left work for `recover`."""
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM operations ORDER BY started_at").fetchall()
        ops = [_operation_from_row(r) for r in rows]
        return [op for op in ops if not self._in_flight(op)]

    def take_over(self, op_id: str) -> OperationRecord | None:
        """Make this process the owner of an abandoned operation, so two recoveries never race."""
        me = self.processes.current()
        running = OperationStatus.RUNNING
        with self._write() as conn:
            op = self._operation(conn, op_id)
            if op is None or (self._in_flight(op) and op.owner != me):
                return None
            conn.execute(
                "UPDATE operations SET owner_pid = ?, owner_start = ?, status = ? WHERE op_id = ?",
                (me.pid, me.start_time, running, op_id),
            )
        return op.model_copy(update={"owner_pid": me.pid, "owner_start": me.start_time, "status": running})

    # -- journal ----------------------------------------------------------------------------------
    def journal_intent(self, op_id: str, kind: str, args: dict[str, Any], description: str) -> int:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO journal (op_id, kind, args, description, state) VALUES (?, ?, ?, ?, ?)",
                (op_id, kind, json.dumps(args, sort_keys=True), description, JournalState.INTENT),
            )
            entry_id = cur.lastrowid
        assert entry_id is not None
        return entry_id

    def journal_mark(self, entry_id: int, state: JournalState, error: str | None = None) -> None:
        with self._write() as conn:
            conn.execute("UPDATE journal SET state = ?, error = ? WHERE id = ?", (state, error, entry_id))

    def journal_update_args(self, entry_id: int, args: dict[str, Any]) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE journal SET args = ? WHERE id = ?", (json.dumps(args, sort_keys=True), entry_id)
            )

    def journal(self, op_id: str) -> list[JournalEntry]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, op_id, kind, args, description, state, error FROM journal WHERE op_id = ? ORDER BY id",
                (op_id,),
            ).fetchall()
        return [
            JournalEntry(
                id=r[0],
                op_id=r[1],
                kind=r[2],
                args=json.loads(r[3]),
                description=r[4],
                state=JournalState(r[5]),
                error=r[6],
            )
            for r in rows
        ]

    # -- health and leftovers (doctor, prune) ------------------------------------------------------
    def integrity_check(self) -> list[str]:
        """SQLite's `PRAGMA integrity_check`: [] when the file is sound, else its problems."""
        with self._read() as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        problems = [str(r[0]) for r in rows]
        return [] if problems == ["ok"] else problems

    def operations(self) -> list[OperationRecord]:
        """Every operation of the state file: in flight, abandoned, or waiting for recovery."""
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM operations ORDER BY started_at").fetchall()
        return [_operation_from_row(r) for r in rows]

    def leases(self) -> list[Lease]:
        """Every port lease, in port order."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT port, protocol, slug, service, op_id, engine FROM leases ORDER BY port, protocol"
            ).fetchall()
        return [Lease(*r) for r in rows]

    def release_orphan_leases(self) -> list[Lease]:
        """Release, in one transaction, the port and subnet leases of slugs with no session row (a
        lease is only ever taken for a slug an operation holds, so no up in flight loses one)."""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT port, protocol, slug, service, op_id, engine FROM leases "
                "WHERE slug NOT IN (SELECT slug FROM sessions) ORDER BY port, protocol"
            ).fetchall()
            conn.execute("DELETE FROM leases WHERE slug NOT IN (SELECT slug FROM sessions)")
            conn.execute("DELETE FROM subnets WHERE slug NOT IN (SELECT slug FROM sessions)")
        return [Lease(*r) for r in rows]


@dataclass(frozen=True)
class Lease:
    port: int
    protocol: str
    slug: str
    service: str
    op_id: str | None
    engine: str = ""
    """The Docker engine's lease key ('' for this machine)."""


def _operation_from_row(row: tuple[Any, ...]) -> OperationRecord:
    return OperationRecord(
        op_id=row[0],
        slug=row[1],
        kind=OperationKind(row[2]),
        owner_pid=row[3],
        owner_start=row[4],
        status=OperationStatus(row[5]),
        started_at=row[6],
    )
