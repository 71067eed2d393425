"""The CLI as users and scripts run it: JSON shapes, error codes and exit statuses, init."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import RepoFactory
from e2e.host_config import host_toml

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_json_shapes_for_up_ls_status_down(make_repo: RepoFactory, port_base: int, run_berth: Run) -> None:
    repo = make_repo(host_toml(port_base))
    up = run_berth("up", "feat/cli", "--json", "--port", f"api={port_base + 77}", cwd=repo)
    assert up.returncode == 0, up.stderr
    session = json.loads(up.stdout)
    assert set(session) >= {
        "slug",
        "branch",
        "mode",
        "slot",
        "status",
        "worktreePath",
        "envFile",
        "ports",
        "services",
        "startedAt",
    }
    assert session["ports"]["api"] == port_base + 77
    listed = json.loads(run_berth("ls", "--json", cwd=repo).stdout)
    assert [s["slug"] for s in listed["sessions"]] == ["feat-cli"]
    status = run_berth("status", "feat-cli", "--json", cwd=repo)
    assert status.returncode == 0
    assert {s["state"] for s in json.loads(status.stdout)["sessions"][0]["services"]} == {"running"}
    down = run_berth("down", "feat/cli", "--json", cwd=repo)
    receipt = json.loads(down.stdout)
    assert receipt["slug"] == "feat-cli" and receipt["kept"] == []
    empty = run_berth("ls", "--json", cwd=repo)
    assert json.loads(empty.stdout) == {"sessions": []}, "no sessions is still JSON"


def test_errors_carry_code_hint_and_exit_status(
    make_repo: RepoFactory, port_base: int, run_berth: Run
) -> None:
    repo = make_repo(host_toml(port_base))
    bad = run_berth("up", "$(rm -rf ~)", "--json", cwd=repo)
    assert bad.returncode == 1
    error = json.loads(bad.stdout)["error"]
    assert error["code"] == "INVALID_BRANCH" and error["hint"]
    missing = run_berth("down", "ghost", cwd=repo)
    assert missing.returncode == 1
    assert "SESSION_NOT_FOUND" in missing.stderr and "hint" in missing.stderr
    port = run_berth("up", "x-y", "--port", "web=notaport", cwd=repo)
    assert port.returncode == 2 and "NAME=PORT" not in port.stdout and "invalid port" in port.stderr
    assert not (repo / ".berth" / "worktrees").exists()


def test_broken_config_lists_every_problem(make_repo: RepoFactory, run_berth: Run) -> None:
    repo = make_repo('mode = "nope"\nmax_slots = -1\n[[services]]\nname = "Web"\n')
    result = run_berth("up", "feat", "--json", cwd=repo)
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "CONFIG_INVALID"
    problems = error["details"]["problems"]
    assert len(problems) == 4, problems  # mode, max_slots, services[0].name, services[0].base_port
    assert not (repo / ".berth" / "worktrees").exists()


def test_not_a_git_repo(tmp_path: Path, run_berth: Run) -> None:
    result = run_berth("ls", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["error"]["code"] == "NOT_A_GIT_REPO"


def test_init_writes_starter_and_gitignore(tmp_path: Path, run_berth: Run) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    result = run_berth("init", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["mode"] == "hybrid"
    assert ".berth/" in (tmp_path / ".gitignore").read_text().splitlines()
    again = run_berth("init", cwd=tmp_path)
    assert again.returncode == 1 and "--force" in again.stderr
    from berth.domain.config import load_config

    assert load_config(tmp_path).mode.value == "hybrid", "the starter file is itself valid"


def test_services_refuses_docker_names_instead_of_ignoring_them(
    make_repo: RepoFactory, run_berth: Run
) -> None:
    repo = make_repo(
        'mode = "hybrid"\n[[services]]\nname = "db"\nbase_port = 25432\nrun = "docker"\n'
        '[[services]]\nname = "web"\nbase_port = 23000\ncommand = "true"\n'
    )
    result = run_berth("up", "feat", "--services", "web,db", "--json", cwd=repo)
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "INVALID_ARGUMENT" and "'db' is a docker service" in error["message"]
    assert not (repo / ".berth" / "worktrees").exists()


def test_human_output_carries_every_message_literally(make_repo: RepoFactory, run_berth: Run) -> None:
    """Bracketed text is user text, not markup: the human error says exactly what --json says."""
    repo = make_repo('mode = "host"\n[[services]]\nname = "Web"\nbase_port = 23000\n')
    as_json = json.loads(run_berth("up", "feat", "--json", cwd=repo).stdout)["error"]
    human = run_berth("up", "feat", cwd=repo)
    assert "^[a-z0-9][a-z0-9_-]*$" in as_json["message"]
    assert f"error [CONFIG_INVALID]: {as_json['message']}" in human.stderr
    assert f"hint: {as_json['hint']}" in human.stderr


def test_human_output_never_turns_text_into_emoji(make_repo: RepoFactory, run_berth: Run) -> None:
    """rich reads `:up:` as an emoji code even with markup off; a user's text keeps it as typed."""
    repo = make_repo('mode = "host"\n')
    as_json = json.loads(run_berth("down", "a:up:b", "--json", cwd=repo).stdout)["error"]
    human = run_berth("down", "a:up:b", cwd=repo)
    assert "'a:up:b'" in as_json["message"]
    assert f"error [{as_json['code']}]: {as_json['message']}" in human.stderr


