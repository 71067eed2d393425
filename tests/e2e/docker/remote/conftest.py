"""A second Docker engine standing in for a remote machine (scripts/remote-engine.sh): its own network
namespace, roots and bridge, TLS on the namespace's address. Started once per test run, with the
offline test image loaded into it and a docker context (in an isolated DOCKER_CONFIG) pointing at it;
stopped after.

Without root (network namespaces need it) the tests here skip, unless BERTH_REQUIRE_DOCKER=1 (CI,
as root): then a remote engine that cannot start is a failure, never a skip."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from conftest import REPO_ROOT
from e2e.docker.remote.remote_world import CONTEXT, RemoteEngine

SCRIPT = REPO_ROOT / "scripts" / "remote-engine.sh"
_CA_BUNDLE_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _unavailable(reason: str) -> None:
    if os.environ.get("BERTH_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (BERTH_REQUIRE_DOCKER=1: the remote-engine tests must run)", pytrace=False)
    pytest.skip(reason)


def _free_slot() -> int:
    """A slot whose network namespace no other run on this machine uses (two test runs at once)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    taken = {line.split()[0] for line in listing.splitlines() if line.strip()}
    start = os.getpid() % 64
    for i in range(64):
        slot = (start + i) % 64
        if f"berth-rd{slot}" not in taken:
            return slot
    raise RuntimeError("no free remote-engine slot (64 network namespaces berth-rd* exist)")


def _plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CA_BUNDLE_VARS and not k.startswith("DOCKER_")}
    return {**env, **extra}


@pytest.fixture(scope="session")
def remote_engine(
    docker_engine_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RemoteEngine]:
    if os.geteuid() != 0:
        _unavailable("a second Docker engine in a network namespace needs root")
    base = tmp_path_factory.mktemp("remote-engine")
    engine_dir = base / "engine"
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(engine_dir), str(_free_slot())],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    try:
        if started.returncode != 0:
            _unavailable(f"the second Docker engine did not start: {started.stderr.strip()[-500:]}")
        values = dict(line.split("=", 1) for line in started.stdout.split() if "=" in line)
        cert_path = Path(values["DOCKER_CERT_PATH"])
        remote = RemoteEngine(
            host=values["DOCKER_HOST"],
            socket=engine_dir / "docker.sock",
            cert_path=cert_path,
            docker_config=base / "docker-config",
        )
        remote.docker_config.mkdir()
        subprocess.run(
            [
                "docker",
                "context",
                "create",
                CONTEXT,
                "--docker",
                f"host={remote.host},ca={cert_path / 'ca.pem'},cert={cert_path / 'cert.pem'},"
                f"key={cert_path / 'key.pem'}",
            ],
            env=_plain_env(DOCKER_CONFIG=str(remote.docker_config)),
            capture_output=True,
            text=True,
            check=True,
        )
        _load_test_image(remote)
        yield remote
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(engine_dir)], capture_output=True, timeout=180)


def _load_test_image(remote: RemoteEngine) -> None:
    from e2e.docker.docker_world import IMAGE

    save = subprocess.Popen(
        ["docker", "save", IMAGE], stdout=subprocess.PIPE, env=_plain_env(), stdin=subprocess.DEVNULL
    )
    load = subprocess.run(
        ["docker", "load", "-q"], stdin=save.stdout, env=remote.cli_env, capture_output=True, text=True
    )
    save.wait()
    assert save.returncode == 0 and load.returncode == 0, f"loading {IMAGE} failed: {load.stderr}"


@pytest.fixture(autouse=True)
def _sweep_remote(remote_engine: RemoteEngine, tmp_path: Path) -> Iterator[None]:
    """What a failing test left on the remote engine (labelled with one of its repositories) goes."""
    yield
    client = remote_engine.client()
    try:
        for root in (str(p) for p in tmp_path.iterdir() if p.is_dir()):
            labels = {"label": [f"berth.root={root}"]}
            for c in client.api.containers(all=True, filters=labels):
                client.api.remove_container(c["Id"], force=True, v=True)
            for n in client.api.networks(filters=labels):
                try:
                    client.api.remove_network(n["Id"])
                except docker.errors.APIError as exc:
                    if "active endpoints" not in str(exc):
                        raise
            for v in (client.api.volumes(filters=labels) or {}).get("Volumes") or []:
                client.api.remove_volume(v["Name"], force=True)
    finally:
        client.close()
