"""A failure at each bring-up step leaves nothing behind; a reused worktree survives rollback."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from berth.domain.errors import BerthError, ErrorCode, internal_error
from berth.domain.events import RecordingSink
from berth.lifecycle.engine import Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import RepoFactory
from e2e.host_config import host_toml
from world import assert_nothing_left, db_rows, registered_worktrees


@pytest.mark.parametrize(
    ("failure", "code", "undone"),
    [
        ({"pre_up": "exit 42"}, ErrorCode.HOOK_FAILED, ["kill_processes", "forget_session"]),
        (
            {"pre_spawn": "echo broken >&2; exit 3"},
            ErrorCode.HOOK_FAILED,
            ["kill_processes", "restore_file", "remove_worktree", "release_leases", "forget_session"],
        ),
        (
            {"post_up": "exit 1"},
            ErrorCode.HOOK_FAILED,
            [
                "kill_processes",
                "kill_processes",
                "kill_processes",
                "restore_file",
                "remove_worktree",
                "release_leases",
                "forget_session",
            ],
        ),
        ({"web_command": "echo dying; exit 7"}, ErrorCode.SPAWN_FAILED, None),
        ({"web_command": "exec sleep 60", "timeout": 0.5}, ErrorCode.SERVICE_NOT_READY, None),
    ],
    ids=["pre_up", "pre_spawn", "post_up", "service-exits", "never-ready"],
)
def test_failure_at_each_step_leaves_nothing(
    make_repo: RepoFactory,
    port_base: int,
    failure: dict[str, object],
    code: ErrorCode,
    undone: list[str] | None,
) -> None:
    options = dict(failure)
    repo = make_repo(
        host_toml(
            port_base,
            web_command=options.pop("web_command", None),  # type: ignore[arg-type]
            timeout=options.pop("timeout", 10),
            **options,
        )
    )  # type: ignore[arg-type]
    sink = RecordingSink()
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="feat/fail"), events=sink)
    assert info.value.code is code
    assert_nothing_left(repo, "feat-fail", branch_created="feat/fail")
    kinds = [kind for _, _, kind, state, _ in sink.undo_events if state == "undone"]
    if undone is not None:
        assert kinds == undone, "undo steps run newest first, each reported"
    assert all(state != "failed" for *_, state, _ in sink.undo_events)


def test_service_failure_reports_its_last_log_lines(make_repo: RepoFactory, port_base: int) -> None:
    repo = make_repo(host_toml(port_base, web_command="echo 'listen failed: EADDRNOTAVAIL'; exit 7"))
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="logs"))
    assert "exited with status 7" in info.value.message
    assert "listen failed: EADDRNOTAVAIL" in info.value.message


def test_strict_port_taken_fails_and_leaves_nothing(make_repo: RepoFactory, port_base: int) -> None:
    repo = make_repo(host_toml(port_base, strict=True))
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port_base + 1))
        blocker.listen()
        with pytest.raises(BerthError) as info:
            Engine(Workspace(repo)).up(UpRequest(branch="strict"))
    assert info.value.code is ErrorCode.PORT_IN_USE
    assert str(port_base + 1) in info.value.message
    assert_nothing_left(repo, "strict", branch_created="strict")


def test_reused_worktree_survives_rollback(make_repo: RepoFactory, port_base: int, tmp_path: Path) -> None:
    repo = make_repo(host_toml(port_base, post_up="exit 1"))
    existing = tmp_path / "existing"
    subprocess.run(
        ["git", "worktree", "add", "-b", "reuse-me", str(existing)], cwd=repo, check=True, capture_output=True
    )
    (existing / "precious.txt").write_text("work in progress")
    with pytest.raises(BerthError):
        Engine(Workspace(repo)).up(UpRequest(branch="reuse-me", reuse_worktree=True))
    assert existing.resolve() in registered_worktrees(repo)
    assert (existing / "precious.txt").read_text() == "work in progress"
    assert not (existing / ".env.berth").exists(), "the env file this up wrote is rolled back"
    assert db_rows(repo, "sessions") == [] and db_rows(repo, "leases") == []


def test_failed_resume_keeps_worktree_and_restores_the_session(
    make_repo: RepoFactory, port_base: int
) -> None:
    repo = make_repo(host_toml(port_base))
    engine = Engine(Workspace(repo))
    first = engine.up(UpRequest(branch="again"))
    marker = Path(first.worktree_path) / "mine.txt"
    marker.write_text("keep")
    from berth.lifecycle.engine import DownRequest

    engine.down(DownRequest(slug="again", keep_worktree=True))
    (repo / "berth.toml").write_text(host_toml(port_base, post_up="exit 9"))
    with pytest.raises(BerthError):
        engine.up(UpRequest(branch="again"))
    (after,) = engine.list_sessions()
    assert after.status.value == "stopped" and after.slot == first.slot
    assert marker.read_text() == "keep"
    assert db_rows(repo, "operations") == []


def test_hostile_branch_creates_nothing(make_repo: RepoFactory, port_base: int) -> None:
    repo = make_repo(host_toml(port_base))
    for branch in ("../x", "$(rm -rf /)", "x" * 1000, "ünï", "-f", "a\x00b"):
        with pytest.raises(BerthError) as info:
            Engine(Workspace(repo)).up(UpRequest(branch=branch))
        assert info.value.code is ErrorCode.INVALID_BRANCH
    assert db_rows(repo, "sessions") == []
    assert registered_worktrees(repo) == [repo.resolve()]


def test_an_incomplete_rollback_says_what_remains_and_recover_finishes_it(
    make_repo: RepoFactory, port_base: int
) -> None:
    """The post_up hook breaks the worktree's `.git` link, so git refuses to remove it on rollback:
    the error keeps its own code, says in data what is left, and offers recover; once the user
    repairs `.git`, recover removes exactly what remained."""
    repo = make_repo(host_toml(port_base, post_up="cp .git .git.saved && echo garbage > .git && exit 1"))
    engine = Engine(Workspace(repo))
    with pytest.raises(BerthError) as info:
        engine.up(UpRequest(branch="feat/stuck"))
    assert info.value.code is ErrorCode.HOOK_FAILED
    rollback = info.value.details["rollback"]
    assert rollback["complete"] is False
    assert [r["kind"] for r in rollback["remaining"]] == ["remove_worktree"]
    assert "validation failed" in rollback["remaining"][0]["error"]
    assert [r.to_dict()["action"] for r in info.value.remedies][-1] == "recover"
    worktree = repo / ".berth" / "worktrees" / "feat-stuck"
    assert worktree.is_dir(), "what could not be undone is still there, and said so"

    (worktree / ".git.saved").rename(worktree / ".git")
    report = engine.recover()
    assert report.remaining == 0 and [u.state for u in report.undone] == ["undone"]
    assert_nothing_left(repo, "feat-stuck", branch_created="feat/stuck")


def test_a_bug_during_up_still_reports_what_its_rollback_left(
    make_repo: RepoFactory, port_base: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception (a bug: here the final commit raising) is not a BerthError, yet the
    INTERNAL error every frontend builds from it says what the rollback could not undo."""
    repo = make_repo(host_toml(port_base, post_up="cp .git .git.saved && echo garbage > .git"))
    engine = Engine(Workspace(repo))

    def broken_commit(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("a bug in the commit")

    monkeypatch.setattr(engine.ws.store, "commit_session", broken_commit)
    with pytest.raises(RuntimeError) as info:
        engine.up(UpRequest(branch="feat/bug"))
    monkeypatch.undo()
    reported = internal_error(info.value, "internal error", "a bug")
    assert reported.code is ErrorCode.INTERNAL
    assert [r["kind"] for r in reported.details["rollback"]["remaining"]] == ["remove_worktree"]
    assert "recover retries it" in reported.hint
    assert [r.to_dict()["action"] for r in reported.remedies] == ["recover"]
    assert internal_error(RuntimeError("clean"), "internal error", "a bug").details == {}, (
        "no residue: none said"
    )

    worktree = repo / ".berth" / "worktrees" / "feat-bug"
    (worktree / ".git.saved").rename(worktree / ".git")
    assert engine.recover().remaining == 0
    assert_nothing_left(repo, "feat-bug", branch_created="feat/bug")


def test_readiness_hint_names_the_services_env_var(make_repo: RepoFactory, port_base: int) -> None:
    repo = make_repo(
        'mode = "host"\n[[services]]\nname = "my-api"\n'
        f'base_port = {port_base}\ncommand = "exec sleep 60"\nready = {{ timeout = 0.3 }}\n'
    )
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="hint"))
    assert info.value.code is ErrorCode.SERVICE_NOT_READY
    assert "${BERTH_MY_API_PORT}" in info.value.hint, "the name .env.berth really gives it"
    assert_nothing_left(repo, "hint", branch_created="hint")
