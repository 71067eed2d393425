"""Host mode end to end: real git worktrees, real processes, real ports."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import psutil
import pytest

from berth.adapters.ports import accepts_tcp
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.events import RecordingSink
from berth.domain.models import ServiceState, SessionStatus
from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import RepoFactory
from e2e.host_config import host_toml
from waiting import wait_until
from world import assert_nothing_left, berth_processes, db_rows, registered_worktrees


def answers(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as resp:
        return resp.status == 200


@pytest.fixture
def repo(make_repo: RepoFactory, port_base: int) -> Path:
    repo = make_repo(host_toml(port_base))
    (repo / ".env").write_text('GREETING="hello"\n')  # untracked, like a real .env
    return repo


def test_up_status_down(repo: Path, port_base: int) -> None:
    engine = Engine(Workspace(repo))
    sink = RecordingSink()
    session = engine.up(UpRequest(branch="feat/login"), events=sink)

    assert (session.slug, session.slot, session.status) == ("feat-login", 1, SessionStatus.ACTIVE)
    worktree = repo / ".berth" / "worktrees" / "feat-login"
    assert worktree.resolve() in registered_worktrees(repo)
    assert session.ports == {"web": port_base + 1, "api": port_base + 51}
    assert answers(port_base + 1) and answers(port_base + 51)
    env = (worktree / ".env.berth").read_text()
    assert env == (
        f"API_PORT={port_base + 51}\nBACKEND_PORT={port_base + 51}\nBERTH_API_HOST=127.0.0.1\n"
        f"BERTH_API_PORT={port_base + 51}\nBERTH_API_URL=http://127.0.0.1:{port_base + 51}\n"
        f"BERTH_MODE=host\nBERTH_SLOT=1\nBERTH_SLUG=feat-login\nBERTH_WEB_HOST=127.0.0.1\n"
        f"BERTH_WEB_PORT={port_base + 1}\nBERTH_WEB_URL=http://127.0.0.1:{port_base + 1}\n"
        f"PORT={port_base + 1}\n"
    )
    assert (worktree / ".env").is_symlink()
    assert [s for s, *_ in sink.progress_events] == ["feat-login"] * len(sink.progress_events)
    assert [i for _, _, i, _ in sink.progress_events] == list(range(1, 11))

    (status,) = engine.status("feat-login")
    assert [(s.name, s.state, s.actual_ports) for s in status.services] == [
        ("web", ServiceState.RUNNING, [port_base + 1]),
        ("api", ServiceState.RUNNING, [port_base + 51]),
    ]
    receipt = engine.down(DownRequest(slug="feat-login"))
    assert {r.kind for r in receipt.removed} == {"process", "worktree", "ports", "session"}
    assert receipt.kept == []
    assert_nothing_left(repo, "feat-login")


def test_services_get_env_files_and_generated_vars(make_repo: RepoFactory, port_base: int) -> None:
    command = 'printf \'%s %s\' "$GREETING" "$BERTH_SLUG" > seen.txt && exec python3 -m http.server $PORT'
    repo = make_repo(host_toml(port_base, web_command=command))
    (repo / ".env").write_text('GREETING="hello"\n')
    session = Engine(Workspace(repo)).up(UpRequest(branch="envs"))
    assert (Path(session.worktree_path) / "seen.txt").read_text() == "hello envs"


def test_resume_restarts_only_dead_services_on_recorded_ports(repo: Path) -> None:
    engine = Engine(Workspace(repo))
    first = engine.up(UpRequest(branch="resume-me"))
    pids = {s.name: s.pid for s in first.services}
    psutil.Process(pids["api"]).kill()
    psutil.Process(pids["api"]).wait(5)
    assert engine.status("resume-me")[0].services[1].state is ServiceState.EXITED

    second = engine.up(UpRequest(branch="resume-me"))
    again = {s.name: s.pid for s in second.services}
    assert again["web"] == pids["web"], "a running service is left alone"
    assert again["api"] != pids["api"]
    assert second.ports == first.ports and second.slot == first.slot
    assert len(db_rows(repo, "sessions")) == 1
    assert answers(second.ports["api"])
    engine.down(DownRequest(slug="resume-me"))


def test_dirty_worktree_survives_down_and_force_removes_it(repo: Path) -> None:
    engine = Engine(Workspace(repo))
    session = engine.up(UpRequest(branch="dirty"))
    work = Path(session.worktree_path) / "notes.txt"
    work.write_text("uncommitted work")

    receipt = engine.down(DownRequest(slug="dirty"))
    assert receipt.status == "stopped"
    assert [k.kind for k in receipt.kept] == ["worktree"]
    assert "uncommitted changes" in receipt.kept[0].reason
    assert work.read_text() == "uncommitted work"
    assert berth_processes(repo) == [], "services still stop"
    (listed,) = engine.list_sessions()
    assert listed.status is SessionStatus.STOPPED and listed.slot == 1

    resumed = engine.up(UpRequest(branch="dirty"))
    assert resumed.status is SessionStatus.ACTIVE and resumed.slot == 1
    assert work.read_text() == "uncommitted work"

    engine.down(DownRequest(slug="dirty", force=True))
    assert not work.exists()
    assert db_rows(repo, "sessions") == []


def test_keep_worktree_stops_and_up_resumes_same_slot(repo: Path) -> None:
    engine = Engine(Workspace(repo))
    engine.up(UpRequest(branch="first"))
    engine.up(UpRequest(branch="second"))
    receipt = engine.down(DownRequest(slug="first", keep_worktree=True))
    assert receipt.status == "stopped"
    third = engine.up(UpRequest(branch="third"))
    assert third.slot == 3, "a stopped session keeps its slot"
    back = engine.up(UpRequest(branch="first"))
    assert back.slot == 1 and back.status is SessionStatus.ACTIVE
    assert answers(back.ports["web"])
    for slug in ("first", "second", "third"):
        engine.down(DownRequest(slug=slug))
    assert db_rows(repo, "sessions") == [] and db_rows(repo, "leases") == []


def test_reused_worktree_is_never_removed(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "my-checkout"
    subprocess.run(
        ["git", "worktree", "add", "-b", "mine", str(outside)], cwd=repo, check=True, capture_output=True
    )
    (outside / "wip.txt").write_text("mine")
    engine = Engine(Workspace(repo))
    session = engine.up(UpRequest(branch="mine", reuse_worktree=True))
    assert Path(session.worktree_path) == outside.resolve()
    assert session.worktree_owned is False
    receipt = engine.down(DownRequest(slug="mine", force=True))
    assert "did not create it" in receipt.kept[0].reason
    assert (outside / "wip.txt").read_text() == "mine"
    assert receipt.status == "removed" and engine.list_sessions() == [], (
        "the session goes, the worktree stays"
    )


def test_port_bump_when_nominal_is_taken(make_repo: RepoFactory, port_base: int) -> None:
    import socket

    repo = make_repo(host_toml(port_base))
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port_base + 1))
        blocker.listen()
        session = Engine(Workspace(repo)).up(UpRequest(branch="bumped"))
    assert session.ports["web"] == port_base + 1 + 8, "the next candidate is nominal + max_slots * stride"
    assert f"PORT={port_base + 9}" in Path(session.env_file).read_text()


def test_port_override_names_are_checked(repo: Path) -> None:
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="x-y", ports={"nope": 4000}))
    assert info.value.code is ErrorCode.UNKNOWN_SERVICE
    assert db_rows(repo, "sessions") == []


def test_busy_session_is_refused(repo: Path) -> None:
    ws = Workspace(repo)
    ws.store.reserve(
        slug="busy",
        branch="busy",
        kind="up",
        max_slots=8,
        new_session=lambda slot: __import__("berth.domain.records", fromlist=["x"]).SessionRecord(
            slug="busy",
            branch="busy",
            mode="host",
            slot=slot,
            status=SessionStatus.PENDING,
            worktree_path="/nowhere",
            worktree_owned=False,
            env_file="/nowhere/.env.berth",
        ),
        undo_for=lambda prev, op: __import__("berth.modes.undo", fromlist=["x"]).forget_session("busy", op),
    )
    with pytest.raises(BerthError) as info:
        Engine(ws).up(UpRequest(branch="busy"))
    assert info.value.code is ErrorCode.SESSION_BUSY
    with pytest.raises(BerthError) as info:
        Engine(ws).down(DownRequest(slug="busy"))
    assert info.value.code is ErrorCode.SESSION_BUSY


def test_status_names_a_foreign_process_on_the_port(make_repo: RepoFactory, port_base: int) -> None:
    import os
    import socket

    elsewhere = port_base + 30
    toml = host_toml(port_base, web_command=f"exec python3 -m http.server {elsewhere} --bind 127.0.0.1")
    # a tcp probe would refuse the squatter's port (readiness wants the service's own listener,
    # tests/e2e/test_port_race_host.py): a command probe lets the session come up wrong
    toml = toml.replace("ready = { timeout = 10 }", 'ready = { type = "command", command = "true" }', 1)
    repo = make_repo(toml)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port_base + 20))
        squatter.listen()
        engine = Engine(Workspace(repo))
        engine.up(UpRequest(branch="owner", ports={"web": port_base + 20}))
        # wait until the service really listens elsewhere
        wait_until(lambda: accepts_tcp(elsewhere), timeout=30, what=f"the service to listen on {elsewhere}")
        (status,) = engine.status("owner")
        web = next(s for s in status.services if s.name == "web")
        assert web.state is ServiceState.WRONG_OWNER
        assert web.actual_ports == [elsewhere]
        assert f"held by PID {os.getpid()}" in (web.detail or "")
    engine.down(DownRequest(slug="owner"))
