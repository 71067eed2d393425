"""Port probing: is a port taken by a listener on this host or published by a docker container?
The arithmetic of which ports to try is in domain/ports.py."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from berth.domain.ports import Protocol_


def has_listener(port: int, protocol: Protocol_ = "tcp") -> bool:
    """True if some socket is bound to `port` (any address) for `protocol`. SO_REUSEADDR ignores
    TCP's TIME_WAIT leftovers."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            sock = socket.socket(family, kind)
        except OSError:
            continue  # no IPv6 on this host
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    return True
                if exc.errno == errno.EADDRNOTAVAIL:
                    continue
                raise
    return False


def listener_pid(port: int, protocol: Protocol_ = "tcp") -> int | None:
    """Who listens on `port` (for an error message: psutil is imported only then)."""
    import psutil

    kind = "udp" if protocol == "udp" else "tcp"
    for conn in psutil.net_connections(kind=kind):
        listening = conn.status == psutil.CONN_LISTEN or kind == "udp"
        if listening and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def accepts_tcp(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class HostPortProbe:
    """PortProbe for allocation: a listener on this host, or a host port a docker container
    publishes (docker-proxy may not show up as a listener). The engine is asked once, when the probe
    is made: never while the state file's write lock is held, where a slow engine would keep every
    other berth process of the repository waiting."""

    def __init__(self, docker_published: Callable[[], set[tuple[int, str]]] | None = None) -> None:
        self._published = docker_published() if docker_published is not None else set()

    def is_taken(self, port: int, protocol: Protocol_ = "tcp") -> bool:
        return has_listener(port, protocol) or (port, protocol) in self._published

    def describe_holder(self, port: int, protocol: Protocol_ = "tcp") -> str:
        pid = listener_pid(port, protocol)
        return f"in use by PID {pid}" if pid else "in use (by a process or a docker container)"


class EnginePortProbe:
    """PortProbe for a remote Docker engine: its published ports are on its own host, so what
    counts is what its containers publish there, never this machine's listeners. Asked once, when
    the probe is made (see HostPortProbe)."""

    def __init__(self, engine: str, published: Callable[[], set[tuple[int, str]]]) -> None:
        self._engine = engine
        self._published = published()

    def is_taken(self, port: int, protocol: Protocol_ = "tcp") -> bool:
        return (port, protocol) in self._published

    def describe_holder(self, port: int, protocol: Protocol_ = "tcp") -> str:
        return f"published by a container on engine {self._engine}"
