"""A typed reading of compose's own normalised model (`docker compose config --format json`).

Compose has already resolved anchors and merge keys, `extends`, `include`, interpolation, `env_file`,
both port syntaxes and ranges (one entry per port), and dropped services outside the active profiles;
this module only gives those facts names. Nothing here reads YAML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, cast

from berth.domain.ports import Protocol_


class ComposeModelError(ValueError):
    """The document is not the normalised model compose prints."""


@dataclass(frozen=True)
class PortSpec:
    index: int
    """Position in the service's `ports` list."""
    target: int
    published: int | None
    """None: the engine picks a random host port (two sessions cannot collide on it)."""
    protocol: Protocol_
    host_ip: str | None


@dataclass(frozen=True)
class PortBlock:
    """Consecutive entries of one service mapping consecutive host ports to consecutive container
    ports (what a range like `"30000-30009:30000-30009"` became): leased and published as one."""

    service: str
    first: PortSpec
    width: int

    @property
    def indexes(self) -> range:
        return range(self.first.index, self.first.index + self.width)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    raw: Mapping[str, Any]

    @property
    def ports(self) -> list[PortSpec]:
        return [_port(i, p) for i, p in enumerate(self.raw.get("ports") or [])]

    @property
    def blocks(self) -> list[PortBlock]:
        """The service's published ports, consecutive runs merged; random ports are not blocks."""
        blocks: list[PortBlock] = []
        for port in self.ports:
            if port.published is None:
                continue
            last = blocks[-1] if blocks else None
            if (
                last is not None
                and last.first.index + last.width == port.index
                and last.first.target + last.width == port.target
                and last.first.published is not None
                and last.first.published + last.width == port.published
                and (last.first.protocol, last.first.host_ip) == (port.protocol, port.host_ip)
            ):
                blocks[-1] = PortBlock(self.name, last.first, last.width + 1)
            else:
                blocks.append(PortBlock(self.name, port, 1))
        return blocks

    @property
    def networks(self) -> dict[str, dict[str, Any]]:
        """Network key -> its per-service settings (aliases, ipv4_address, …)."""
        raw = self.raw.get("networks")
        if isinstance(raw, list):
            return {name: {} for name in raw}
        return {name: dict(spec or {}) for name, spec in (raw or {}).items()}

    @property
    def network_mode(self) -> str | None:
        mode = self.raw.get("network_mode")
        return str(mode) if mode else None

    @property
    def shares_network_of(self) -> str | None:
        """`network_mode: service:x`: the service whose network (and published ports) this one uses."""
        mode = self.network_mode or ""
        return mode.split(":", 1)[1] if mode.startswith("service:") else None

    @property
    def container_name(self) -> str | None:
        name = self.raw.get("container_name")
        return str(name) if name else None

    @property
    def depends_on(self) -> dict[str, str]:
        """Service -> condition (service_started, service_healthy, service_completed_successfully)."""
        raw = self.raw.get("depends_on") or {}
        if isinstance(raw, list):
            return {name: "service_started" for name in raw}
        return {name: str((spec or {}).get("condition") or "service_started") for name, spec in raw.items()}

    @property
    def labels(self) -> dict[str, str]:
        raw = self.raw.get("labels") or {}
        if isinstance(raw, list):
            return dict(str(item).partition("=")[::2] for item in raw)
        return {str(k): str(v) for k, v in raw.items()}

    @property
    def healthcheck(self) -> Mapping[str, Any] | None:
        check = self.raw.get("healthcheck")
        if not isinstance(check, Mapping) or check.get("disable"):
            return None
        test = check.get("test")
        if isinstance(test, list) and test[:1] == ["NONE"]:
            return None
        return check

    @property
    def builds(self) -> bool:
        return bool(self.raw.get("build"))

    @property
    def bind_sources(self) -> list[str]:
        return [
            str(v["source"])
            for v in self.raw.get("volumes") or []
            if isinstance(v, Mapping) and v.get("type") == "bind" and v.get("source")
        ]


