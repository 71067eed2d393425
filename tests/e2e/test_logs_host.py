"""`berth logs` on a real host-mode session: native services writing to their log files, read and
followed by the real CLI (a subprocess), ended by a real `down` or by SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import BERTH, RepoFactory
from e2e.logs_world import OutputLines, host_logs_toml, logs_port_base, ticker, wait_for_lines

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def session(make_repo: RepoFactory) -> tuple[Path, Engine]:
    repo = make_repo(host_logs_toml(logs_port_base(), {"web": ticker("web"), "worker": ticker("job", 0.1)}))
    engine = Engine(Workspace(repo))
    engine.up(UpRequest(branch="feat/logs"))
    wait_for_lines(repo, "feat-logs", "web", 4)
    wait_for_lines(repo, "feat-logs", "worker", 4)
    return repo, engine


def follow(repo: Path, *args: str) -> OutputLines:
    proc = subprocess.Popen(
        [*BERTH, "logs", "feat-logs", *args, "--follow"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return OutputLines(proc)


def test_reads_the_last_lines_of_each_service_with_a_prefix(
    session: tuple[Path, Engine], run_berth: Run
) -> None:
    repo, _ = session
    res = run_berth("logs", "feat-logs", "--tail", "2", cwd=repo)
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert len(out) == 4
    assert sorted(x.split(" | ")[0].strip() for x in out) == ["web", "web", "worker", "worker"]
    web = [x.split(" | ")[1] for x in out if x.startswith("web")]
    first = int(web[0].split()[1])
    assert web == [f"web {first}", f"web {first + 1}"], "the last lines, in file order"

    res = run_berth("logs", "feat-logs", "worker", "--tail", "3", cwd=repo)
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 3
    assert all(x.startswith("job ") for x in res.stdout.splitlines()), "one service: no prefix"
    res = run_berth("logs", "feat-logs", "--tail", "3", "worker", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert all(x.startswith("job ") for x in res.stdout.splitlines()), "a service named after an option"
    res = run_berth("logs", "feat-logs", "--tail", "3", "worker", "--bogus", cwd=repo)
    assert res.returncode == 2 and "unrecognized arguments: worker --bogus" in res.stderr

    res = run_berth("logs", "feat-logs", "worker", "--tail", "3", "--since", "1h", "--json", cwd=repo)
    doc = json.loads(res.stdout)
    assert list(doc) == ["lines"]
    assert [x["service"] for x in doc["lines"]] == ["worker"] * 3
    assert all(x["time"].endswith("Z") and x["text"].startswith("job ") for x in doc["lines"])

    everything = json.loads(run_berth("logs", "feat-logs", "--json", cwd=repo).stdout)["lines"]
    assert len(everything) >= 8, "without --tail: every line"


def test_unknown_session_service_and_duration_are_precise_errors(
    session: tuple[Path, Engine], run_berth: Run
) -> None:
    repo, _ = session
    res = run_berth("logs", "nope", "--json", cwd=repo)
    assert res.returncode == 1 and json.loads(res.stdout)["error"]["code"] == "SESSION_NOT_FOUND"
    res = run_berth("logs", "feat-logs", "web", "db", "--json", cwd=repo)
    error = json.loads(res.stdout)["error"]
    assert res.returncode == 1 and error["code"] == "UNKNOWN_SERVICE"
    assert error["details"] == {"service": "db", "known": ["web", "worker"]}
    res = run_berth("logs", "feat-logs", "--since", "5 minutes", cwd=repo)
    assert res.returncode == 1 and "INVALID_ARGUMENT" in res.stderr and "10s, 5m, 2h" in res.stderr


def test_follow_prints_new_lines_until_the_session_goes_down(session: tuple[Path, Engine]) -> None:
    repo, engine = session
    reader = follow(repo, "web", "--tail", "1", "--json")
    first = reader.wait_for(1)
    start = int(json.loads(first[0])["text"].split()[1])
    reader.wait_for(5)

    engine.down(DownRequest(slug="feat-logs"))

    assert reader.finish() == 0
    *lines, end = reader.json()
    assert end["ended"] == "sessionDown" and "feat-logs went down" in str(end["message"])
    numbers = [int(str(x["text"]).split()[1]) for x in lines]
    assert numbers == list(range(start, start + len(numbers))), "every line once, in order, none lost"
    assert {x["service"] for x in lines} == {"web"}


def test_follow_says_so_on_stderr_when_the_session_goes_down(session: tuple[Path, Engine]) -> None:
    repo, engine = session
    reader = follow(repo, "--tail", "0")
    out = reader.wait_for(4)
    assert {x.split(" | ")[0].strip() for x in out} <= {"web", "worker"}
    engine.down(DownRequest(slug="feat-logs"))
    assert reader.finish() == 0
    assert reader.stderr.strip() == "session feat-logs went down; stopped following its logs"


def test_ctrl_c_ends_a_follow_quietly_with_130(session: tuple[Path, Engine]) -> None:
    repo, engine = session
    reader = follow(repo, "--tail", "1")
    reader.wait_for(3)
    reader.proc.send_signal(signal.SIGINT)
    assert reader.finish() == 130, reader.stderr
    assert reader.stderr == ""
    assert engine.status("feat-logs")[0].status == "active", "following changed nothing"


def test_follow_ends_when_the_session_is_stopped(session: tuple[Path, Engine]) -> None:
    repo, engine = session
    reader = follow(repo, "worker", "--tail", "0")
    reader.wait_for(2)
    engine.down(DownRequest(slug="feat-logs", keep_worktree=True))
    assert reader.finish() == 0, "a stopped session ends the follow too"
    assert "feat-logs is stopped" in reader.stderr
