"""Container mode on the real engine: compose runs everything from the session's worktree."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from berth.adapters import docker_engine
from berth.domain.engine_endpoint import LOCAL_ENGINE
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.events import RecordingSink
from berth.domain.models import ServiceState, SessionStatus
from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import RepoFactory
from e2e.docker.docker_world import (
    berth_toml,
    compose_file,
    data_service,
    docker_service,
    http_get,
    labelled,
    project_containers,
    published_ports,
    session_files,
    web_service,
)
from world import assert_nothing_left, db_rows

pytestmark = pytest.mark.docker


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_up_serves_the_branch_code_on_its_port_then_down_leaves_nothing(
    make_repo: RepoFactory, port_base: int
) -> None:
    prefix = f"bt{port_base}"
    web = web_service(ports='["8080:8080"]', extra='    volumes: ["./www:/www:ro"]\n')
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("web", port_base)),
        files={"compose.yml": compose_file(web), "www/index.html": "main checkout\n"},
    )
    git(repo, "checkout", "-q", "-b", "feat/page")
    (repo / "www" / "index.html").write_text("branch code\n")
    git(repo, "commit", "-qam", "branch page")
    git(repo, "checkout", "-q", "main")
    engine = Engine(Workspace(repo))

    view = engine.up(UpRequest(branch="feat/page"))

    port = view.ports["web"]
    assert port == port_base + 1
    assert http_get(port) == "branch code\n", "compose ran from the session's worktree, not the main checkout"
    project = f"{prefix}_feat-page"
    assert labelled(project).containers == [f"{project}-web-1"]
    assert labelled(project).networks == [f"{project}_default"]
    assert published_ports(f"{project}-web-1") == [port], "the base file's 8080:8080 is not published"
    assert (port, "tcp") in docker_engine.published_ports(LOCAL_ENGINE), (
        "allocation sees docker-published ports as taken"
    )
    env = (Path(view.worktree_path) / ".env.berth").read_text()
    assert f"BERTH_WEB_PORT={port}\n" in env and "BERTH_MODE=container\n" in env and "\nPORT=" not in env
    [status] = engine.status("feat-page")
    [web_view] = status.services
    assert (web_view.kind, web_view.state, web_view.health) == ("docker", ServiceState.RUNNING, "healthy")
    assert (web_view.port, web_view.actual_ports, web_view.detail) == (port, [port], None)

    receipt = engine.down(DownRequest(slug="feat-page"))

    removed = {(r.kind, r.name) for r in receipt.removed}
    assert {("container", f"{project}-web-1"), ("network", f"{project}_default")} <= removed
    assert ("compose file", str(repo / ".berth" / "compose" / "feat-page-1.json")) in removed
    assert receipt.kept == []
    assert labelled(project).empty() and project_containers(project) == []
    assert session_files(repo) == []
    assert_nothing_left(repo, "feat-page")


def test_two_sessions_in_parallel_have_their_own_ports_and_volumes(
    make_repo: RepoFactory, port_base: int
) -> None:
    prefix = f"bt{port_base}"
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("data", port_base)),
        files={"compose.yml": compose_file(data_service(ports='["8080:8080"]'), volumes=["data-volume"])},
    )

    def up(branch: str) -> int:
        return Engine(Workspace(repo)).up(UpRequest(branch=branch)).ports["data"]

    with ThreadPoolExecutor(2) as pool:
        port_a, port_b = pool.map(up, ["par-a", "par-b"])

    assert port_a != port_b and {port_a, port_b} <= {port_base + 1, port_base + 2}
    for port in (port_a, port_b):
        assert http_get(port, "/starts").count("\n") == 1
    assert labelled(f"{prefix}_par-a").volumes == [f"{prefix}_par-a_data-volume"]
    assert labelled(f"{prefix}_par-b").volumes == [f"{prefix}_par-b_data-volume"]

    engine = Engine(Workspace(repo))
    engine.down(DownRequest(slug="par-a"))
    assert labelled(f"{prefix}_par-a").empty()
    assert http_get(port_b, "/starts"), "taking one session down leaves the other running"
    engine.down(DownRequest(slug="par-b"))
    assert labelled(f"{prefix}_par-b").empty()
    assert db_rows(repo, "sessions") == []


def test_stop_keeps_volumes_resume_reuses_them_and_full_down_removes_them(
    make_repo: RepoFactory, port_base: int
) -> None:
    prefix = f"bt{port_base}"
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("data", port_base)),
        files={"compose.yml": compose_file(data_service(), volumes=["data-volume"])},
    )
    engine = Engine(Workspace(repo))
    project, volume = f"{prefix}_keep", f"{prefix}_keep_data-volume"
    port = engine.up(UpRequest(branch="keep")).ports["data"]
    assert http_get(port, "/starts").count("\n") == 1

    stopped = engine.down(DownRequest(slug="keep", keep_worktree=True))
    assert stopped.status == "stopped"
    assert [(k.kind, k.name) for k in stopped.kept if k.kind == "volume"] == [("volume", volume)]
    assert labelled(project) == labelled(project).__class__([], [], [volume])
    assert engine.list_sessions()[0].services[0].state is ServiceState.STOPPED

    port = engine.up(UpRequest(branch="keep")).ports["data"]
    assert http_get(port, "/starts").count("\n") == 2, "the resumed session found its data"

    kept = engine.down(DownRequest(slug="keep", keep_volumes=True))
    assert kept.status == "removed" and ("volume", volume) in {(k.kind, k.name) for k in kept.kept}
    assert labelled(project) == labelled(project).__class__([], [], [volume])

    port = engine.up(UpRequest(branch="keep")).ports["data"]
    assert http_get(port, "/starts").count("\n") == 3, "a new session adopts the volume kept on purpose"
    gone = engine.down(DownRequest(slug="keep"))
    assert ("volume", volume) in {(r.kind, r.name) for r in gone.removed}
    assert labelled(project).empty()


def test_base_file_host_port_is_never_published_by_a_session(make_repo: RepoFactory, port_base: int) -> None:
    prefix = f"bt{port_base}"
    db = (
        web_service("db", ports='["5432:5432"]')
        .replace("http://127.0.0.1:8080/", "http://127.0.0.1:5432/")
        .replace(
            "    healthcheck:", '    command: ["httpd", "-f", "-p", "5432", "-h", "/www"]\n    healthcheck:'
        )
    )
    admin = web_service("admin", ports='["127.0.0.1:5480:8080"]')
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("db", port_base)),
        files={"compose.yml": compose_file(db, admin)},
    )
    view = Engine(Workspace(repo)).up(UpRequest(branch="ports"))

    project = f"{prefix}_ports"
    assert published_ports(f"{project}-db-1") == [view.ports["db"]] == [port_base + 1]
    assert http_get(view.ports["db"]) == "berth-test ok\n"
    admin_port = view.ports["admin"]
    assert admin_port != 5480 and published_ports(f"{project}-admin-1") == [admin_port], (
        "a service berth.toml does not list gets its own port too, never the base file's"
    )
    env = (Path(view.worktree_path) / ".env.berth").read_text()
    assert f"BERTH_ADMIN_PORT={admin_port}\n" in env
    Engine(Workspace(repo)).down(DownRequest(slug="ports"))
    assert labelled(project).empty()


def test_failing_second_group_takes_the_first_down_with_both_overlays(
    make_repo: RepoFactory, port_base: int
) -> None:
    prefix = f"bt{port_base}"
    broken = (
        "services:\n  broken:\n    image: berth-test/busybox:1\n    pull_policy: never\n"
        '    command: ["sh", "-c", "echo cannot start >&2; exit 3"]\n    volumes: ["cache:/cache"]\n'
        "volumes:\n  cache: {}\n"
    )
    config = docker_service("data", port_base) + docker_service(
        "broken", port_base + 50, compose="infra/compose.yml"
    )
    repo = make_repo(
        berth_toml("container", prefix, services=config),
        files={
            "compose.yml": compose_file(data_service(), volumes=["data-volume"]),
            "infra/compose.yml": broken,
        },
    )
    sink = RecordingSink()
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="feat/two"), events=sink)

    assert info.value.code is ErrorCode.COMPOSE_FAILED
    assert "exited (3)" in info.value.message
    assert any("data-1 Healthy" in line for _, line in sink.logs), "the first group did come up"
    project = f"{prefix}_feat-two"
    assert labelled(project).empty(), "containers, networks and volumes of both groups are gone"
    assert project_containers(project) == []
    assert session_files(repo) == []
    undone = [kind for _, _, kind, state, _ in sink.undo_events if state == "undone"]
    assert undone[:4] == ["compose_down", "restore_file", "compose_down", "restore_file"], (
        "each group's containers go down before its session file is deleted, newest group first"
    )
    assert all(state != "failed" for *_, state, _ in sink.undo_events)
    assert_nothing_left(repo, "feat-two", branch_created="feat/two")


def test_down_follows_the_recorded_mode_after_berth_toml_changes(
    make_repo: RepoFactory, port_base: int
) -> None:
    prefix = f"bt{port_base}"
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("web", port_base)),
        files={"compose.yml": compose_file(web_service())},
    )
    engine = Engine(Workspace(repo))
    engine.up(UpRequest(branch="switch"))
    (repo / "berth.toml").write_text('mode = "host"\n')
    with pytest.raises(BerthError) as info:
        engine.up(UpRequest(branch="switch"))
    assert info.value.code is ErrorCode.MODE_MISMATCH and "container mode" in info.value.message
    assert labelled(f"{prefix}_switch").containers == [f"{prefix}_switch-web-1"]

    engine.down(DownRequest(slug="switch"))

    assert labelled(f"{prefix}_switch").empty()
    assert_nothing_left(repo, "switch")


def test_compose_file_outside_the_worktree_is_refused(make_repo: RepoFactory, port_base: int) -> None:
    prefix = f"bt{port_base}"
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("web", port_base, compose="../x.yml"))
    )
    (repo.parent / "x.yml").write_text(compose_file(web_service()))
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="outside"))
    assert info.value.code is ErrorCode.COMPOSE_FILE_INVALID
    assert "outside the worktree" in info.value.message
    assert_nothing_left(repo, "outside", branch_created="outside")
    assert labelled(f"{prefix}_outside").empty()


def test_a_reup_of_a_healthy_session_changes_nothing(make_repo: RepoFactory, port_base: int) -> None:
    prefix = f"bt{port_base}"
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("web", port_base)),
        files={"compose.yml": compose_file(web_service())},
    )
    engine = Engine(Workspace(repo))
    first = engine.up(UpRequest(branch="again"))
    before = labelled(f"{prefix}_again")
    sink = RecordingSink()
    second = engine.up(UpRequest(branch="again"), events=sink)
    assert any("nothing to do" in line for _, line in sink.logs)
    assert second.ports == first.ports and labelled(f"{prefix}_again") == before
    assert engine.status("again")[0].status is SessionStatus.ACTIVE
    engine.down(DownRequest(slug="again"))


def test_down_of_a_session_whose_worktree_was_deleted_by_hand(make_repo: RepoFactory, port_base: int) -> None:
    prefix = f"bt{port_base}"
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("data", port_base)),
        files={"compose.yml": compose_file(data_service(), volumes=["data-volume"])},
    )
    engine = Engine(Workspace(repo))
    view = engine.up(UpRequest(branch="gone"))
    shutil.rmtree(view.worktree_path)  # the user's compose file goes with it
    [own] = session_files(repo)
    own.unlink()  # and the session's own compose file too

    receipt = engine.down(DownRequest(slug="gone"))

    assert any("removing the containers through the engine" in w for w in receipt.warnings)
    assert {"container", "network", "volume"} <= {r.kind for r in receipt.removed}
    assert labelled(f"{prefix}_gone").empty()
    assert db_rows(repo, "sessions") == []
