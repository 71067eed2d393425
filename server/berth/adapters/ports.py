"""Port probing: is a port taken by a listener on this host or published by a docker container?"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

import psutil


def has_listener(port: int) -> bool:
    """True if some socket is bound to `port` (any address). SO_REUSEADDR ignores TIME_WAIT leftovers."""
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
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


def listener_pid(port: int) -> int | None:
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def accepts_tcp(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def taken_probe(docker_published: Callable[[], set[int]] | None = None) -> Callable[[int], bool]:
    """A probe for allocation: a listener, or a docker-published host port (read once per allocation)."""
    published: set[int] | None = None

    def is_taken(port: int) -> bool:
        nonlocal published
        if has_listener(port):
            return True
        if docker_published is None:
            return False
        if published is None:
            published = docker_published()
        return port in published

    return is_taken


def nominal_port(base: int, slot: int, stride: int) -> int:
    return min(65535, base + slot * stride)


def candidate_ports(base: int, slot: int, stride: int, max_slots: int, search_range: int) -> list[int]:
    """The nominal port, then nominal + i*max_slots*stride: never another slot's nominal port."""
    nominal = nominal_port(base, slot, stride)
    out = [nominal]
    for i in range(1, search_range + 1):
        port = nominal + i * max_slots * stride
        if port > 65535:
            break
        out.append(port)
    return out
