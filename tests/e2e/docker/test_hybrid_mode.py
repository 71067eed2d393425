"""Hybrid mode on the real engine: data services in compose, the app native, one env file for both."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.adapters import envfile
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.events import RecordingSink
from berth.domain.models import ServiceState
from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import RepoFactory
from e2e.docker.docker_world import (
    IMAGE,
    berth_toml,
    compose_file,
    data_service,
    docker_service,
    http_get,
    labelled,
    native_service,
    project_containers,
    session_files,
)
from world import assert_nothing_left, berth_processes

pytestmark = pytest.mark.docker

APP = "exec python3 -m http.server $PORT --bind 127.0.0.1"


def test_hybrid_runs_data_in_compose_and_the_app_natively(make_repo: RepoFactory, port_base: int) -> None:
    prefix = f"bt{port_base}"
    services = native_service("app", port_base, APP) + docker_service("data", port_base + 50)
    repo = make_repo(
        berth_toml("hybrid", prefix, services=services),
        files={"compose.yml": compose_file(data_service(ports='["5432:8080"]'), volumes=["data-volume"])},
    )
    engine = Engine(Workspace(repo))

    view = engine.up(UpRequest(branch="feat/hy"))

    app_port, data_port = view.ports["app"], view.ports["data"]
    assert (app_port, data_port) == (port_base + 1, port_base + 51)
    env = envfile.read(Path(view.env_file))
    assert env["PORT"] == env["BERTH_APP_PORT"] == str(app_port)
    assert env["BERTH_DATA_PORT"] == str(data_port) and env["BERTH_MODE"] == "hybrid"
    assert "Directory listing" in http_get(app_port), "the app runs natively on its port"
    assert http_get(data_port, "/starts").count("\n") == 1, "the data service answers on its own port"
    project = f"{prefix}_feat-hy"
    assert labelled(project).containers == [f"{project}-data-1"]
    views = {v.name: v for v in engine.status("feat-hy")[0].services}
    assert (views["app"].kind, views["app"].state) == ("native", ServiceState.RUNNING)
    assert (views["data"].kind, views["data"].state, views["data"].health) == (
        "docker",
        ServiceState.RUNNING,
        "healthy",
    )

    receipt = engine.down(DownRequest(slug="feat-hy"))

    kinds = {r.kind for r in receipt.removed}
    assert {"process", "container", "network", "volume", "compose file", "worktree"} <= kinds
    assert labelled(project).empty()
    assert_nothing_left(repo, "feat-hy")


def test_hybrid_without_docker_services_starts_the_compose_services_not_labelled_app(
    make_repo: RepoFactory, port_base: int
) -> None:
    prefix = f"bt{port_base}"
    app_in_compose = (
        f"  app:\n    image: {IMAGE}\n    pull_policy: never\n    ports: ['3000:8080']\n"
        "    labels: {berth.role: app}\n"
    )
    repo = make_repo(
        berth_toml("hybrid", prefix, services=native_service("app", port_base, APP)),
        files={
            "compose.yml": compose_file(
                app_in_compose, data_service("db", ports='["5432:8080"]'), volumes=["db-volume"]
            )
        },
    )
    engine = Engine(Workspace(repo))
    view = engine.up(UpRequest(branch="label"))

    project = f"{prefix}_label"
    assert labelled(project).containers == [f"{project}-db-1"], "the app-labelled service is not started"
    db_port = view.ports["db"]
    assert db_port != 5432 and http_get(db_port, "/starts")
    assert envfile.read(Path(view.env_file))["BERTH_DB_PORT"] == str(db_port)
    assert "Directory listing" in http_get(view.ports["app"])
    engine.down(DownRequest(slug="label"))
    assert labelled(project).empty()


def test_fresh_hybrid_rollback_removes_containers_volumes_session_file_and_processes(
    make_repo: RepoFactory, port_base: int
) -> None:
    prefix = f"bt{port_base}"
    services = native_service("app", port_base, APP) + docker_service("data", port_base + 50)
    repo = make_repo(
        berth_toml("hybrid", prefix, services=services, hooks={"post_up": "exit 1"}),
        files={"compose.yml": compose_file(data_service(), volumes=["data-volume"])},
    )
    sink = RecordingSink()
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="feat/fresh"), events=sink)

    assert info.value.code is ErrorCode.HOOK_FAILED
    project = f"{prefix}_feat-fresh"
    assert labelled(project).empty(), "a fresh session's rollback removes its volumes too"
    assert project_containers(project) == []
    assert session_files(repo) == []
    assert berth_processes(repo) == []
    assert_nothing_left(repo, "feat-fresh", branch_created="feat/fresh")