@dataclass(frozen=True)
class ComposeModel:
    raw: Mapping[str, Any]

    @classmethod
    def parse(cls, data: Any) -> ComposeModel:
        if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
            raise ComposeModelError("compose printed no `services` mapping")
        for name, spec in data["services"].items():
            if not isinstance(spec, dict):
                raise ComposeModelError(f"service {name!r} is not a mapping")
        return cls(data)

    @property
    def services(self) -> dict[str, ServiceSpec]:
        return {name: ServiceSpec(name, spec) for name, spec in self.raw["services"].items()}

    @property
    def networks(self) -> dict[str, dict[str, Any]]:
        return {name: dict(spec or {}) for name, spec in (self.raw.get("networks") or {}).items()}

    @property
    def volumes(self) -> dict[str, dict[str, Any]]:
        return {name: dict(spec or {}) for name, spec in (self.raw.get("volumes") or {}).items()}

    def is_internal(self, network: str) -> bool:
        return bool(self.networks.get(network, {}).get("internal"))

    def is_external(self, network: str) -> bool:
        return bool(self.networks.get(network, {}).get("external"))

    def only_on_internal_networks(self, service: ServiceSpec) -> bool:
        """Docker publishes nothing for a container whose networks are all internal."""
        if service.network_mode:
            return False
        nets = service.networks or {"default": {}}
        return all(self.is_internal(n) for n in nets)

    def with_dependencies(self, start: list[str]) -> list[str]:
        """`start` plus everything compose starts with them (depends_on), in the model's order."""
        services = self.services
        wanted: set[str] = set()
        todo = list(start)
        while todo:
            name = todo.pop()
            if name in wanted or name not in services:
                continue
            wanted.add(name)
            todo.extend(services[name].depends_on)
            if (owner := services[name].shares_network_of) is not None:
                todo.append(owner)
        return [name for name in services if name in wanted]

    def one_shots(self, started: list[str]) -> list[str]:
        """Services others wait on to finish (`service_completed_successfully`): exiting 0 is their
        success, not a failure."""
        services = self.services
        return sorted(
            {
                dep
                for name in started
                for dep, condition in services[name].depends_on.items()
                if condition == "service_completed_successfully"
            }
        )


def _port(index: int, raw: Any) -> PortSpec:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("target"), int):
        raise ComposeModelError(f"port entry {raw!r} has no numeric target")
    published = raw.get("published")
    protocol = str(raw.get("protocol") or "tcp").lower()
    if protocol not in ("tcp", "udp", "sctp"):
        raise ComposeModelError(f"port entry {raw!r} has an unknown protocol")
    return PortSpec(
        index=index,
        target=int(raw["target"]),
        published=int(published) if published not in (None, "") else None,
        protocol=cast(Protocol_, protocol),
        host_ip=str(raw["host_ip"]) if raw.get("host_ip") else None,
    )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
HEALTH_DEFAULTS = {"interval": 30.0, "timeout": 30.0, "start_period": 0.0, "retries": 3}
"""Docker's defaults for a healthcheck's unset fields."""


def go_duration(value: Any, default: float) -> float:
    """Seconds of a Go duration string ("1m30s", "500ms") or a number; `default` when unset."""
    if value in (None, "", 0):
        return default
    if isinstance(value, int | float):
        return float(value) / 1e9 if value > 10_000 else float(value)  # compose may print nanoseconds
    parts = _DURATION.findall(str(value))
    if not parts:
        return default
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts)


def healthy_within(check: Mapping[str, Any]) -> float:
    """Seconds a healthcheck may take to decide: its start period plus every retry's interval."""
    interval = go_duration(check.get("interval"), HEALTH_DEFAULTS["interval"])
    start = go_duration(check.get("start_period"), HEALTH_DEFAULTS["start_period"])
    retries = int(check.get("retries") or HEALTH_DEFAULTS["retries"])
    return start + (retries + 1) * interval


def is_within(path: str, directory: str) -> bool:
    """Whether `path` is `directory` or inside it (POSIX paths, as compose prints them)."""
    p, d = PurePosixPath(path), PurePosixPath(directory)
    return p == d or d in p.parents
