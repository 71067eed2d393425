"""The CLI's pydantic-free `ls --json` / `status --json` rows (lifecycle/listing.py) and the /proc
host snapshot (adapters/process_table.py) give exactly what the engine's path and psutil give, on
real processes and real sockets."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from berth.adapters import process_table
from berth.adapters.process_table import HostSnapshot
from berth.adapters.processes import OsProcesses
from berth.domain.identity import ProcessIdentity
from berth.domain.models import SessionStatus
from berth.domain.records import ProcessRecord, SessionRecord
from berth.lifecycle import listing
from berth.lifecycle.views import session_view
from berth.state.store import SessionStore
from waiting import wait_until

# A process group leader listening on a port, with a child listening on another and a grandchild
# that double-forks out of its descendants (reparented) but stays in the group, listening too.
SERVICE = textwrap.dedent(
    """
    import os, socket, sys, time
    def listen():
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); return s
    me = listen()
    r, w = os.pipe()
    if os.fork() == 0:
        child = listen()
        os.write(w, b"%d\\n" % child.getsockname()[1])
        if os.fork() == 0:
            if os.fork() == 0:
                orphan = listen()
                os.write(w, b"%d %d\\n" % (os.getpid(), orphan.getsockname()[1]))
                time.sleep(600)
            os._exit(0)
        time.sleep(600)
    sys.stdout.write("%d\\n" % me.getsockname()[1]); sys.stdout.flush()
    time.sleep(600)
    """
)


class Service:
    def __init__(self) -> None:
        r, w = os.pipe()
        self.popen = subprocess.Popen(
            [sys.executable, "-c", SERVICE.replace("os.write(w", f"os.write({w}")],
            stdout=subprocess.PIPE,
            start_new_session=True,
            pass_fds=(w,),
        )
        os.close(w)
        assert self.popen.stdout is not None
        self.port = int(self.popen.stdout.readline())
        with os.fdopen(r, "rb") as pipe:
            self.child_port = int(pipe.readline())
            orphan_pid, orphan_port = pipe.readline().split()
        self.orphan_pid, self.orphan_port = int(orphan_pid), int(orphan_port)
        self.identity = ProcessIdentity(self.popen.pid, psutil.Process(self.popen.pid).create_time())

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()


@pytest.fixture
def service() -> Iterator[Service]:
    svc = Service()
    try:
        yield svc
    finally:
        svc.stop()


def test_snapshot_matches_psutil(service: Service) -> None:
    host = HostSnapshot.take()
    assert host.alive(service.identity)
    assert process_table.is_alive(service.identity)
    assert not host.alive(ProcessIdentity(service.popen.pid, service.identity.start_time - 5))
    want = {c.laddr.port for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    assert host.listened_ports == want
    assert process_table._proc_net_listeners() == process_table.listening_sockets()
    tree = host.tree(service.identity)
    assert service.popen.pid in tree
    assert service.orphan_pid in tree  # not a descendant any more, but a member of the group
    assert os.getpid() not in tree
    assert host.ports_of(tree) == sorted({service.port, service.child_port})
    assert host.port_owner.get(service.orphan_port) == service.orphan_pid
    assert host.port_owner.get(service.port) in tree
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    assert host.port_owner.get(free.getsockname()[1]) is None  # bound, not listening
    free.close()


def test_tree_of_a_dead_leader(service: Service) -> None:
    os.kill(service.popen.pid, signal.SIGKILL)
    service.popen.wait()
    host = HostSnapshot.take()
    assert not host.alive(service.identity)
    tree = host.tree(service.identity)  # the group lives on: read from the whole process table
    assert service.orphan_pid in tree
    assert service.orphan_port in host.ports_of(tree)
    os.killpg(service.popen.pid, signal.SIGKILL)
    wait_until(lambda: not process_table.group_exists(service.popen.pid), timeout=10, what="the group to go")
    assert HostSnapshot.take().tree(service.identity) == set()


def _store_with(tmp_path: Path, records: list[SessionRecord]) -> Path:
    path = tmp_path / "state.db"
    SessionStore(path, OsProcesses()).close()
    with sqlite3.connect(path) as conn:
        for r in records:
            conn.execute(
                "INSERT INTO sessions (slug, slot, op_id, body) VALUES (?, ?, ?, ?)",
                (r.slug, r.slot, r.op_id, r.model_dump_json()),
            )
    return path


def _record(slot: int, status: SessionStatus, **extra: object) -> SessionRecord:
    slug = f"s{slot}"
    return SessionRecord.model_validate(
        {
            "slug": slug,
            "branch": f"feature/{slug}",
            "mode": "host",
            "slot": slot,
            "status": status,
            "worktree_path": f"/tmp/wt/{slug}",
            "worktree_owned": slot % 2 == 0,
            "env_file": f"/tmp/wt/{slug}/.env.berth",
            **extra,
        }
    )


def _proc(svc: str, identity: ProcessIdentity) -> ProcessRecord:
    return ProcessRecord(
        service=svc, pid=identity.pid, start_time=identity.start_time, log_path=f"/tmp/{svc}.log", marker="m"
    )


def test_fast_rows_equal_the_engines(tmp_path: Path, service: Service) -> None:
    dead = ProcessIdentity(service.orphan_pid, 1.0)  # a recycled pid: not this process
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    records = [
        _record(
            1,
            SessionStatus.ACTIVE,
            ports={"web": service.port},
            processes={"web": _proc("web", service.identity)},
        ),
        _record(
            2,
            SessionStatus.ACTIVE,
            ports={"web": service.orphan_port},
            processes={"web": _proc("web", service.identity)},
        ),
        _record(
            3, SessionStatus.ACTIVE, ports={"web": taken}, processes={"web": _proc("web", service.identity)}
        ),
        _record(4, SessionStatus.ACTIVE, ports={"web": 1}, processes={"web": _proc("web", dead)}),
        _record(5, SessionStatus.PENDING, ports={"web": 2, "api": 3}, op_id="up-123"),
        _record(
            6, SessionStatus.STOPPED, ports={"web": 4}, processes={"web": _proc("web", service.identity)}
        ),
        _record(7, SessionStatus.ACTIVE, ports={"api": 5}),
        _record(8, SessionStatus.ACTIVE),
    ]
    path = _store_with(tmp_path, records)
    store = SessionStore(path, OsProcesses())
    try:
        for live in (False, True):
            host = HostSnapshot.take() if live else None
            want = [session_view(r, host).to_wire() for r in store.list_sessions()]
            got = listing.host_rows(path, live=live)
            assert got == want
            assert got is not None and [list(r) for r in got] == [list(r) for r in want]  # same key order
        states = [s["state"] for r in listing.host_rows(path, live=True) or [] for s in r["services"]]
        assert states == [
            "running",
            "running",
            "wrong-owner",
            "exited",
            "starting",
            "starting",
            "stopped",
            "unmanaged",
        ]
    finally:
        store.close()
        squatter.close()


def test_fast_rows_give_way(tmp_path: Path) -> None:
    assert listing.host_rows(tmp_path / "missing.db", live=False) is None
    assert not (tmp_path / "missing.db").exists()
    container = SessionRecord.model_validate(
        {**_record(1, SessionStatus.ACTIVE).model_dump(), "mode": "container"}
    )
    assert listing.host_rows(_store_with(tmp_path, [container]), live=False) is None
    odd = tmp_path / "odd"
    odd.mkdir()
    path = _store_with(odd, [_record(1, SessionStatus.ACTIVE)])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE sessions SET body = json_set(body, '$.status', 'sleeping')")
    assert listing.host_rows(path, live=False) is None  # the engine's path reports it as corrupt
