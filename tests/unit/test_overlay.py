"""The compose overlay builder: a pure function from the base file and the session's allocations."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml

from berth.modes.compose.overlay import (
    ComposeParseError,
    Override,
    PortEntry,
    PortNeed,
    build_overlay,
    dump,
    named_volumes,
    parse_compose,
    port_entries,
    port_needs,
)

LABELS = {"berth.session": "berth_feat-x", "berth.op": "up-1", "berth.root": "/repo"}
BASE = parse_compose(
    textwrap.dedent(
        """
        services:
          db:
            image: postgres
            container_name: db
            ports: ["5432:5432"]
            volumes: ["pgdata:/var/lib/postgresql/data", "./init:/docker-entrypoint-initdb.d"]
            labels: ["team=data"]
          cache:
            image: redis
            ports:
              - target: 6379
                published: 6379
                host_ip: 127.0.0.1
              - "9121"
          worker:
            image: busybox
            networks: [back]
        volumes:
          pgdata: {}
          shared: {external: true}
        networks:
          back: {name: fixed-back}
          outside: {external: true}
        """
    )
)


def overlay_for(
    declared: dict[str, int], allocated: dict[str, int], services: list[str] | None = None
) -> Any:
    scope = services or list(BASE["services"])
    needs = port_needs(BASE, scope, declared)
    return build_overlay(
        BASE, project="berth_feat-x", services=scope, needs=needs, allocated=allocated, labels=LABELS
    )


@pytest.mark.parametrize(
    ("raw", "entry"),
    [
        (8080, PortEntry(8080, None)),
        ("8080", PortEntry(8080, None)),
        ("5432:5432", PortEntry(5432, "5432")),
        ("127.0.0.1:5433:5432", PortEntry(5432, "5433", "127.0.0.1")),
        ("127.0.0.1::5432", PortEntry(5432, None, "127.0.0.1")),
        ("[::1]:5433:5432/udp", PortEntry(5432, "5433", "::1", "udp")),
        ("${PG_PORT:-5432}:5432", PortEntry(5432, "${PG_PORT:-5432}")),
        ({"target": 80, "published": "8080", "protocol": "tcp"}, PortEntry(80, "8080", None, "tcp")),
    ],
)
def test_port_entries_read_both_syntaxes(raw: object, entry: PortEntry) -> None:
    assert port_entries({"ports": [raw]}) == [entry]


@pytest.mark.parametrize("raw", ["8080-8081", "a:b", {"published": 80}, 1.5])
def test_port_entries_refuse_what_they_cannot_rewrite(raw: object) -> None:
    with pytest.raises(ComposeParseError):
        port_entries({"ports": [raw]})


def test_render_keeps_ip_and_protocol() -> None:
    assert PortEntry(5432, "5432", "127.0.0.1", "udp").render(6001) == "127.0.0.1:6001:5432/udp"
    assert PortEntry(5432, "5432", "::1").render(6001) == "[::1]:6001:5432"
    assert PortEntry(9121, None).render() == "9121"


def test_parse_refuses_what_is_not_a_compose_file() -> None:
    for text in [
        "- a\n- b\n",
        "version: '3'\n",
        "services: [a]\n",
        "services:\n  a: 3\n",
        "services: {a: [}",
    ]:
        with pytest.raises(ComposeParseError):
            parse_compose(text)


def test_parse_reads_compose_tags_as_plain_values() -> None:
    data = parse_compose("services:\n  a:\n    ports: !reset []\n    environment: !override {A: 1}\n")
    assert data["services"]["a"] == {"ports": [], "environment": {"A": 1}}


def test_needs_cover_every_fixed_host_port() -> None:
    needs = port_needs(BASE, ["db", "cache", "worker"], {"db": 6000})
    assert needs == [
        PortNeed("db", "db", 5432, 6000, 0),
        PortNeed("cache", "cache", 6379, 6379, 0),
    ], "the declared port replaces db's first entry; cache's fixed port is allocated; random ones are not"


def test_declared_service_without_ports_gets_a_mapping_to_its_base_port() -> None:
    assert port_needs(BASE, ["worker"], {"worker": 7000}) == [PortNeed("worker", "worker", 7000, 7000, None)]


def test_need_names_are_unique_against_taken_names() -> None:
    base = parse_compose("services:\n  web:\n    ports: ['80:80', '443:443']\n")
    needs = port_needs(base, ["web"], {}, taken=["web"])
    assert [n.name for n in needs] == ["web-2", "web-443"]


def test_overlay_overrides_ports_so_base_host_ports_are_never_published() -> None:
    overlay = overlay_for({"db": 6000}, {"db": 6001, "cache": 6380})
    db, cache = overlay["services"]["db"], overlay["services"]["cache"]
    assert isinstance(db["ports"], Override) and db["ports"] == ["6001:5432"]
    assert cache["ports"] == ["127.0.0.1:6380:6379", "9121"], "random ports stay random, the ip stays"
    assert "ports" not in overlay["services"]["worker"], "a service without host ports keeps none"
    text = dump(overlay)
    assert "ports: !override" in text and "5432:5432" not in text


def test_overlay_namespaces_names_and_labels_everything() -> None:
    overlay = overlay_for({}, {"db": 6001, "cache": 6380})
    assert overlay["services"]["db"]["container_name"] == "berth_feat-x-db"
    assert "container_name" not in overlay["services"]["cache"], (
        "compose's default name is already per project"
    )
    assert all(svc["labels"] == LABELS for svc in overlay["services"].values())
    assert overlay["volumes"] == {"pgdata": {"name": "berth_feat-x_pgdata", "labels": LABELS}}
    assert overlay["networks"] == {
        "default": {"labels": LABELS},
        "back": {"name": "berth_feat-x_back", "labels": LABELS},
    }, "external networks and volumes are not ours to label or rename"


def test_overlay_only_covers_the_services_in_scope() -> None:
    overlay = overlay_for({}, {"cache": 6380}, services=["cache"])
    assert list(overlay["services"]) == ["cache"]


def test_dumped_overlay_round_trips_with_the_override_tag() -> None:
    text = dump(overlay_for({"db": 6000}, {"db": 6001, "cache": 6380}))
    node = yaml.compose(text)
    assert node is not None
    services = next(v for k, v in node.value if k.value == "services")
    db = next(v for k, v in services.value if k.value == "db")
    ports = next(v for k, v in db.value if k.value == "ports")
    assert ports.tag == "!override"
    assert parse_compose(text)["services"]["db"]["ports"] == ["6001:5432"]


def test_named_volumes_skip_external_ones() -> None:
    assert named_volumes(BASE) == ["pgdata"]
