"""`berth env`, `berth exec`, `berth shell` and RPC `berth/env` on a real host-mode session: real git,
real service processes, the real CLI as a subprocess, a real `sh` evaluating what `env` prints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest
from pygls.exceptions import JsonRpcException

from berth.adapters import envfile
from conftest import BERTH, RepoFactory
from e2e.host_config import host_toml
from e2e.rpc.conftest import connect
from free_ports import free_block

EXEC_PORTS = range(42000, 43000, 100)
"""This file's port range (base, base+50 for api, their search ranges): no other test uses it."""


@pytest.fixture
def exec_base() -> int:
    return free_block(EXEC_PORTS, 80)


def berth(
    repo: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BERTH, *args],
        cwd=repo,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def session(make_repo: RepoFactory, exec_base: int) -> Iterator[tuple[Path, Path]]:
    """An active session `feat-env` of a repository whose .env says GREETING (inherited)."""
    repo = make_repo(host_toml(exec_base))
    (repo / ".env").write_text('GREETING="hello from .env"\n')
    up = berth(repo, "up", "feat/env", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    worktree = Path(json.loads(up.stdout)["worktreePath"])
    yield repo, worktree
    berth(repo, "down", "feat-env", "--force")


def test_exec_runs_in_the_worktree_with_the_session_env_and_its_exit_status(
    session: tuple[Path, Path], exec_base: int
) -> None:
    repo, worktree = session
    done = berth(
        repo, "exec", "feat/env", "--", "sh", "-c", 'echo "$BERTH_WEB_PORT|$API_PORT|$GREETING"; pwd; exit 7'
    )
    assert done.returncode == 7, done.stderr
    ports, cwd = done.stdout.splitlines()
    assert ports == f"{exec_base + 1}|{exec_base + 51}|hello from .env"
    assert Path(cwd).resolve() == worktree.resolve()

    ok = berth(
        repo, "exec", "feat-env", "--", "python3", "-c", "import os; print(os.environ['BERTH_WEB_URL'])"
    )
    assert (ok.returncode, ok.stdout) == (0, f"http://127.0.0.1:{exec_base + 1}\n")
    with urlopen(ok.stdout.strip(), timeout=10) as resp:  # the URL really reaches the session's web service
        assert resp.status == 200

    scripted = berth(repo, "exec", "feat-env", "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert scripted.returncode == 3
    report = json.loads(scripted.stdout)
    assert (report["exitCode"], report["stdout"], report["stderr"]) == (3, "out\n", "err\n")
    assert report["cwd"] == str(worktree) and report["service"] is None


def test_env_formats_and_a_real_sh_evaluating_the_shell_format(
    session: tuple[Path, Path], exec_base: int
) -> None:
    repo, worktree = session
    dotenv = berth(repo, "env", "feat-env")
    assert dotenv.returncode == 0
    assert dotenv.stdout == (worktree / ".env.berth").read_text(), "env prints what .env.berth holds"
    assert f"BERTH_WEB_HOST=127.0.0.1\nBERTH_WEB_PORT={exec_base + 1}\n" in dotenv.stdout
    as_json = json.loads(berth(repo, "env", "feat-env", "--json").stdout)
    assert as_json == json.loads(berth(repo, "env", "feat-env", "--format", "json").stdout)
    assert as_json["variables"] == envfile.read(worktree / ".env.berth")
    assert as_json["envFile"] == str(worktree / ".env.berth") and as_json["slug"] == "feat-env"

    shell = berth(repo, "env", "feat-env", "--format", "shell")
    assert all(line.startswith("export ") for line in shell.stdout.splitlines())
    script = f'eval "$({" ".join(BERTH)} env feat-env --format shell)"; echo "$PORT $BERTH_API_PORT $BERTH_API_URL"'
    evaluated = subprocess.run(
        ["sh", "-c", script], cwd=repo, capture_output=True, text=True, timeout=60, check=True
    )
    assert evaluated.stdout == f"{exec_base + 1} {exec_base + 51} http://127.0.0.1:{exec_base + 51}\n"


def test_shell_is_the_users_shell_in_the_worktree(session: tuple[Path, Path]) -> None:
    repo, worktree = session
    done = berth(
        repo,
        "shell",
        "feat-env",
        stdin='echo "$BERTH_SLUG $GREETING"; pwd; exit 4\n',
        env={"SHELL": "/bin/sh"},
    )
    assert done.returncode == 4, done.stderr
    assert done.stdout.splitlines() == ["feat-env hello from .env", str(worktree)]
    plan = json.loads(berth(repo, "shell", "feat-env", "--json", env={"SHELL": "/bin/sh"}).stdout)
    assert plan["argv"] == ["/bin/sh"] and plan["cwd"] == str(worktree)
    assert plan["env"]["GREETING"] == "hello from .env" and plan["env"]["BERTH_SLUG"] == "feat-env"
    assert "PATH" not in plan["env"], "only what the session adds, not the whole OS env"


def test_refusals_come_before_anything_runs(session: tuple[Path, Path]) -> None:
    repo, _ = session
    marker = repo / "ran"
    touch = ["--", "touch", str(marker)]

    def error(*args: str) -> dict[str, object]:
        done = berth(repo, *args, "--json", *touch)
        assert done.returncode == 1, done.stdout + done.stderr
        found: dict[str, object] = json.loads(done.stdout)["error"]
        return found

    assert error("exec", "ghost")["code"] == "SESSION_NOT_FOUND"
    native = error("exec", "feat-env", "--service", "web")
    assert native["code"] == "INVALID_ARGUMENT" and "native service" in str(native["message"])
    assert error("exec", "feat-env", "--service", "db")["code"] == "UNKNOWN_SERVICE"
    missing = berth(repo, "exec", "feat-env", "--", "no-such-command-xyz")
    assert missing.returncode == 1 and "INVALID_ARGUMENT" in missing.stderr and "PATH" in missing.stderr

    stop = berth(repo, "down", "feat-env", "--keep-worktree")
    assert stop.returncode == 0, stop.stderr
    stopped = error("exec", "feat-env")
    assert stopped["code"] == "SESSION_STOPPED"
    assert stopped["remedies"] == [{"action": "up", "args": {"branch": "feat/env"}}]
    shell = berth(repo, "shell", "feat-env", stdin="touch ran\n")
    assert shell.returncode == 1 and "SESSION_STOPPED" in shell.stderr
    assert not marker.exists(), "no refused command ran"
    assert berth(repo, "env", "feat-env").returncode == 0, "a stopped session keeps its ports and variables"


async def test_rpc_env_gives_the_variables_and_a_terminal_in_the_worktree(
    session: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, worktree = session
    client = await connect("stdio", repo, tmp_path)
    try:
        plain = await client.request("berth/env", {"slug": "feat/env"})
        assert plain["variables"] == envfile.read(worktree / ".env.berth")
        assert (plain["slug"], plain["envFile"], plain["worktreePath"]) == (
            "feat-env",
            str(worktree / ".env.berth"),
            str(worktree),
        )
        assert "shell" not in plain
        terminal = (await client.request("berth/env", {"slug": "feat-env", "shell": True}))["shell"]
        assert terminal["cwd"] == str(worktree) and "argv" not in terminal, "the client's own shell"
        assert terminal["env"]["GREETING"] == "hello from .env"
        assert terminal["env"]["BERTH_WEB_URL"] == plain["variables"]["BERTH_WEB_URL"]

        with pytest.raises(JsonRpcException) as unknown:
            await client.request("berth/env", {"slug": "feat-env", "service": "db"})
        assert unknown.value.code == 1008 and unknown.value.data["code"] == "UNKNOWN_SERVICE"  # type: ignore[index]
        assert berth(repo, "down", "feat-env", "--keep-worktree").returncode == 0
        with pytest.raises(JsonRpcException) as stopped:
            await client.request("berth/env", {"slug": "feat-env", "shell": True})
        assert stopped.value.code == 1035
        assert (await client.request("berth/env", {"slug": "feat-env"}))["variables"] == plain["variables"]
        with pytest.raises(JsonRpcException) as missing:
            await client.request("berth/env", {"slug": "ghost"})
        assert missing.value.code == 1019
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.lsp.shutdown_session(), 30)
        await client.lsp.stop()
