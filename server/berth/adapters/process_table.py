"""What `status` (and readiness, doctor) needs to know about the host's processes and listening
sockets, read from /proc directly and only as far as a question needs:

- a recorded process's identity from `/proc/<pid>/stat` (pid + start time, the same figure psutil
  reports as `create_time`), so a recycled pid never matches;
- its descendants from `/proc/<pid>/task/<tid>/children`, its sockets from `/proc/<pid>/fd`;
- the TCP socket tables (`/proc/net/tcp`, `/proc/net/tcp6`) once per snapshot.

No question on a healthy session scans every process. The whole process table is read only when
the answer needs it, once per snapshot: a service whose leader is gone while its group lives on
(killpg(pgid, 0) says whether any member is left), and the owner of a port a service does not hold
(the wrong-owner case). Stdlib only: importing this costs nothing (no psutil)."""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from berth.domain.identity import ProcessIdentity

_PROC = "/proc"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_TCP_LISTEN = "0A"
_MAX_ANCESTRY = 256


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    pgid: int
    start: float
    """Seconds since the epoch, computed as psutil's create_time() (boot time + start ticks)."""
    zombie: bool
    threads: int = 0


def boot_time() -> float:
    """The kernel's boot time (`btime` of /proc/stat), read afresh as psutil does."""
    with open(f"{_PROC}/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise RuntimeError(f"no btime line in {_PROC}/stat")


def read_stat(pid: int, boot: float) -> ProcStat | None:
    """The process's /proc/<pid>/stat, or None when it is gone (or unreadable)."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) is in parentheses and may hold spaces or ')': the fields after the last ')'
    rest = data[data.rindex(b")") + 2 :].split()
    return ProcStat(
        pid=pid,
        ppid=int(rest[1]),
        pgid=int(rest[2]),
        start=float(rest[19]) / _CLOCK_TICKS + boot,
        zombie=rest[0] == b"Z",
        threads=int(rest[17]),
    )


def identity_of(pid: int) -> ProcessIdentity | None:
    st = read_stat(pid, boot_time())
    return None if st is None else ProcessIdentity(pid, st.start)


def is_alive(identity: ProcessIdentity) -> bool:
    """The process `identity` names still runs (not a zombie, not a recycled pid)."""
    st = read_stat(identity.pid, boot_time())
    return st is not None and not st.zombie and identity.started_at(st.start)


def group_exists(pgid: int) -> bool:
    """Some process (a zombie included) is still in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError as exc:
        return exc.errno != errno.ESRCH
    return True


def children_of(pid: int, threads: int = 0) -> list[int]:
    """The children of every thread of `pid` (a single-threaded process: of its one task only)."""
    found: list[int] = []
    try:
        tids = [str(pid)] if threads == 1 else os.listdir(f"{_PROC}/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"{_PROC}/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(x) for x in f.read().split())
        except OSError:
            continue
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    fd_dir = f"{_PROC}/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def listening_sockets() -> dict[int, int]:
    """inode -> local port of every TCP socket in LISTEN state (IPv4 and IPv6) in this namespace:
    asked of the kernel over netlink (sock_diag, filtered to LISTEN by the kernel), else read from
    /proc/net/tcp{,6} (which walks every socket of the namespace: milliseconds on a busy host)."""
    found = _netlink_listeners()
    return found if found is not None else _proc_net_listeners()


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x301
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCPF_LISTEN = 1 << 10
_NLMSG_HDR = struct.Struct("=LHHLL")
_DIAG_REQ = struct.Struct("=BBBBL48x")  # inet_diag_req_v2: family, protocol, ext, pad, states, sockid
_SPORT = struct.Struct(">H")  # inet_diag_msg: family, state, timer, retrans, then sockid (sport first)
_INODE = struct.Struct("=L")  # ... expires, rqueue, wqueue, uid, inode at offset 68
_NETLINK_ERRORS = (OSError, struct.error, ValueError)


def _netlink_listeners() -> dict[int, int] | None:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG)
    except (OSError, AttributeError):
        return None
    found: dict[int, int] = {}
    try:
        with sock:
            for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
                body = _DIAG_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, _TCPF_LISTEN)
                sock.send(
                    _NLMSG_HDR.pack(
                        _NLMSG_HDR.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, seq, 0
                    )
                    + body
                )
                if not _read_dump(sock, seq, found):
                    return None
    except _NETLINK_ERRORS:
        return None
    return found


def _read_dump(sock: socket.socket, seq: int, found: dict[int, int]) -> bool:
    while True:
        data = sock.recv(1 << 16)
        if not data:
            return False
        offset = 0
        while offset + _NLMSG_HDR.size <= len(data):
            length, kind, _flags, got_seq, _pid = _NLMSG_HDR.unpack_from(data, offset)
            if length < _NLMSG_HDR.size:
                return False
            if got_seq == seq:
                if kind == _NLMSG_DONE:
                    return True
                if kind == _NLMSG_ERROR:
                    return False
                if kind == _SOCK_DIAG_BY_FAMILY:
                    msg = offset + _NLMSG_HDR.size
                    found[_INODE.unpack_from(data, msg + 68)[0]] = _SPORT.unpack_from(data, msg + 4)[0]
            offset += (length + 3) & ~3


