"""The compose planner and the session file, on compose's normalised model (no engine needed)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from berth.domain.errors import BerthError, ErrorCode
from berth.modes.compose.model import ComposeModel, go_duration, healthy_within
from berth.modes.compose.plan import (
    port_needs,
    refuse_unisolatable,
    shared_resources,
    subnet_candidates,
    wait_seconds,
)
from berth.modes.compose.project import ComposeGroup, ComposeRecord
from berth.modes.compose.session_file import session_compose, subnet_key


def port(
    target: int, published: int | None, protocol: str = "tcp", host_ip: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"mode": "ingress", "target": target, "protocol": protocol}
    if published is not None:
        entry["published"] = str(published)
    if host_ip:
        entry["host_ip"] = host_ip
    return entry


MODEL = ComposeModel.parse(
    {
        "name": "x",
        "services": {
            "db": {
                "image": "postgres:16",
                "container_name": "db",
                "ports": [port(5432, 5432, host_ip="127.0.0.1")],
                "networks": {"back": {"ipv4_address": "172.28.0.10"}},
            },
            "media": {
                "image": "jitsi/jvb",
                "ports": [port(10000 + i, 10000 + i, "udp") for i in range(3)] + [port(8080, 8080)],
                "networks": {"default": None},
            },
            "sshd": {
                "image": "gitea",
                "ports": [port(22, 22), port(3000, None)],
                "networks": {"default": None},
            },
            "vault": {"image": "vault", "ports": [port(8200, 8200)], "networks": {"back": None}},
            "sidecar": {"image": "envoy", "network_mode": "service:media"},
            "init": {"image": "migrate", "networks": {"default": None}},
            "app": {
                "image": "app",
                "depends_on": {
                    "init": {"condition": "service_completed_successfully"},
                    "db": {"condition": "service_healthy"},
                },
                "healthcheck": {
                    "test": ["CMD", "true"],
                    "interval": "10s",
                    "retries": 5,
                    "start_period": "1m",
                },
                "volumes": [{"type": "bind", "source": "/wt", "target": "/app"}],
                "networks": {"default": None, "back": None},
            },
        },
        "networks": {
            "default": {"name": "x_default", "driver_opts": {"com.docker.network.bridge.name": "br-x"}},
            "back": {
                "name": "fixed-back",
                "internal": True,
                "ipam": {"config": [{"subnet": "172.28.0.0/16", "gateway": "172.28.0.1"}]},
            },
            "shared": {"name": "shared", "external": True},
        },
        "volumes": {"pg": {"name": "x_pg"}, "ext": {"name": "ext", "external": True}},
    }
)
ALL = list(MODEL.services)


def test_every_published_port_gets_a_need_ranges_as_blocks_udp_apart() -> None:
    needs = port_needs(MODEL, ALL, declared={"db": 15432})
    assert set(needs) == {"db", "media-udp", "media-8080", "sshd"}, "vault is only on an internal network"
    assert (needs["db"].base, needs["db"].target, needs["db"].host_ip) == (15432, 5432, "127.0.0.1")
    media = needs["media-udp"]
    assert (media.base, media.width, media.protocol, media.entry) == (10000, 3, "udp", 0)
    assert (needs["media-8080"].base, needs["media-8080"].entry) == (8080, 3)
    assert (needs["sshd"].base, needs["sshd"].target) == (22, 22), "unquoted 22:22 is 22, not 1342"


def test_a_declared_service_sharing_a_network_gets_its_port_on_the_owner() -> None:
    needs = port_needs(MODEL, ALL, declared={"sidecar": 18000})
    assert (needs["sidecar"].service, needs["sidecar"].target, needs["sidecar"].width) == ("media", 10000, 3)


def test_a_declared_service_without_ports_gets_a_mapping_to_its_base_port() -> None:
    [need] = port_needs(MODEL, ["init"], declared={"init": 19000}).values()
    assert (need.service, need.target, need.entry) == ("init", 19000, None)


def test_network_mode_host_is_refused_by_name() -> None:
    model = ComposeModel.parse({"services": {"dns": {"image": "pihole", "network_mode": "host"}}})
    with pytest.raises(BerthError) as info:
        refuse_unisolatable(model, ["dns"], "compose.yaml")
    assert info.value.code is ErrorCode.COMPOSE_UNSUPPORTED and "'dns'" in info.value.message


def test_one_shots_and_waits_follow_the_healthchecks() -> None:
    assert MODEL.one_shots(ALL) == ["init"]
    assert healthy_within(MODEL.services["app"].healthcheck or {}) == 60 + 6 * 10
    assert wait_seconds(MODEL, ALL, declared=[]) == 120, "the default already covers app's 120 s"
    slow = ComposeModel.parse({"services": {"s": {"healthcheck": {"test": ["CMD", "x"]}}}})
    assert wait_seconds(slow, ["s"], declared=[]) == 120, "docker's defaults: 4 x 30 s"
    assert go_duration("1m30s", 0) == 90 and go_duration("500ms", 0) == 0.5 and go_duration(None, 7) == 7


def test_subnet_candidates_stay_private_same_size_never_the_files_own() -> None:
    candidates = subnet_candidates("172.28.0.0/16", slot=2, max_slots=8)
    nets = [ipaddress.ip_network(c) for c in candidates]
    assert nets[0] == ipaddress.ip_network("172.30.0.0/16")
    assert all(n.prefixlen == 16 and n.subnet_of(ipaddress.ip_network("172.16.0.0/12")) for n in nets)  # type: ignore[arg-type]
    assert ipaddress.ip_network("172.28.0.0/16") not in nets and len(set(nets)) == len(nets)


def session(
    model: ComposeModel = MODEL, declared: dict[str, int] | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    needs = port_needs(model, list(model.services), declared=declared or {"db": 15432})
    allocated = {name: 40000 + 100 * i for i, name in enumerate(needs)}
    record = ComposeRecord(
        project="berth_feat-x",
        root="/repo",
        op="up-1",
        ports=needs,
        subnets={subnet_key("back", 0): "172.30.0.0/16"},
        groups=[],
    )
    group = ComposeGroup(services=list(model.services), bridged=["db"])
    data = session_compose(
        model,
        record=record,
        group=group,
        allocated=allocated,
        worktree=Path("/wt"),
        git_dir=Path("/repo/.git"),
    )
    return json.loads(json.dumps(data)), allocated


def test_session_file_publishes_only_leased_ports_keeping_ip_and_protocol() -> None:
    data, allocated = session()
    db = data["services"]["db"]["ports"]
    assert db == [port(5432, allocated["db"], host_ip="127.0.0.1")]
    media = data["services"]["media"]["ports"]
    first = allocated["media-udp"]
    assert [(p["published"], p["protocol"]) for p in media[:3]] == [(str(first + i), "udp") for i in range(3)]
    assert data["services"]["sshd"]["ports"][1] == port(3000, None), "random ports stay random"
    assert "ports" not in data["services"]["vault"], "an internal-only service publishes nothing"


def test_session_file_names_addresses_aliases_bridges_and_labels() -> None:
    data, _ = session()
    db = data["services"]["db"]
    assert db["container_name"] == "berth_feat-x-db"
    assert db["networks"]["back"] == {"aliases": ["db"], "ipv4_address": "172.30.0.10"}
    assert "berth-bridge" in db["networks"], "a declared service on internal networks only is bridged"
    nets = data["networks"]
    assert nets["back"]["name"] == "berth_feat-x_back", "a fixed network name would be shared"
    assert nets["back"]["ipam"]["config"] == [{"subnet": "172.30.0.0/16", "gateway": "172.30.0.1"}]
    assert nets["shared"] == {"name": "shared", "external": True}, "external networks are untouched"
    bridge = nets["default"]["driver_opts"]["com.docker.network.bridge.name"]
    assert bridge != "br-x" and len(bridge) <= 15, "a fixed interface name would clash, and Linux caps it"
    assert bridge == session()[0]["networks"]["default"]["driver_opts"]["com.docker.network.bridge.name"]
    assert data["volumes"]["pg"]["name"] == "berth_feat-x_pg" and "labels" not in data["volumes"]["ext"]
    for kind in ("networks", "volumes"):
        for spec in data[kind].values():
            assert spec.get("external") or spec["labels"]["berth.session"] == "berth_feat-x"
    assert all(s["labels"]["berth.root"] == "/repo" for s in data["services"].values())


def test_session_file_mounts_the_git_dir_where_the_worktree_is_mounted() -> None:
    data, _ = session()
    mounts = data["services"]["app"]["volumes"]
    assert {"type": "bind", "source": "/repo/.git", "target": "/repo/.git"} in mounts
    assert "volumes" not in data["services"]["db"]


def test_external_networks_and_volumes_are_reported_as_shared() -> None:
    assert shared_resources(MODEL) == ["network:shared", "volume:ext"]


def test_bind_mounts_outside_the_worktree_are_reported_as_shared() -> None:
    model = ComposeModel.parse(
        {
            "services": {
                "otel": {
                    "image": "otel",
                    "volumes": [
                        {"type": "bind", "source": "/wt/conf/otel.yaml", "target": "/etc/otel.yaml"},
                        {"type": "bind", "source": "/logs", "target": "/logs"},
                        {"type": "volume", "source": "data", "target": "/data"},
                    ],
                }
            }
        }
    )
    assert shared_resources(model, ["otel"], "/wt") == ["path:/logs"]
    assert shared_resources(model, [], "/wt") == [], "only what started services mount"
