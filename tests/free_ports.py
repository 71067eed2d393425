"""Free ports for a test: a block of consecutive ports no socket on this machine is bound to.

Each test file that runs services keeps to its own port range, so files running side by side never
reach for the same block; within a range, bases are tried in random order."""

from __future__ import annotations

import random
import socket
from collections.abc import Sequence


def block_is_free(base: int, width: int, *, time_wait_is_free: bool = False) -> bool:
    """Whether ports base..base+width-1 can all be bound (TCP, every IPv4 address). With
    `time_wait_is_free`, a port whose only socket is a closed connection's TIME_WAIT counts as free,
    as it does for Berth's own probe."""
    for port in range(base, base + width):
        with socket.socket() as sock:
            if time_wait_is_free:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


def free_block(bases: Sequence[int], width: int, *, time_wait_is_free: bool = False) -> int:
    """One of `bases`, tried in random order, whose `width` ports are all free."""
    for base in random.sample(list(bases), len(bases)):
        if block_is_free(base, width, time_wait_is_free=time_wait_is_free):
            return base
    raise RuntimeError(f"no free block of {width} ports at any base in {bases[0]}-{bases[-1]}")
