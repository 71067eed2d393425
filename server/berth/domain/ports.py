"""Port arithmetic: a slot's nominal port, the alternatives searched, and what one allocation asks
for. Probing the host is an adapter's job (adapters/ports.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

MAX_PORT = 65535
Protocol_ = Literal["tcp", "udp", "sctp"]
"""A transport protocol: a TCP port and a UDP port of the same number are different resources."""


class PortProbe(Protocol):
    def is_taken(self, port: int, protocol: Protocol_ = "tcp") -> bool: ...
    def describe_holder(self, port: int, protocol: Protocol_ = "tcp") -> str:
        """`in use by PID 123`, or what is known about who holds it."""
        ...


@dataclass(frozen=True)
class PortRequest:
    """One port, or a contiguous block of `width` ports starting at the chosen one."""

    service: str
    nominal: int
    candidates: Sequence[int]
    strict: bool
    fixed: bool = False
    protocol: Protocol_ = "tcp"
    width: int = 1

    def block(self, first: int) -> range:
        return range(first, first + self.width)


def nominal_port(base: int, slot: int, stride: int) -> int:
    return min(MAX_PORT, base + slot * stride)


def candidate_ports(base: int, slot: int, stride: int, max_slots: int, search_range: int) -> list[int]:
    """The nominal port, then nominal + i*max_slots*stride: never another slot's nominal port."""
    nominal = nominal_port(base, slot, stride)
    out = [nominal]
    for i in range(1, search_range + 1):
        port = nominal + i * max_slots * stride
        if port > MAX_PORT:
            break
        out.append(port)
    return out


@dataclass(frozen=True)
class PortPolicy:
    slot: int
    stride: int
    max_slots: int
    search_range: int
    strict: bool


def port_request(
    name: str,
    base: int,
    policy: PortPolicy,
    *,
    override: int | None,
    recorded: int | None,
    protocol: Protocol_ = "tcp",
    width: int = 1,
    avoid: Collection[int] = (),
) -> PortRequest:
    """A fixed override, else the port a resumed session already has (while free), else the slot's.
    A block of `width` ports is spaced `width` times further per slot, so slots' blocks never overlap.
    No candidate block touches a port of `avoid` (those the project's own files publish: a plain
    `docker compose up` in the main checkout may be using them)."""
    stride = policy.stride * width
    candidates = [
        p
        for p in candidate_ports(base, policy.slot, stride, policy.max_slots, policy.search_range)
        if p + width - 1 <= MAX_PORT and not any(q in avoid for q in range(p, p + width))
    ]
    if override is not None:
        return PortRequest(name, override, [override], True, True, protocol, width)
    if recorded is not None:
        return PortRequest(name, recorded, [recorded, *candidates], False, False, protocol, width)
    return PortRequest(name, candidates[0], candidates, policy.strict, False, protocol, width)


def port_requests(
    bases: Mapping[str, int],
    policy: PortPolicy,
    overrides: Mapping[str, int],
    recorded: Mapping[str, int],
) -> list[PortRequest]:
    return [
        port_request(name, base, policy, override=overrides.get(name), recorded=recorded.get(name))
        for name, base in bases.items()
    ]
