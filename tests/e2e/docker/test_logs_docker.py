"""`berth logs` and `berth/logs` on a real container-mode session: a busybox stand-in container
printing lines, read from the engine with its timestamps, followed until `down` removes it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import BERTH, RepoFactory
from e2e.docker.docker_world import IMAGE, berth_toml, compose_file, docker_service, labelled, web_service
from e2e.logs_world import OutputLines, logs_port_base
from e2e.rpc.conftest import connect, wait_until
from waiting import wait_until as wait_until_sync

pytestmark = pytest.mark.docker
Run = Callable[..., subprocess.CompletedProcess[str]]

TALKER = (
    f"  talker:\n    image: {IMAGE}\n    pull_policy: never\n"
    '    command: ["sh", "-c", "i=0; while :; do i=$$((i+1)); echo talk $$i; sleep 0.2; done"]\n'
)


@pytest.fixture
def session(make_repo: RepoFactory) -> tuple[Path, Engine, str]:
    base = logs_port_base()
    prefix = f"bl{base}"
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("web", base)),
        files={"compose.yml": compose_file(web_service(), TALKER)},
    )
    engine = Engine(Workspace(repo))
    engine.up(UpRequest(branch="feat/box"))
    return repo, engine, f"{prefix}_feat-box"


def talk_numbers(lines: list[dict[str, Any]]) -> list[int]:
    return [int(str(x["text"]).split()[1]) for x in lines if x["service"] == "talker"]


def test_cli_reads_the_engine_log_with_its_timestamps(
    session: tuple[Path, Engine, str], run_berth: Run
) -> None:
    repo, _, _ = session

    def enough() -> list[dict[str, Any]] | None:
        res = run_berth("logs", "feat-box", "talker", "--tail", "3", "--json", cwd=repo)
        assert res.returncode == 0, res.stdout + res.stderr
        lines: list[dict[str, Any]] = json.loads(res.stdout)["lines"]
        return lines if len(lines) == 3 else None

    lines = wait_until_sync(enough, timeout=20, interval=0.2, what="three talker lines")
    numbers = talk_numbers(lines)
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    times = [datetime.fromisoformat(str(x["time"]).replace("Z", "+00:00")) for x in lines]
    assert times == sorted(times) and times[0] != times[1], "the engine's own timestamps"

    res = run_berth("logs", "feat-box", "--tail", "2", cwd=repo)
    assert res.returncode == 0
    services = {x.split(" | ")[0].strip() for x in res.stdout.splitlines()}
    assert "talker" in services and services <= {"talker", "web"}, "several services: prefixed"
    res = run_berth("logs", "feat-box", "db", "--json", cwd=repo)
    assert json.loads(res.stdout)["error"]["code"] == "UNKNOWN_SERVICE"


def test_cli_follow_ends_when_down_removes_the_containers(session: tuple[Path, Engine, str]) -> None:
    repo, engine, project = session
    proc = subprocess.Popen(
        [*BERTH, "logs", "feat-box", "talker", "--tail", "1", "--json", "--follow"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = OutputLines(proc)
    reader.wait_for(5)
    engine.down(DownRequest(slug="feat-box"))
    assert reader.finish() == 0
    *lines, end = reader.json()
    assert end["ended"] == "sessionDown"
    numbers = talk_numbers(lines)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "none lost, none twice"
    assert labelled(project).empty()


def test_cli_follow_ctrl_c(session: tuple[Path, Engine, str]) -> None:
    repo, engine, _ = session
    proc = subprocess.Popen(
        [*BERTH, "logs", "feat-box", "talker", "--follow"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = OutputLines(proc)
    reader.wait_for(3)
    proc.send_signal(signal.SIGINT)
    assert reader.finish() == 130, reader.stderr
    assert engine.status("feat-box")[0].status == "active"


async def test_rpc_follow_streams_docker_lines_until_cancel_then_until_down(
    session: tuple[Path, Engine, str], tmp_path: Path
) -> None:
    repo, _, project = session
    berth = await connect("stdio", repo, tmp_path)
    notes: list[dict[str, Any]] = []
    berth.lsp.feature("berth/logLine")(lambda params: notes.append(params))
    try:
        first = asyncio.ensure_future(
            berth.request(
                "berth/logs", {"slug": "feat-box", "services": ["talker"], "follow": True}, msg_id="follow-1"
            )
        )
        await wait_until(lambda: len(notes) >= 3, what="talker lines")
        berth.lsp.cancel_request(_cancel("follow-1"))
        result = await asyncio.wait_for(first, 10)
        assert result["ended"] == "cancelled"
        assert {n["token"] for n in notes} == {"follow-1"} and {n["service"] for n in notes} == {"talker"}

        notes.clear()
        second = asyncio.ensure_future(
            berth.request("berth/logs", {"slug": "feat-box", "tail": 0, "follow": True, "token": "f2"})
        )
        await wait_until(lambda: len(notes) >= 3, what="new talker lines")
        receipt = await berth.request("berth/down", {"slug": "feat-box"})
        assert receipt["status"] == "removed"
        result = await asyncio.wait_for(second, 15)
        assert result["ended"] == "sessionDown"
        numbers = talk_numbers(notes)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert labelled(project).empty()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(berth.lsp.shutdown_session(), 30)
        await berth.lsp.stop()


def _cancel(msg_id: str) -> Any:
    from lsprotocol import types

    return types.CancelParams(id=msg_id)
