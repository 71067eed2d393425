"""The per-session compose overlay, as a pure function of the base compose file and the session's
allocations: its own host ports (``ports: !override``, so the base file's host ports are never also
published), project-namespaced named volumes and networks, a rewritten ``container_name``, and Berth's
labels on every container, network and volume."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml


class ComposeParseError(ValueError):
    """The compose text is not a compose file Berth can read."""


class Override(list[Any]):
    """A list rendered with compose's ``!override`` tag: it replaces the base list instead of merging."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_override(dumper: yaml.SafeDumper, data: Override) -> yaml.Node:
    return dumper.represent_sequence("!override", list(data))


_Dumper.add_representer(Override, _represent_override)


class _Loader(yaml.SafeLoader):
    """Safe loading that reads compose's own tags (``!reset``, ``!override``) as their plain value."""


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _construct_tagged)


def parse_compose(text: str) -> dict[str, Any]:
    """A compose file's content; ComposeParseError unless it is a mapping with a ``services`` mapping."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ComposeParseError(f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ComposeParseError("the top level is not a mapping")
    services = data.get("services")
    if not isinstance(services, dict) or not services:
        raise ComposeParseError("it has no `services:` mapping")
    for name, spec in services.items():
        if spec is not None and not isinstance(spec, dict):
            raise ComposeParseError(f"service {name!r} is not a mapping")
    return data


def dump(overlay: Mapping[str, Any]) -> str:
    return yaml.dump(dict(overlay), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


# -- published ports ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PortEntry:
    """One entry of a service's ``ports:`` list, in either syntax."""

    target: int
    published: str | None
    """The host side as written ("5432", "${PG_PORT}", "3000-3005"); None: docker picks a random one."""
    host_ip: str | None = None
    protocol: str | None = None

    @property
    def published_number(self) -> int | None:
        return int(self.published) if self.published is not None and self.published.isdigit() else None

    def render(self, host_port: int | None = None) -> str:
        host = str(host_port) if host_port is not None else self.published
        text = str(self.target)
        if host is not None:
            text = f"{host}:{text}"
        if self.host_ip:
            ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
            text = f"{ip}:{text}" if host is not None else f"{ip}::{text}"
        return text + (f"/{self.protocol}" if self.protocol else "")


def _split_colons(text: str) -> list[str]:
    """Split at ':' outside ``${...}`` interpolations and ``[...]`` IPv6 addresses."""
    parts, current, braces, brackets, i = [], "", 0, 0, 0
    while i < len(text):
        if text.startswith("${", i):
            braces, current, i = braces + 1, current + "${", i + 2
            continue
        ch = text[i]
        if ch == "}" and braces:
            braces -= 1
        elif ch == "[":
            brackets += 1
        elif ch == "]" and brackets:
            brackets -= 1
        elif ch == ":" and not braces and not brackets:
            parts.append(current)
            current, i = "", i + 1
            continue
        current, i = current + ch, i + 1
    parts.append(current)
    return parts


def port_entries(service: Mapping[str, Any] | None) -> list[PortEntry]:
    raw = (service or {}).get("ports") or []
    if not isinstance(raw, list):
        raise ComposeParseError("`ports` is not a list")
    return [_port_entry(item) for item in raw]


def _port_entry(item: Any) -> PortEntry:
    if isinstance(item, int):
        return PortEntry(target=item, published=None)
    if isinstance(item, dict):
        target = item.get("target")
        if not isinstance(target, int) and not (isinstance(target, str) and target.isdigit()):
            raise ComposeParseError(f"port {item!r} has no numeric `target`")
        published = item.get("published")
        return PortEntry(
            target=int(target),
            published=None if published in (None, "") else str(published),
            host_ip=item.get("host_ip") or None,
            protocol=item.get("protocol") or None,
        )
    if isinstance(item, str):
        *front, last = _split_colons(item.strip())
        target, _, protocol = last.partition("/")
        if not target.isdigit() or len(front) > 2:
            raise ComposeParseError(
                f"port {item!r} is not [IP:][HOST:]CONTAINER[/PROTO] (ranges unsupported)"
            )
        ip, host = (front[0], front[1]) if len(front) == 2 else (None, front[0] if front else None)
        return PortEntry(
            target=int(target),
            published=host or None,
            host_ip=ip.strip("[]") if ip else None,
            protocol=protocol or None,
        )
    raise ComposeParseError(f"port {item!r} is neither a string, a number nor a mapping")


