"""The compose file a session runs: compose's own model of the user's files, rewritten so that two
sessions never share anything they would collide on, as a pure function of the model and the
session's allocations.

- every published port of a started service on the session's leased port (blocks stay blocks,
  `host_ip` and protocol kept); ports a service cannot publish (only on internal networks) dropped;
- networks and volumes named after the session's project (external ones untouched), fixed subnets
  and the static addresses in them moved to the session's subnet, offsets kept, a fixed bridge
  interface name (`driver_opts`) made per-session;
- `container_name` made per-session, the original kept as a network alias so others still reach it;
- a bridge network for declared services that sit only on internal networks;
- the main repository's git directory mounted where a service mounts the worktree, so git works;
- Berth's labels on every container, network and volume; `profiles` dropped (the model holds only
  the active ones)."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.modes.compose.model import ComposeModel, is_within
from berth.modes.compose.project import ComposeGroup, ComposeRecord

BRIDGE_NETWORK = "berth-bridge"
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
_IFNAMSIZ = 15  # Linux's limit on an interface name
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def subnet_key(network: str, index: int) -> str:
    """How `ComposeRecord.subnets` names the `index`-th ipam config of `network`."""
    return f"{network}#{index}"


def session_compose(
    model: ComposeModel,
    *,
    record: ComposeRecord,
    group: ComposeGroup,
    allocated: Mapping[str, int],
    worktree: Path,
    git_dir: Path,
) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(dict(model.raw))
    data["name"] = record.project
    labels = record.labels
    moves = _networks(data, record, group, labels)
    for key, raw_volume in list((data.get("volumes") or {}).items()):
        volume = dict(raw_volume or {})
        if not volume.get("external"):
            volume["name"] = f"{record.project}_{key}"
            volume["labels"] = {**_labels(volume.get("labels")), **labels}
        data["volumes"][key] = volume
    published_here = {
        name: p for name, p in record.ports.items() if p.service in model.services and name in allocated
    }
    for name, svc in data["services"].items():
        spec = model.services[name]
        svc.pop("profiles", None)
        svc["labels"] = {**_labels(svc.get("labels")), **labels}
        svc["ports"] = _ports(
            svc.get("ports") or [], name, published_here, allocated, silent=_silent(model, group, name)
        )
        if not svc["ports"]:
            svc.pop("ports")
        if isinstance(svc.get("build"), dict):  # images it builds carry the labels, so down finds them
            svc["build"]["labels"] = {**_labels(svc["build"].get("labels")), **labels}
        original = spec.container_name
        networks = svc.get("networks")
        if isinstance(networks, dict):
            for net_key, raw_settings in list(networks.items()):
                settings = dict(raw_settings or {})
                if model.is_external(net_key):
                    networks[net_key] = settings or None
                    continue
                if original:
                    settings["aliases"] = sorted({*(settings.get("aliases") or []), original})
                for field in ("ipv4_address", "ipv6_address"):
                    if settings.get(field):
                        settings[field] = str(_move_address(settings[field], moves))
                networks[net_key] = settings or None
            if name in group.bridged:
                networks[BRIDGE_NETWORK] = None
        if original:
            svc["container_name"] = f"{record.project}-{name}"
        if any(is_within(str(worktree), source) for source in spec.bind_sources):
            mounts = svc.setdefault("volumes", [])
            if not any(isinstance(m, dict) and m.get("target") == str(git_dir) for m in mounts):
                mounts.append({"type": "bind", "source": str(git_dir), "target": str(git_dir)})
    return data


def render(data: Mapping[str, Any]) -> str:
    """The file's text (JSON is YAML: compose reads it as any compose file)."""
    return json.dumps(data, indent=1) + "\n"


def _labels(raw: Any) -> dict[str, str]:
    if isinstance(raw, list):
        return dict(str(item).partition("=")[::2] for item in raw)
    return {str(k): str(v) for k, v in (raw or {}).items()}


