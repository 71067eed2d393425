"""The second engine as the tests see it, and assertions about what it (or the local one) holds."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker

from conftest import BERTH
from waiting import wait_until

CONTEXT = "berth-remote-test"
"""The docker context (in the fixture's own DOCKER_CONFIG) that points at the second engine."""


@dataclass(frozen=True)
class RemoteEngine:
    host: str
    """tcp://10.231.N.2:2376"""
    socket: Path
    """Its unix socket (used by the test's own checks only)."""
    cert_path: Path
    """ca.pem, cert.pem, key.pem of a client."""
    docker_config: Path
    """A DOCKER_CONFIG whose context CONTEXT points at the engine (no current context set)."""

    @property
    def address(self) -> str:
        return str(urlsplit(self.host).hostname)

    @property
    def cli_env(self) -> dict[str, str]:
        """The raw docker CLI against it, over TLS."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        return {
            **env,
            "DOCKER_HOST": self.host,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(self.cert_path),
        }

    def berth_env(self, **extra: str) -> dict[str, str]:
        """Berth with the fixture's docker config and nothing else pointing at an engine; the
        machine's REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE stay set, as a user may have them."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        return {**env, "DOCKER_CONFIG": str(self.docker_config), **extra}

    def client(self) -> docker.DockerClient:
        """The SDK on the engine's own socket: the tests' view, independent of Berth's TLS code."""
        return docker.DockerClient(base_url=f"unix://{self.socket}")


def labelled_on(client: docker.DockerClient, project: str) -> dict[str, list[str]]:
    flt = {"label": [f"berth.session={project}"]}
    return {
        "containers": sorted(c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters=flt)),
        "networks": sorted(n["Name"] for n in client.api.networks(filters=flt)),
        "volumes": sorted(v["Name"] for v in (client.api.volumes(filters=flt) or {}).get("Volumes") or []),
    }


def on_remote(remote: RemoteEngine, project: str) -> dict[str, list[str]]:
    client = remote.client()
    try:
        return labelled_on(client, project)
    finally:
        client.close()


def on_local(project: str) -> dict[str, list[str]]:
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock")  # whatever this shell says
    try:
        return labelled_on(client, project)
    finally:
        client.close()


def empty(found: Mapping[str, list[str]]) -> bool:
    return not any(found.values())


def berth(
    *args: str, cwd: Path, env: Mapping[str, str], timeout: float = 180
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """`berth ARGS --json` as a subprocess; its parsed JSON output (None when not JSON)."""
    res = subprocess.run(
        [*BERTH, args[0], "--json", *args[1:]],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        parsed = json.loads(res.stdout)
    except json.JSONDecodeError:
        parsed = None
    return res, parsed


def http_get_at(host: str, port: int, path: str = "/", timeout: float = 15) -> str:
    """GET http://HOST:PORT (the remote engine's address only), retried while the proxy comes up."""
    url = f"http://{host}:{port}{path}"
    errors: list[OSError] = []
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get() -> tuple[str] | None:
        try:
            with opener.open(url, timeout=2) as resp:
                body: bytes = resp.read()
                return (body.decode(),)
        except OSError as exc:
            errors.append(exc)
            return None

    (text,) = wait_until(
        get, timeout=timeout, interval=0.1, what=f"GET {url}", detail=lambda: f"last error: {errors[-1]!r}"
    )
    return text


def env_file(worktree: Path) -> dict[str, str]:
    lines = (worktree / ".env.berth").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)
