"""Docker tests run against the real engine and compose v2. At session start the engine is made
available (scripts/ensure-docker.sh) and the offline test image is built.

Without an engine or compose v2 every test here is skipped with the reason, unless
BERTH_REQUIRE_DOCKER=1 (CI): then that is a failure, so a run cannot pass with the docker tier
silently skipped. The image builder's own errors are never a skip; only a machine with no package
source for busybox-static (dockerimages.BusyboxUnavailable) skips, and under BERTH_REQUIRE_DOCKER=1
that fails too."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from conftest import REPO_ROOT
from docker_tier import docker_unavailable


@pytest.fixture(scope="session")
def docker_engine_ready() -> None:
    if reason := os.environ.get("BERTH_DOCKER_UNAVAILABLE"):
        docker_unavailable(f"no Docker engine: {reason}")
    script = REPO_ROOT / "scripts" / "ensure-docker.sh"
    res = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=600, check=False)
    if res.returncode != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        docker_unavailable(
            f"no Docker engine or compose v2: {lines[-1] if lines else 'ensure-docker.sh failed'}"
        )
    from dockerimages import BusyboxUnavailable, ensure_test_images

    try:
        ensure_test_images()
    except BusyboxUnavailable as exc:  # any other error is a bug to see, not a reason to skip
        docker_unavailable(f"cannot build the offline test image: {exc}")


@pytest.fixture(autouse=True)
def _docker(docker_engine_ready: None) -> None:
    """Every test in this directory needs the engine."""


@pytest.fixture
def engine_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _sweep_after(tmp_path: Path) -> Iterator[None]:
    """Whatever a failing test left behind (labelled with one of its repositories) is removed, so one
    failure cannot cascade into the next test."""
    yield
    client = docker.from_env()
    try:
        roots = [str(p) for p in tmp_path.iterdir() if p.is_dir()]
        for root in roots:
            labels = {"label": [f"berth.root={root}"]}
            for c in client.api.containers(all=True, filters=labels):
                client.api.remove_container(c["Id"], force=True, v=True)
            for n in client.api.networks(filters=labels):
                try:
                    client.api.remove_network(n["Id"])
                except docker.errors.APIError as exc:  # the engine's stale endpoint (moby#43286)
                    if "active endpoints" not in str(exc):
                        raise
            for v in (client.api.volumes(filters=labels) or {}).get("Volumes") or []:
                client.api.remove_volume(v["Name"], force=True)
    finally:
        client.close()