def test_init_next_step_names_services_literally(tmp_path: Path, run_berth: Run) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    result = run_berth("init", cwd=tmp_path)
    assert "Next: add [[services]], then `berth up <branch>`." in result.stdout


def test_remedies_are_rendered_as_cli_commands(
    make_repo: RepoFactory, port_base: int, run_berth: Run
) -> None:
    repo = make_repo(host_toml(port_base))
    (repo / ".berth" / "worktrees" / "feat-x").mkdir(parents=True)
    as_json = json.loads(run_berth("up", "feat/x", "--json", cwd=repo).stdout)["error"]
    assert as_json["remedies"] == [{"action": "reuseWorktree", "args": {"branch": "feat/x"}}]
    human = run_berth("up", "feat/x", cwd=repo)
    assert "try: berth up feat/x --reuse-worktree" in human.stderr


def test_status_of_one_session_lists_uncommitted_changes_and_log_paths(
    make_repo: RepoFactory, port_base: int, run_berth: Run
) -> None:
    repo = make_repo(host_toml(port_base))
    session = json.loads(run_berth("up", "feat/st", "--json", cwd=repo).stdout)

    def status() -> dict[str, object]:
        out = run_berth("status", "feat-st", "--json", cwd=repo)
        result: dict[str, object] = json.loads(out.stdout)["sessions"][0]
        return result

    first = status()
    assert first["uncommittedChanges"] == [], ".env.berth is Berth's own file, not a change"
    logs = {s["name"]: s["logPath"] for s in first["services"]}  # type: ignore[attr-defined]
    assert logs == {
        "web": str(repo / ".berth" / "logs" / "feat-st" / "web.log"),
        "api": str(repo / ".berth" / "logs" / "feat-st" / "api.log"),
    }
    assert all(Path(p).is_file() for p in logs.values())
    (Path(session["worktreePath"]) / "notes.txt").write_text("mine\n")
    assert status()["uncommittedChanges"] == ["notes.txt"]
    down = json.loads(run_berth("down", "feat-st", "--json", cwd=repo).stdout)
    kept = [k for k in down["kept"] if k["kind"] == "worktree"]
    assert kept and "notes.txt" in kept[0]["reason"]
    assert kept[0]["remedies"] == [{"action": "forceDown", "args": {"slug": "feat-st"}}]
    listed = json.loads(run_berth("ls", "--json", cwd=repo).stdout)["sessions"]
    assert "uncommittedChanges" not in listed[0], "the cheap list does not run git"
