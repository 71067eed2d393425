"""One read of the host's process table and listening sockets, shared by every service a status
call looks at (reading them per service made status quadratic in the number of sessions)."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

import psutil

from berth.domain.records import ProcessIdentity


@dataclass(frozen=True)
class _Proc:
    pgid: int
    ppid: int
    start: float


@dataclass
class HostSnapshot:
    procs: dict[int, _Proc] = field(default_factory=dict)
    listening: dict[int, set[int]] = field(default_factory=dict)
    """pid -> TCP ports it listens on."""
    port_owner: dict[int, int] = field(default_factory=dict)
    """port -> pid listening on it."""

    @classmethod
    def take(cls) -> HostSnapshot:
        snap = cls()
        for proc in psutil.process_iter(["pid", "ppid", "create_time", "status"]):
            info = proc.info
            if info["status"] == psutil.STATUS_ZOMBIE or info["create_time"] is None:
                continue
            try:
                snap.procs[proc.pid] = _Proc(os.getpgid(proc.pid), info["ppid"] or 0, info["create_time"])
            except (ProcessLookupError, PermissionError):
                continue
        listening: dict[int, set[int]] = defaultdict(set)
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.pid is not None:
                listening[conn.pid].add(conn.laddr.port)
                snap.port_owner.setdefault(conn.laddr.port, conn.pid)
        snap.listening = dict(listening)
        return snap

    def alive(self, identity: ProcessIdentity) -> bool:
        proc = self.procs.get(identity.pid)
        return proc is not None and identity.started_at(proc.start)

    def tree(self, leader: ProcessIdentity) -> set[int]:
        """The leader's group (members started no earlier than it) and all their descendants."""
        members = {
            pid
            for pid, p in self.procs.items()
            if p.pgid == leader.pid and leader.started_no_earlier_than_me(p.start)
        }
        children: dict[int, list[int]] = defaultdict(list)
        for pid, p in self.procs.items():
            children[p.ppid].append(pid)
        todo = list(members)
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in members:
                    members.add(child)
                    todo.append(child)
        return members

    def ports_of(self, pids: set[int]) -> list[int]:
        return sorted({port for pid in pids for port in self.listening.get(pid, ())})
