"""The Docker engine through the docker SDK: is it there, and which containers, networks and volumes
carry a session's labels. Lifecycle goes through compose (adapters/compose.py); this module only looks,
and removes what compose left behind, never anything without the session's labels."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from berth.domain.engine_endpoint import Endpoint
from berth.domain.errors import BerthError, ErrorCode

if TYPE_CHECKING:  # the SDK (with requests/urllib3) is imported on first use: host mode never pays for it
    from docker import DockerClient

SESSION_LABEL = "berth.session"
OP_LABEL = "berth.op"
ROOT_LABEL = "berth.root"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
_PING_TIMEOUT = 5
_API_TIMEOUT = 60
_api_versions: dict[str, str] = {}
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


_EXIT_CODE = re.compile(r"^Exited \((-?\d+)\)")


@dataclass(frozen=True)
class Publisher:
    """One published port of a container, as the engine reports it."""

    target: int
    published: int
    protocol: str
    host_ip: str


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    service: str | None
    state: str
    """running, exited, created, restarting, paused, dead"""
    health: str | None
    """healthy, unhealthy, starting; None without a healthcheck"""
    publishers: tuple[Publisher, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    """For an exited container."""

    @property
    def host_ports(self) -> list[int]:
        return sorted({p.published for p in self.publishers})

    @property
    def published(self) -> set[tuple[int, str]]:
        """(host port, protocol) pairs."""
        return {(p.published, p.protocol) for p in self.publishers}


@dataclass(frozen=True)
class Inventory:
    """Everything labelled for one session, by name."""

    containers: list[str]
    networks: list[str]
    volumes: list[str]
    images: list[str] = field(default_factory=list)
    """Images built for the session (compose builds carry the session's labels)."""


def unavailable(endpoint: Endpoint, what: str) -> BerthError:
    remote = not endpoint.local
    return BerthError(
        ErrorCode.DOCKER_UNAVAILABLE,
        f"no Docker engine answers at {endpoint.describe()}: {what}",
        (
            "check that the engine runs and is reachable from here, and its TLS material "
            "(`docker --context NAME info`, or DOCKER_HOST/DOCKER_CERT_PATH), then retry; nothing was created"
            if remote
            else "start the engine (e.g. `sudo systemctl start docker`, or `bash scripts/ensure-docker.sh`) "
            "or point DOCKER_HOST at one, then retry; nothing was created"
        ),
        endpoint=endpoint.host,
        rule=endpoint.rule.value,
        reason=what,
    )


@contextlib.contextmanager
def connect(endpoint: Endpoint, timeout: int | None = _API_TIMEOUT) -> Iterator[DockerClient]:
    """A client of `endpoint` for one short conversation; DOCKER_UNAVAILABLE when the engine does not
    answer. `timeout=None` for a stream that may stay quiet for long (following logs)."""
    import docker.errors

    from berth.adapters import docker_endpoint

    try:
        version = _api_versions.get(endpoint.host)
        if version is None:  # negotiated once per engine, not per conversation
            version = docker_endpoint.negotiated_version(
                endpoint, timeout=min(timeout or _PING_TIMEOUT, _PING_TIMEOUT)
            )
            _api_versions[endpoint.host] = version
        client = docker_endpoint.client(endpoint, timeout=timeout, version=version)
    except (docker.errors.DockerException, ConnectionError, OSError) as exc:
        raise unavailable(endpoint, _short(exc)) from exc
    try:
        yield client
    except docker.errors.APIError:
        raise
    except (docker.errors.DockerException, ConnectionError, OSError) as exc:
        raise unavailable(endpoint, _short(exc)) from exc
    finally:
        client.close()


@dataclass(frozen=True)
class EngineInfo:
    version: str
    engine_id: str
    name: str


def ping(endpoint: Endpoint, timeout: int = _PING_TIMEOUT) -> str:
    """The engine's version, or DOCKER_UNAVAILABLE."""
    return engine_info(endpoint, timeout).version


def engine_info(endpoint: Endpoint, timeout: int = _PING_TIMEOUT) -> EngineInfo:
    """The engine's version, ID and host name (`docker info`), or DOCKER_UNAVAILABLE."""
    import docker.errors

    with connect(endpoint, timeout) as client:
        try:
            version: str = client.version().get("Version", "?")
            info = client.info()
        except docker.errors.APIError as exc:
            raise unavailable(endpoint, _short(exc)) from exc
    return EngineInfo(version, str(info.get("ID") or ""), str(info.get("Name") or ""))


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    for needle, reason in (
        ("FileNotFoundError", "the socket does not exist"),
        ("No such file", "the socket does not exist"),
        ("Connection refused", "connection refused"),
        ("PermissionError", "permission denied on the socket; join the docker group or use sudo"),
        ("Permission denied", "permission denied on the socket; join the docker group or use sudo"),
        ("timed out", "no answer in time"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS: the engine's certificate is not signed by the endpoint's CA"),
        ("certificate", "TLS: " + text[:160]),
        ("SSLError", "TLS: " + text[:160]),
        ("No route to host", "no route to host"),
        ("Network is unreachable", "network unreachable"),
    ):
        if needle in text:
            return reason
    return text[:200]


def session_labels(project: str, root: str) -> list[str]:
    return [f"{SESSION_LABEL}={project}", f"{ROOT_LABEL}={root}"]


def _container(row: Mapping[str, Any]) -> Container:
    publishers = tuple(
        dict.fromkeys(
            Publisher(int(p["PrivatePort"]), int(p["PublicPort"]), p.get("Type") or "tcp", p.get("IP") or "")
            for p in row.get("Ports") or []
            if p.get("PublicPort")
        )
    )
    exited = _EXIT_CODE.match(row.get("Status") or "")
    labels = row.get("Labels") or {}
    health = _HEALTH.search(row.get("Status") or "")
    names = row.get("Names") or [row["Id"][:12]]
    return Container(
        id=row["Id"],
        name=names[0].lstrip("/"),
        service=labels.get(SERVICE_LABEL),
        state=row.get("State") or "unknown",
        health=None if health is None else health.group(1).removeprefix("health: "),
        publishers=publishers,
        labels=labels,
        exit_code=int(exited.group(1)) if exited else None,
    )


def containers(client: DockerClient, labels: Sequence[str]) -> list[Container]:
    rows = client.api.containers(all=True, filters={"label": list(labels)})
    return sorted((_container(r) for r in rows), key=lambda c: c.name)


def networks(client: DockerClient, labels: Sequence[str]) -> list[str]:
    return sorted(n["Name"] for n in client.api.networks(filters={"label": list(labels)}))


def volumes(client: DockerClient, labels: Sequence[str]) -> list[str]:
    listing = client.api.volumes(filters={"label": list(labels)}) or {}
    return sorted(v["Name"] for v in listing.get("Volumes") or [])


def volume_labels(client: DockerClient, name: str) -> dict[str, str]:
    import docker.errors

    try:
        return dict(client.api.inspect_volume(name).get("Labels") or {})
    except docker.errors.NotFound:
        return {}


def inventory(client: DockerClient, labels: Sequence[str]) -> Inventory:
    return Inventory(
        containers=[c.name for c in containers(client, labels)],
        networks=networks(client, labels),
        volumes=volumes(client, labels),
        images=images(client, labels),
    )


def log_tail(client: DockerClient, container: str, *, lines: int) -> str:
    import docker.errors

    try:
        raw: bytes = client.api.logs(container, tail=lines, stdout=True, stderr=True)
    except docker.errors.APIError:
        return ""
    return raw.decode("utf-8", errors="replace").rstrip()


def images(client: DockerClient, labels: Sequence[str]) -> list[str]:
    rows = client.api.images(filters={"label": list(labels)}) or []
    return sorted(tag for row in rows for tag in (row.get("RepoTags") or [row["Id"][:19]]))


def published_ports(endpoint: Endpoint) -> set[tuple[int, str]]:
    """(host port, protocol) published by any running container of the engine (docker-proxy may not
    show up as a listener; on a remote engine these are its host's ports, not this machine's)."""
    with connect(endpoint, _PING_TIMEOUT * 2) as client:
        rows = client.api.containers(filters={"status": "running"})
    return {p for row in rows for p in _container(row).published}


def network_subnets(client: DockerClient, *, excluding: Sequence[str] = ()) -> list[str]:
    """Every subnet an engine network uses (a new network must not overlap them), except those of
    the networks carrying the `excluding` labels (a session's own, on a re-up)."""
    own = set(networks(client, excluding)) if excluding else set()
    subnets: list[str] = []
    for net in client.api.networks():
        if net["Name"] in own:
            continue
        for config in ((net.get("IPAM") or {}).get("Config")) or []:
            if config.get("Subnet"):
                subnets.append(config["Subnet"])
    return subnets


def remove_containers(client: DockerClient, victims: Sequence[Container], *, volumes: bool) -> list[str]:
    import docker.errors

    removed: list[str] = []
    for c in victims:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(c.id, force=True, v=volumes)
        removed.append(c.name)
    return removed


def remove_unused(
    client: DockerClient, labels: Sequence[str], *, volumes_too: bool, spare: Sequence[str]
) -> None:
    """Remove labelled networks, and volumes if asked (minus `spare`); in-use ones are left alone."""
    import docker.errors

    for name in networks(client, labels):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            _remove_network(client, name)
    if volumes_too:
        for name in volumes(client, labels):
            if name in spare:
                continue
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.api.remove_volume(name)


def unattached_networks(client: DockerClient, names: Sequence[str]) -> list[str]:
    """Those of the networks that no container is attached to."""
    import docker.errors

    out = []
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            if not client.api.inspect_network(name).get("Containers"):
                out.append(name)
    return out


_ENDPOINT_LAG_SECONDS = 30.0


def _remove_network(client: DockerClient, name: str) -> None:
    """Remove a network. The engine frees a removed container's endpoint a moment after the container
    is gone (moby#42119, docker/compose#12770): while no container is attached, "has active endpoints"
    is that lag, so it is retried with a backoff for a bounded time; a network in use is left alone."""
    import docker.errors

    deadline = time.monotonic() + _ENDPOINT_LAG_SECONDS
    pause = 0.05
    while True:
        try:
            client.api.remove_network(name)
            return
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc) or time.monotonic() > deadline:
                raise
            if client.api.inspect_network(name).get("Containers") or {}:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


class ContainerLogs:
    """A container's log lines as (engine timestamp, text), from `client.api.logs(timestamps=True,
    stream=True)`; `close()` from another thread ends a follow that is waiting for output."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[tuple[datetime, str]]:
        pending = b""
        for chunk in self._stream:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                yield split_timestamp(raw.decode("utf-8", errors="replace"))
        if pending:
            yield split_timestamp(pending.decode("utf-8", errors="replace"))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed, or the engine went away
            self._stream.close()


def container_logs(
    client: DockerClient,
    container: str,
    *,
    tail: int | None,
    since: float | None,
    follow: bool,
) -> ContainerLogs:
    """The container's stdout and stderr as the engine keeps them; `since` a UNIX time (fractional
    seconds are honoured), `tail` the last lines only. With `follow` the iteration waits for new
    output until the container stops or `close()` is called."""
    stream = client.api.logs(
        container,
        stdout=True,
        stderr=True,
        timestamps=True,
        stream=True,
        follow=follow,
        tail="all" if tail is None else tail,
        since=since,
    )
    return ContainerLogs(stream)


def split_timestamp(line: str) -> tuple[datetime, str]:
    """`2026-05-01T12:00:00.123456789Z text` (docker's RFC 3339 with nanoseconds) -> (time, text)."""
    stamp, _, text = line.partition(" ")
    return _parse_rfc3339(stamp), text.rstrip("\r")


def _parse_rfc3339(stamp: str) -> datetime:
    match = _RFC3339.match(stamp)
    if match is None:
        return datetime.now(UTC)
    base, fraction, zone = match.groups()
    micro = (fraction or "")[1:7].ljust(6, "0")
    parsed = datetime.fromisoformat(f"{base}.{micro}{'+00:00' if zone in ('Z', 'z') else zone}")
    return parsed.astimezone(UTC)


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|z|[+-]\d\d:\d\d)$")