def _proc_net_listeners() -> dict[int, int]:
    found: dict[int, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            with open(f"{_PROC}/net/{table}", encoding="ascii") as f:
                next(f, None)  # header
                for line in f:
                    cols = line.split()
                    if len(cols) > 9 and cols[3] == _TCP_LISTEN:
                        found[int(cols[9])] = int(cols[1].rpartition(":")[2], 16)
        except OSError:
            continue
    return found


def all_pids() -> list[int]:
    return [int(x) for x in os.listdir(_PROC) if x.isdigit()]


class ProcessTree(set[int]):
    """The pids of a leader's process tree that a snapshot walked (the leader and its descendants);
    `pid in tree` is exact: a pid not walked is in the tree if it, or one of its ancestors, is a
    member of the leader's group started no earlier than the leader (a member that left the
    leader's descendants, e.g. a double-forked daemon, is still the service's)."""

    def __init__(self, pids: set[int], leader: ProcessIdentity, host: HostSnapshot) -> None:
        super().__init__(pids)
        self._leader = leader
        self._host = host

    def __contains__(self, pid: object) -> bool:
        if set.__contains__(self, pid):
            return True
        if not isinstance(pid, int):
            return False
        current = pid
        for _ in range(_MAX_ANCESTRY):
            st = self._host.stat(current)
            if st is None:
                return False
            if set.__contains__(self, current) or (
                st.pgid == self._leader.pid
                and not st.zombie
                and self._leader.started_no_earlier_than_me(st.start)
            ):
                return True
            if st.ppid <= 1:
                return False
            current = st.ppid
        return False


class _PortOwners(Mapping[int, int]):
    """port -> a pid listening on it. Mapping a port to its pid means reading every process's fds,
    so it is done once per snapshot, and only when asked about a port somebody listens on."""

    def __init__(self, host: HostSnapshot) -> None:
        self._host = host
        self._owners: dict[int, int] | None = None

    def _all(self) -> dict[int, int]:
        if self._owners is None:
            listen = self._host.listen_inodes
            owners: dict[int, int] = {}
            for pid in all_pids():
                for inode in self._host.inodes_of(pid):
                    port = listen.get(inode)
                    if port is not None:
                        owners.setdefault(port, pid)
            self._owners = owners
        return self._owners

    def __getitem__(self, port: int) -> int:
        if port not in self._host.listened_ports:
            raise KeyError(port)
        return self._all()[port]

    def __iter__(self) -> Iterator[int]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


@dataclass
class HostSnapshot:
    """One look at the host, shared by every service a call asks about; each /proc file is read at
    most once per snapshot."""

    boot: float = 0.0
    listen_inodes: dict[int, int] = field(default_factory=dict)
    """inode -> port of every listening TCP socket."""
    _stats: dict[int, ProcStat | None] = field(default_factory=dict)
    _inodes: dict[int, set[int]] = field(default_factory=dict)
    _trees: dict[ProcessIdentity, ProcessTree] = field(default_factory=dict)
    _full_table: dict[int, ProcStat] | None = None
    _owners: _PortOwners | None = None

    @classmethod
    def take(cls) -> HostSnapshot:
        return cls(boot=boot_time(), listen_inodes=listening_sockets())

    @property
    def listened_ports(self) -> set[int]:
        return set(self.listen_inodes.values())

    @property
    def port_owner(self) -> Mapping[int, int]:
        """port -> pid listening on it (computed on first use of a listened port)."""
        if self._owners is None:
            self._owners = _PortOwners(self)
        return self._owners

    def stat(self, pid: int) -> ProcStat | None:
        if pid not in self._stats:
            self._stats[pid] = read_stat(pid, self.boot)
        return self._stats[pid]

    def inodes_of(self, pid: int) -> set[int]:
        if pid not in self._inodes:
            self._inodes[pid] = socket_inodes(pid)
        return self._inodes[pid]

    def alive(self, identity: ProcessIdentity) -> bool:
        st = self.stat(identity.pid)
        return st is not None and not st.zombie and identity.started_at(st.start)

    def tree(self, leader: ProcessIdentity) -> ProcessTree:
        """The leader's group (members started no earlier than it) and all their descendants."""
        found = self._trees.get(leader)
        if found is None:
            found = ProcessTree(self._walk(leader), leader, self)
            self._trees[leader] = found
        return found

    def _walk(self, leader: ProcessIdentity) -> set[int]:
        st = self.stat(leader.pid)
        if st is not None and self.alive(leader) and st.pgid == leader.pid:
            members = {leader.pid}
            todo = [leader.pid]
            while todo:
                parent = todo.pop()
                parent_stat = self.stat(parent)
                for child in children_of(parent, parent_stat.threads if parent_stat else 0):
                    child_stat = self.stat(child)
                    if child not in members and child_stat is not None and not child_stat.zombie:
                        members.add(child)
                        todo.append(child)
            return members
        if not group_exists(leader.pid):
            return set()
        return self._tree_from_table(leader)  # the leader is gone (or a zombie) but its group is not

    def _table(self) -> dict[int, ProcStat]:
        if self._full_table is None:
            table: dict[int, ProcStat] = {}
            for pid in all_pids():
                st = self.stat(pid)
                if st is not None and not st.zombie:
                    table[pid] = st
            self._full_table = table
        return self._full_table

    def _tree_from_table(self, leader: ProcessIdentity) -> set[int]:
        procs = self._table()
        members = {
            pid
            for pid, p in procs.items()
            if p.pgid == leader.pid and leader.started_no_earlier_than_me(p.start)
        }
        children: dict[int, list[int]] = defaultdict(list)
        for pid, p in procs.items():
            children[p.ppid].append(pid)
        todo = list(members)
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in members:
                    members.add(child)
                    todo.append(child)
        return members

    def ports_of(self, pids: set[int]) -> list[int]:
        listen = self.listen_inodes
        return sorted({listen[i] for pid in pids for i in self.inodes_of(pid) if i in listen})