def _networks(
    data: dict[str, Any], record: ComposeRecord, group: ComposeGroup, labels: Mapping[str, str]
) -> list[tuple[IPNetwork, IPNetwork]]:
    """Name, label and re-address the project's own networks; the subnet moves made."""
    networks: dict[str, Any] = data.setdefault("networks", {})
    moves: list[tuple[IPNetwork, IPNetwork]] = []
    for key, raw_spec in list(networks.items()):
        spec = dict(raw_spec or {})
        networks[key] = spec
        if spec.get("external"):
            continue
        spec["name"] = f"{record.project}_{key}"
        spec["labels"] = {**_labels(spec.get("labels")), **labels}
        opts = spec.get("driver_opts") or {}
        if opts.get(BRIDGE_NAME_OPTION):
            spec["driver_opts"] = {**opts, BRIDGE_NAME_OPTION: bridge_interface(record.project, key)}
        ipam = spec.get("ipam") or {}
        for index, config in enumerate(ipam.get("config") or []):
            new = record.subnets.get(subnet_key(key, index))
            if not new or not config.get("subnet"):
                continue
            old_net, new_net = ipaddress.ip_network(config["subnet"]), ipaddress.ip_network(new)
            moves.append((old_net, new_net))
            config["subnet"] = str(new_net)
            if config.get("ip_range"):
                config["ip_range"] = str(_move_network(config["ip_range"], old_net, new_net))
            if config.get("gateway"):
                config["gateway"] = str(_move_address(config["gateway"], [(old_net, new_net)]))
            aux = config.get("aux_addresses") or {}
            for name, address in aux.items():
                aux[name] = str(_move_address(address, [(old_net, new_net)]))
    if group.bridged:
        networks[BRIDGE_NETWORK] = {"name": f"{record.project}_{BRIDGE_NETWORK}", "labels": dict(labels)}
    return moves


def bridge_interface(project: str, network: str) -> str:
    """The host interface of a session's network whose file fixes one (`driver_opts` bridge name): a
    second session could not create an interface of the same name. Stable per session and network,
    and within the kernel's length limit."""
    digest = hashlib.sha256(f"{project}/{network}".encode()).hexdigest()
    return ("br-" + digest)[:_IFNAMSIZ]


def _move_address(address: str, moves: list[tuple[IPNetwork, IPNetwork]]) -> str:
    ip = ipaddress.ip_address(address)
    for old, new in moves:
        if ip.version == old.version and ip in old:
            return str(ipaddress.ip_address(int(new.network_address) + int(ip) - int(old.network_address)))
    return address


def _move_network(text: str, old: IPNetwork, new: IPNetwork) -> IPNetwork:
    net = ipaddress.ip_network(text)
    start = _move_address(str(net.network_address), [(old, new)])
    return ipaddress.ip_network(f"{start}/{net.prefixlen}")


def _silent(model: ComposeModel, group: ComposeGroup, service: str) -> bool:
    """A service only on internal networks, not bridged: docker publishes none of its ports."""
    return service not in group.bridged and model.only_on_internal_networks(model.services[service])


def _ports(
    entries: list[Any],
    service: str,
    published: Mapping[str, Any],
    allocated: Mapping[str, int],
    *,
    silent: bool,
) -> list[Any]:
    mine = {name: p for name, p in published.items() if p.service == service}
    host_port: dict[int, int] = {}
    for name, p in mine.items():
        if p.entry is not None:
            for offset in range(p.width):
                host_port[p.entry + offset] = allocated[name] + offset
    out: list[Any] = []
    for index, entry in enumerate(entries):
        if index in host_port:
            out.append({**entry, "published": str(host_port[index])})
        elif entry.get("published") in (None, ""):
            out.append(entry)
        elif not silent:
            out.append(entry)  # a service this session does not start keeps the file's port
    for name, p in mine.items():
        if p.entry is None:
            out.append(
                {"mode": "ingress", "target": p.target, "published": str(allocated[name]), "protocol": "tcp"}
            )
    return out