# -- planning -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PortNeed:
    """A host port the session allocates for one compose service."""

    name: str
    """Its key in the session's ports (the compose service name, or ``<service>-<target>``)."""
    service: str
    target: int
    base: int
    """The port the slot offset applies to: the declared base_port, or the base file's host port."""
    entry: int | None
    """Index of the base ``ports:`` entry it replaces; None when it adds a mapping."""


def port_needs(
    base: Mapping[str, Any], services: Iterable[str], declared: Mapping[str, int], taken: Iterable[str] = ()
) -> list[PortNeed]:
    """Every host port the overlay publishes for `services`.

    A declared service (berth.toml `[[services]]`, name -> base_port) gets its primary port on its first
    ``ports:`` entry, or on a new mapping to ``base_port`` in the container when it has none. Every other
    entry with a fixed host port gets a port too, based on that host port, so no base host port is ever
    published by two sessions. Entries without a host port stay random (they cannot collide)."""
    specs: Mapping[str, Any] = base.get("services") or {}
    needs: list[PortNeed] = []
    used = set(taken)

    def unique(name: str) -> str:
        out, n = name, 2
        while out in used:
            out, n = f"{name}-{n}", n + 1
        used.add(out)
        return out

    for service in services:
        entries = port_entries(specs.get(service))
        primary_done = False
        if service in declared:
            used.add(service)
            if entries:
                needs.append(PortNeed(service, service, entries[0].target, declared[service], 0))
            else:
                needs.append(PortNeed(service, service, declared[service], declared[service], None))
            primary_done = True
        for index, entry in enumerate(entries):
            if (index == 0 and service in declared) or entry.published is None:
                continue
            host = entry.published_number
            name = unique(f"{service}-{entry.target}" if primary_done else service)
            primary_done = True
            needs.append(PortNeed(name, service, entry.target, host if host else entry.target, index))
    return needs


def named_volumes(base: Mapping[str, Any]) -> list[str]:
    """Top-level volumes the project owns (external ones belong to someone else)."""
    return [name for name, spec in (base.get("volumes") or {}).items() if not _external(spec)]


def _external(spec: Any) -> bool:
    return isinstance(spec, dict) and bool(spec.get("external"))


# -- the overlay --------------------------------------------------------------------------------------
def build_overlay(
    base: Mapping[str, Any],
    *,
    project: str,
    services: Sequence[str],
    needs: Sequence[PortNeed],
    allocated: Mapping[str, int],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """The overlay for `services` of `base`, publishing `allocated[need.name]` for every need."""
    specs: Mapping[str, Any] = base.get("services") or {}
    out_services: dict[str, Any] = {}
    for service in services:
        spec = specs.get(service) or {}
        entries = port_entries(spec)
        mine = [n for n in needs if n.service == service]
        rendered = [
            e.render(next((allocated[n.name] for n in mine if n.entry == i), None))
            for i, e in enumerate(entries)
        ]
        rendered += [
            PortEntry(target=n.target, published=None).render(allocated[n.name])
            for n in mine
            if n.entry is None
        ]
        overlay: dict[str, Any] = {"labels": dict(labels)}
        if "container_name" in spec:
            overlay["container_name"] = f"{project}-{service}"
        if mine:
            overlay["ports"] = Override(rendered)
        out_services[service] = overlay
    result: dict[str, Any] = {"services": out_services}
    networks: dict[str, Any] = {}
    base_networks = base.get("networks") or {}
    if not _external(base_networks.get("default")):
        networks["default"] = {"labels": dict(labels)}
    for name, spec in base_networks.items():
        if _external(spec) or name == "default":
            continue
        entry: dict[str, Any] = {"labels": dict(labels)}
        if isinstance(spec, dict) and spec.get("name"):
            entry["name"] = f"{project}_{name}"  # an explicit name would be shared by every session
        networks[name] = entry
    if networks:
        result["networks"] = networks
    volumes = {name: {"name": f"{project}_{name}", "labels": dict(labels)} for name in named_volumes(base)}
    if volumes:
        result["volumes"] = volumes
    return result
