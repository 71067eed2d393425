"""Docker services on the real engine (ports 44000-44999): a leased host port taken before compose
publishes it is re-leased and `up` runs again; and `down --dry-run` of a docker session lists the
engine's resources, changing none."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.domain.events import RecordingSink
from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import RepoFactory
from e2e.docker.docker_world import (
    container_repo,
    data_service,
    docker_service,
    http_get,
    labelled,
    published_ports,
    session_files,
    web_service,
)
from e2e.outsiders import free_block, listens_on, outsider, start_watching, stop
from world import assert_nothing_left, db_rows

pytestmark = pytest.mark.docker
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def base() -> int:
    return free_block(40)


def test_a_docker_port_taken_before_compose_up_is_re_leased(
    make_repo: RepoFactory, base: int, tmp_path: Path
) -> None:
    prefix = f"br{base}"
    repo = container_repo(
        make_repo,
        prefix,
        docker_service("web", base),
        web_service(ports='["8080:8080"]'),
        files={"www/index.html": "hi\n"},
    )
    pidfile = tmp_path / "outsider.pid"
    envfile = repo / ".berth" / "worktrees" / "feat-race" / ".env.berth"
    watcher = start_watching(envfile, "BERTH_WEB_PORT", pidfile)
    sink = RecordingSink()
    try:
        view = Engine(Workspace(repo)).up(UpRequest(branch="feat/race"), events=sink)

        taken, moved = base + 1, base + 9
        grabber = outsider(pidfile)
        assert listens_on(grabber, taken)
        assert view.ports["web"] == moved
        assert f"BERTH_WEB_PORT={moved}\n" in envfile.read_text()
        project = f"{prefix}_feat-race"
        assert published_ports(f"{project}-web-1") == [moved]
        assert http_get(moved) is not None
        (session_file,) = session_files(repo)
        assert f'"published": "{moved}"' in session_file.read_text()
        assert [(p, s) for p, _, _, s, *_ in db_rows(repo, "leases")] == [(moved, "web")]
        notes = [line for _, line in sink.logs if "compose could not publish" in line]
        assert notes == [
            f"[feat-race] compose could not publish web: the port was taken after it was leased; leased "
            f"web {taken} -> {moved}, rewrote .env.berth and the session compose file, running up again "
            "(try 2 of at most 3)"
        ]
        assert any(
            step == f"start containers: moved web {taken} -> {moved}"
            for _, step, _, _ in sink.progress_events
        )

        Engine(Workspace(repo)).down(DownRequest(slug="feat-race"))
        assert labelled(project).empty() and session_files(repo) == []
        assert_nothing_left(repo, "feat-race")
        assert grabber.is_running() and listens_on(grabber, taken), "the outsider is untouched"
    finally:
        stop(pidfile)
        watcher.kill()
        watcher.wait()


def test_down_dry_run_of_a_docker_session_lists_the_engine_resources_and_changes_none(
    make_repo: RepoFactory, base: int, run_berth: Run
) -> None:
    prefix = f"bp{base}"
    repo = container_repo(
        make_repo, prefix, docker_service("data", base), data_service(), volumes=["data-volume"]
    )
    assert run_berth("up", "feat/plan", cwd=repo).returncode == 0
    project = f"{prefix}_feat-plan"
    before = labelled(project)
    state = (repo / ".berth" / "state.db").read_bytes()

    done = run_berth("down", "feat-plan", "--dry-run", "--json", cwd=repo)
    stopping = json.loads(
        run_berth("down", "feat-plan", "--dry-run", "--keep-worktree", "--json", cwd=repo).stdout
    )

    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert labelled(project) == before, "the dry run changed the engine"
    assert (repo / ".berth" / "state.db").read_bytes() == state
    removed = [(r["kind"], r["name"]) for r in plan["remove"]]
    assert removed[:3] == [
        ("container", f"{project}-data-1"),
        ("network", f"{project}_default"),
        ("volume", f"{project}_data-volume"),
    ]
    assert ("compose file", str(repo / ".berth" / "compose" / "feat-plan-1.json")) in removed
    assert stopping["status"] == "stopped"
    assert ("volume", f"{project}_data-volume") in [(k["kind"], k["name"]) for k in stopping["keep"]]

    receipt = json.loads(run_berth("down", "feat-plan", "--json", cwd=repo).stdout)
    assert sorted(map(str, [r for r in receipt["removed"] if r["kind"] != "session"])) == sorted(
        map(
            str,
            [r for r in plan["remove"] if r["kind"] not in ("session", "env file", "worktree", "ports")]
            + [r for r in plan["remove"] if r["kind"] in ("worktree", "ports")],
        )
    )
    assert labelled(project).empty()
    assert_nothing_left(repo, "feat-plan")
