"""Docker-side assertions: what the engine holds for a session, by label, and small service helpers."""

from __future__ import annotations

import json
import textwrap
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker

from waiting import wait_until

IMAGE = "berth-test/busybox:1"


@dataclass(frozen=True)
class Labelled:
    containers: list[str]
    networks: list[str]
    volumes: list[str]

    def empty(self) -> bool:
        return not (self.containers or self.networks or self.volumes)


def labelled(project: str) -> Labelled:
    """Everything carrying the session's label ``berth.session=<project>``."""
    client = docker.from_env()
    try:
        flt = {"label": [f"berth.session={project}"]}
        return Labelled(
            containers=sorted(
                c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters=flt)
            ),
            networks=sorted(n["Name"] for n in client.api.networks(filters=flt)),
            volumes=sorted(v["Name"] for v in (client.api.volumes(filters=flt) or {}).get("Volumes") or []),
        )
    finally:
        client.close()


def project_containers(project: str) -> list[str]:
    """Containers of the compose project, labelled by Berth or not."""
    client = docker.from_env()
    try:
        flt = {"label": [f"com.docker.compose.project={project}"]}
        return sorted(c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters=flt))
    finally:
        client.close()


def published_ports(container: str) -> list[int]:
    client = docker.from_env()
    try:
        ports = client.api.inspect_container(container)["NetworkSettings"]["Ports"] or {}
    finally:
        client.close()
    return sorted({int(b["HostPort"]) for bindings in ports.values() if bindings for b in bindings})


def http_get(port: int, path: str = "/", timeout: float = 10) -> str:
    """GET from the host; retried briefly because docker-proxy may accept before the service does."""
    url = f"http://127.0.0.1:{port}{path}"
    errors: list[OSError] = []

    def get() -> tuple[str] | None:  # a tuple, so that an empty body still ends the wait
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                body: bytes = resp.read()
                return (body.decode(),)
        except OSError as exc:
            errors.append(exc)
            return None

    (text,) = wait_until(
        get, timeout=timeout, interval=0.1, what=f"GET {url}", detail=lambda: f"last error: {errors[-1]!r}"
    )
    return text


def volume_file(volume: str, path: str) -> str:
    """Read a file from a named volume with a throwaway container (no network, removed after)."""
    client = docker.from_env()
    try:
        out: bytes = client.containers.run(
            IMAGE,
            ["cat", f"/v/{path}"],
            volumes={volume: {"bind": "/v", "mode": "ro"}},
            remove=True,
            network_mode="none",
        )
    finally:
        client.close()
    return out.decode()


HEALTHCHECK = """\
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 30
"""


def web_service(name: str = "web", *, ports: str = '["8080"]', extra: str = "") -> str:
    """The busybox httpd image serving /www on 8080, with a healthcheck."""
    return (
        f"  {name}:\n    image: {IMAGE}\n    pull_policy: never\n    ports: {ports}\n" + HEALTHCHECK + extra
    )


def data_service(name: str = "data", *, ports: str = '["8080"]') -> str:
    """A "data service": appends to a file in its named volume at each start and serves the volume."""
    command = "mkdir -p /data && date >> /data/starts && exec httpd -f -p 8080 -h /data"
    return (
        f"  {name}:\n    image: {IMAGE}\n    pull_policy: never\n    ports: {ports}\n"
        f'    command: ["sh", "-c", {json.dumps(command)}]\n    volumes: ["{name}-volume:/data"]\n'
        + HEALTHCHECK.replace("http://127.0.0.1:8080/", "http://127.0.0.1:8080/starts")
    )


def compose_file(*services: str, volumes: Sequence[str] = ()) -> str:
    text = "services:\n" + "".join(services)
    if volumes:
        text += "volumes:\n" + "".join(f"  {v}: {{}}\n" for v in volumes)
    return text


def berth_toml(
    mode: str, prefix: str, *, services: str = "", hooks: dict[str, str] | None = None, extra: str = ""
) -> str:
    text = f'mode = "{mode}"\nprefix = "{prefix}"\nport_search_range = 2\n{extra}\n' + textwrap.dedent(
        services
    )
    if hooks:
        text += "[hooks]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in hooks.items())
    return text


def container_repo(
    make_repo: Callable[..., Path],
    prefix: str,
    services: str,
    *compose_services: str,
    volumes: Sequence[str] = (),
    files: Mapping[str, str] | None = None,
) -> Path:
    """A repository in container mode: berth.toml declares `services` (docker_service entries) over a
    compose.yml of `compose_services` and its named `volumes`, beside any other `files`."""
    return make_repo(
        berth_toml("container", prefix, services=services),
        files={"compose.yml": compose_file(*compose_services, volumes=volumes), **(files or {})},
    )


def docker_service(name: str, base_port: int, *, compose: str | None = None, timeout: float = 60) -> str:
    lines = [
        "[[services]]",
        f'name = "{name}"',
        f"base_port = {base_port}",
        'run = "docker"',
        f"ready = {{ timeout = {timeout} }}",
    ]
    if compose:
        lines.append(f'compose = "{compose}"')
    return "\n".join(lines) + "\n"


def native_service(name: str, base_port: int, command: str) -> str:
    return (
        "\n".join(
            [
                "[[services]]",
                f'name = "{name}"',
                f"base_port = {base_port}",
                f"command = {json.dumps(command)}",
            ]
        )
        + "\n"
    )


def session_files(repo: Path) -> list[Path]:
    """The compose files Berth wrote for sessions (compose's model, rewritten per session)."""
    return sorted((repo / ".berth" / "compose").glob("*.json"))
