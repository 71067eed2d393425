"""`berth exec` / `berth shell` / `berth/env` against a real container-mode session: `docker compose
exec` in the busybox container, its exit status, a pseudo-TTY only for a terminal, and the refusals
(unknown or stopped service) before anything runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from pygls.exceptions import JsonRpcException

from conftest import BERTH, RepoFactory
from e2e.docker.docker_world import berth_toml, compose_file, docker_service, labelled, web_service
from e2e.rpc.conftest import connect
from e2e.test_session_env import EXEC_PORTS
from free_ports import free_block

pytestmark = pytest.mark.docker


def berth(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BERTH, *args], cwd=repo, input=stdin, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture
def container_session(make_repo: RepoFactory) -> Iterator[tuple[Path, str, int]]:
    """A container-mode session `feat-box` whose `web` service serves the branch's www/."""
    base = free_block([b + 60 for b in EXEC_PORTS], 30)
    prefix = f"bx{base}"
    web = web_service(extra='    volumes: ["./www:/www:ro"]\n')
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("web", base)),
        files={"compose.yml": compose_file(web), "www/index.html": "served by the session\n"},
    )
    up = berth(repo, "up", "feat/box", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    project = f"{prefix}_feat-box"
    yield repo, project, json.loads(up.stdout)["ports"]["web"]
    berth(repo, "down", "feat-box", "--force")
    assert labelled(project).empty()


def test_exec_in_the_container_and_natively_next_to_it(container_session: tuple[Path, str, int]) -> None:
    repo, project, port = container_session
    inside = berth(
        repo,
        "exec",
        "feat-box",
        "--service",
        "web",
        "--",
        "sh",
        "-c",
        "cat /www/index.html; hostname; exit 5",
    )
    assert inside.returncode == 5, inside.stderr
    page, hostname = inside.stdout.splitlines()
    assert page == "served by the session"
    container = docker.from_env().containers.get(f"{project}-web-1")
    assert hostname == container.attrs["Config"]["Hostname"], "it ran in the session's own container"

    report = json.loads(
        berth(repo, "exec", "feat-box", "--service", "web", "--json", "--", "ls", "/www").stdout
    )
    assert (report["exitCode"], report["stdout"], report["service"]) == (0, "index.html\n", "web")
    assert report["argv"][-4:] == ["-T", "web", "ls", "/www"], "no pseudo-TTY when stdin is not a terminal"
    assert ["-p", project] == report["argv"][report["argv"].index("-p") : report["argv"].index("-p") + 2]

    native = berth(
        repo,
        "exec",
        "feat-box",
        "--",
        "python3",
        "-c",
        "import os, urllib.request; print(urllib.request.urlopen(os.environ['BERTH_WEB_URL']).read().decode())",
    )
    assert native.returncode == 0, native.stderr
    assert native.stdout.strip() == "served by the session", "BERTH_WEB_URL reaches the container's port"
    env = berth(repo, "env", "feat-box").stdout
    assert f"BERTH_WEB_URL=http://127.0.0.1:{port}\n" in env and "BERTH_WEB_HOST=127.0.0.1\n" in env

    shell = berth(repo, "shell", "feat-box", "--service", "web", stdin="echo in-box $((6 * 7)); exit 3\n")
    assert (shell.returncode, shell.stdout) == (3, "in-box 42\n"), shell.stderr


def test_unknown_and_stopped_services_are_refused_before_anything_runs(
    container_session: tuple[Path, str, int],
) -> None:
    repo, project, _ = container_session
    unknown = json.loads(berth(repo, "exec", "feat-box", "--service", "db", "--json", "--", "true").stdout)
    assert unknown["error"]["code"] == "UNKNOWN_SERVICE" and unknown["error"]["details"]["known"] == ["web"]
    client = docker.from_env()
    client.containers.get(f"{project}-web-1").stop(timeout=1)
    stopped = berth(repo, "exec", "feat-box", "--service", "web", "--json", "--", "true")
    assert stopped.returncode == 1
    error = json.loads(stopped.stdout)["error"]
    assert error["code"] == "SERVICE_NOT_RUNNING" and "exited" in error["message"]
    assert error["remedies"] == [{"action": "up", "args": {"branch": "feat/box"}}]
    again = berth(repo, "up", "feat/box")
    assert again.returncode == 0, again.stderr
    assert berth(repo, "exec", "feat-box", "--service", "web", "--", "true").returncode == 0


def _run_in_pty(
    argv: list[str], cwd: str, env: dict[str, str], typed: bytes, timeout: float = 60
) -> tuple[int, str]:
    """Run `argv` on a pseudo-terminal as a VS Code terminal would, type `typed`, collect the output."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **env}, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    os.write(leader, typed)
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=30), output.decode(errors="replace")


async def test_rpc_env_gives_a_terminal_attached_to_the_container(
    container_session: tuple[Path, str, int], tmp_path: Path
) -> None:
    repo, project, _ = container_session
    client = await connect("stdio", repo, tmp_path)
    try:
        result = await client.request("berth/env", {"slug": "feat-box", "service": "web", "shell": True})
        with pytest.raises(JsonRpcException) as unknown:
            await client.request("berth/env", {"slug": "feat-box", "service": "nope", "shell": True})
        assert unknown.value.code == 1008
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.lsp.shutdown_session(), 30)
        await client.lsp.stop()
    terminal = result["shell"]
    assert (terminal["service"], terminal["container"]) == ("web", f"{project}-web-1")
    argv = terminal["argv"]
    assert argv[-3:] == ["exec", "web", "sh"] and "-T" not in argv, "a terminal gets a pseudo-TTY"
    code, output = await asyncio.to_thread(
        _run_in_pty, argv, terminal["cwd"], terminal["env"], b"echo tty-$((40 + 2)); exit 6\n"
    )
    assert code == 6 and "tty-42" in output, output
