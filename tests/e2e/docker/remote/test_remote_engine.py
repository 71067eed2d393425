"""Sessions on a remote Docker engine (a second dockerd in its own network namespace, over TLS):
the engine is resolved once at up, recorded, and used by every later command; its ports are reached
at its address; a local session runs beside it; crashes and an unreachable engine are handled."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BERTH, RepoFactory
from e2e.docker.docker_world import (
    IMAGE,
    berth_toml,
    compose_file,
    data_service,
    docker_service,
    native_service,
    web_service,
)
from e2e.docker.remote.remote_world import (
    CONTEXT,
    RemoteEngine,
    berth,
    empty,
    env_file,
    http_get_at,
    on_local,
    on_remote,
)
from waiting import wait_until
from world import assert_nothing_left, berth_processes, db_rows, registered_worktrees

pytestmark = pytest.mark.docker

APP = "exec python3 -m http.server $PORT --bind 127.0.0.1"


def web_repo(make_repo: RepoFactory, prefix: str, port_base: int, *, extra: str = "") -> Path:
    return make_repo(
        berth_toml("container", prefix, services=docker_service("web", port_base), extra=extra),
        files={"compose.yml": compose_file(web_service())},
    )


def test_a_session_on_a_docker_context_runs_on_that_engine_and_none_locally(
    make_repo: RepoFactory, port_base: int, remote_engine: RemoteEngine
) -> None:
    prefix = f"bt{port_base}"
    repo = web_repo(make_repo, prefix, port_base)
    project = f"{prefix}_feat-far"
    env = remote_engine.berth_env()

    up, view = berth("up", "feat/far", "--context", CONTEXT, cwd=repo, env=env)

    assert up.returncode == 0, up.stdout + up.stderr
    assert on_remote(remote_engine, project)["containers"] == [f"{project}-web-1"]
    assert empty(on_local(project)), "nothing of the session is on the local engine"
    assert CONTEXT in view["engine"] and remote_engine.host in view["engine"]
    [web] = view["services"]
    assert web["host"] == remote_engine.address

    # status, logs and exec follow the recorded engine, though nothing in the env names it any more
    plain = remote_engine.berth_env()
    status, listing = berth("status", "feat-far", cwd=repo, env=plain)
    assert status.returncode == 0, status.stderr
    [detail] = listing["sessions"]
    [web] = detail["services"]
    assert (web["state"], web["health"], web["host"]) == ("running", "healthy", remote_engine.address)
    text = subprocess.run(
        [*BERTH, "status", "feat-far"],
        cwd=repo,
        env={**plain, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{remote_engine.address}:{web['port']}" in text and remote_engine.host in text
    ran, result = berth(
        "exec", "feat-far", "--service", "web", "--", "cat", "/www/index.html", cwd=repo, env=plain
    )
    assert (ran.returncode, result["stdout"]) == (0, "berth-test ok\n"), ran.stdout + ran.stderr

    down, receipt = berth("down", "feat-far", cwd=repo, env=plain)

    assert down.returncode == 0, down.stdout + down.stderr
    assert ("container", f"{project}-web-1") in {(r["kind"], r["name"]) for r in receipt["removed"]}
    assert empty(on_remote(remote_engine, project))
    assert_nothing_left(repo, "feat-far")


def test_local_and_remote_sessions_at_once_may_use_the_same_port_and_two_remote_ones_never_do(
    make_repo: RepoFactory, port_base: int, remote_engine: RemoteEngine
) -> None:
    prefix = f"bt{port_base}"
    repo = web_repo(make_repo, prefix, port_base)
    env = remote_engine.berth_env()
    port = port_base + 50

    local, local_view = berth("up", "feat/here", "--port", f"web={port}", cwd=repo, env=env)
    far, far_view = berth("up", "feat/far", "--port", f"web={port}", "--context", CONTEXT, cwd=repo, env=env)
    again, error = berth(
        "up", "feat/also-far", "--port", f"web={port}", "--context", CONTEXT, cwd=repo, env=env
    )

    assert local.returncode == 0, local.stdout + local.stderr
    assert far.returncode == 0, far.stdout + far.stderr
    assert local_view["ports"]["web"] == far_view["ports"]["web"] == port
    assert local_view["engine"] is not None and CONTEXT not in local_view["engine"]
    assert on_local(f"{prefix}_feat-here")["containers"] == [f"{prefix}_feat-here-web-1"]
    assert on_remote(remote_engine, f"{prefix}_feat-far")["containers"] == [f"{prefix}_feat-far-web-1"]
    assert empty(on_local(f"{prefix}_feat-far")) and empty(on_remote(remote_engine, f"{prefix}_feat-here"))
    assert again.returncode == 1 and error["error"]["code"] == "PORT_IN_USE", again.stdout
    assert "feat-far" in error["error"]["message"], "the port is the other remote session's on that engine"
    assert empty(on_remote(remote_engine, f"{prefix}_feat-also-far"))
    engines = {
        row[2]: row[5] for row in db_rows(repo, "leases")
    }  # (port, protocol, slug, service, op, engine)
    assert engines == {"feat-here": "", "feat-far": remote_engine.host}
    for slug in ("feat-here", "feat-far"):
        down, _ = berth("down", slug, cwd=repo, env=env)
        assert down.returncode == 0, down.stdout + down.stderr
    assert empty(on_local(f"{prefix}_feat-here")) and empty(on_remote(remote_engine, f"{prefix}_feat-far"))


def test_the_env_file_names_the_engine_host_and_the_service_answers_there(
    make_repo: RepoFactory, port_base: int, remote_engine: RemoteEngine
) -> None:
    prefix = f"bt{port_base}"
    loopback_only = web_service("admin", ports=f'["127.0.0.1:{port_base + 60}:8080"]')
    repo = make_repo(
        berth_toml(
            "container", prefix, services=docker_service("web", port_base), extra=f'engine = "{CONTEXT}"'
        ),
        files={"compose.yml": compose_file(web_service(), loopback_only)},
    )

    up = subprocess.run(  # not --json: the up log is what a person reads
        [*BERTH, "up", "feat/reach"], cwd=repo, env=remote_engine.berth_env(), capture_output=True, text=True
    )

    assert up.returncode == 0, up.stdout + up.stderr
    _, listing = berth("status", "feat-reach", cwd=repo, env=remote_engine.berth_env())
    [view] = listing["sessions"]
    assert "berth.toml engine" in view["engine"]
    variables = env_file(Path(view["worktreePath"]))
    port = view["ports"]["web"]
    assert variables["BERTH_WEB_HOST"] == remote_engine.address
    assert variables["BERTH_WEB_URL"] == f"http://{remote_engine.address}:{port}"
    assert http_get_at(variables["BERTH_WEB_HOST"], int(variables["BERTH_WEB_PORT"])) == "berth-test ok\n"
    log = " ".join((up.stdout + up.stderr).split())
    assert "unreachable from this machine" in log and "admin" in log, "the up log warns"
    admin = next(s for s in view["services"] if s["name"] == "admin")
    assert "unreachable from this machine" in admin["detail"]
    down, _ = berth("down", "feat-reach", cwd=repo, env=remote_engine.berth_env())
    assert down.returncode == 0, down.stdout + down.stderr


def test_hybrid_native_services_reach_the_data_services_at_the_remote_engines_host(
    make_repo: RepoFactory, port_base: int, remote_engine: RemoteEngine
) -> None:
    prefix = f"bt{port_base}"
    # the native app fetches from the data service where its env says it is, then serves its port
    fetch = (
        "import os, urllib.request; "
        "open('fetched.txt', 'wb').write(urllib.request.urlopen(os.environ['BERTH_DATA_URL'] + '/starts').read())"
    )
    app = f'python3 -c "{fetch}" && echo "$BERTH_DATA_HOST" > host.txt && {APP}'
    services = native_service("app", port_base, app) + docker_service("data", port_base + 50)
    repo = make_repo(
        berth_toml("hybrid", prefix, services=services),
        files={"compose.yml": compose_file(data_service(), volumes=["data-volume"])},
    )

    up, view = berth("up", "feat/hy", "--context", CONTEXT, cwd=repo, env=remote_engine.berth_env())

    assert up.returncode == 0, up.stdout + up.stderr
    worktree = Path(view["worktreePath"])
    variables = env_file(worktree)
    assert variables["BERTH_DATA_HOST"] == remote_engine.address
    assert variables["BERTH_APP_HOST"] == "127.0.0.1", "the native app runs here"
    assert (worktree / "host.txt").read_text() == f"{remote_engine.address}\n"
    assert (worktree / "fetched.txt").read_text().count("\n") == 1, "the app reached the data service"
    assert on_remote(remote_engine, f"{prefix}_feat-hy")["containers"] == [f"{prefix}_feat-hy-data-1"]
    down, _ = berth("down", "feat-hy", "--force", cwd=repo, env=remote_engine.berth_env())
    assert down.returncode == 0, down.stdout + down.stderr
    assert empty(on_remote(remote_engine, f"{prefix}_feat-hy"))


def test_down_after_docker_host_changed_still_removes_everything_from_the_recorded_engine(
    make_repo: RepoFactory, port_base: int, remote_engine: RemoteEngine
) -> None:
    prefix = f"bt{port_base}"
    repo = web_repo(make_repo, prefix, port_base)
    project = f"{prefix}_feat-moved"
    via_host = {k: v for k, v in remote_engine.cli_env.items() if k.startswith("DOCKER_")}

    up, view = berth("up", "feat/moved", cwd=repo, env=remote_engine.berth_env(**via_host))

    assert up.returncode == 0, up.stdout + up.stderr
    assert "DOCKER_HOST" in view["engine"]
    assert on_remote(remote_engine, project)["containers"] == [f"{project}-web-1"]

    elsewhere = remote_engine.berth_env(DOCKER_HOST="unix:///var/run/docker.sock")  # the local engine now
    down, receipt = berth("down", "feat-moved", cwd=repo, env=elsewhere)

    assert down.returncode == 0, down.stdout + down.stderr
    assert ("container", f"{project}-web-1") in {(r["kind"], r["name"]) for r in receipt["removed"]}
    assert empty(on_remote(remote_engine, project)), "down went to the engine the session is on"
    assert_nothing_left(repo, "feat-moved")


def never_healthy() -> str:
    return (
        f"  slow:\n    image: {IMAGE}\n    pull_policy: never\n    ports: ['8080']\n"
        "    volumes: ['slow-volume:/data']\n"
        "    healthcheck:\n      test: ['CMD', 'false']\n      interval: 1s\n      retries: 1000\n"
    )


def test_kill_9_during_a_remote_up_then_recover_cleans_the_remote_engine(
    make_repo: RepoFactory, port_base: int, remote_engine: RemoteEngine
) -> None:
    prefix = f"bt{port_base}"
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("slow", port_base, timeout=300)),
        files={"compose.yml": compose_file(never_healthy(), volumes=["slow-volume"])},
    )
    project = f"{prefix}_feat-kill"
    up = subprocess.Popen(
        [*BERTH, "up", "feat/kill", "--context", CONTEXT, "--json"],
        cwd=repo,
        env=remote_engine.berth_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def container_created() -> list[str]:
        containers = on_remote(remote_engine, project)["containers"]
        assert containers or up.poll() is None, f"berth up ended early: {up.communicate()}"
        return containers

    wait_until(container_created, timeout=90, interval=0.05, what=f"a container of {project} on the remote")
    os.kill(up.pid, signal.SIGKILL)
    up.wait()
    assert on_remote(remote_engine, project)["volumes"], "the killed up left its volume on the remote"

    # recover with nothing in the environment pointing at the remote: the journal says where
    recover, report = berth("recover", cwd=repo, env=remote_engine.berth_env())

    assert recover.returncode == 0, recover.stdout + recover.stderr
    assert report["remaining"] == 0
    assert any(u["step"].startswith("take down compose group compose.yml") for u in report["undone"])
    assert empty(on_remote(remote_engine, project)), "containers, networks and volumes on the remote are gone"
    assert empty(on_local(project))
    assert berth_processes(repo) == []
    assert_nothing_left(repo, "feat-kill", branch_created="feat/kill")


@pytest.mark.parametrize("broken", ["nothing listens", "wrong CA", "unknown context"])
def test_an_unreachable_remote_is_docker_unavailable_within_seconds_and_nothing_is_created(
    make_repo: RepoFactory, port_base: int, remote_engine: RemoteEngine, tmp_path: Path, broken: str
) -> None:
    prefix = f"bt{port_base}"
    repo = web_repo(make_repo, prefix, port_base)
    env = remote_engine.berth_env()
    certs = remote_engine.cert_path
    host, ca = remote_engine.host, certs / "ca.pem"
    if broken == "nothing listens":
        host = host.replace(":2376", ":2377")  # the namespace's address, a port where nothing listens
    if broken == "wrong CA":
        ca = tmp_path / "other-ca.pem"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(tmp_path / "k.pem"),
                "-subj",
                "/CN=another-ca",
                "-days",
                "1",
                "-out",
                str(ca),
            ],
            capture_output=True,
            check=True,
        )
    name = "broken-engine"
    if broken != "unknown context":
        subprocess.run(
            [
                "docker",
                "context",
                "create",
                name,
                "--docker",
                f"host={host},ca={ca},cert={certs / 'cert.pem'},key={certs / 'key.pem'}",
            ],
            env=env,
            capture_output=True,
            check=True,
        )
    try:
        began = time.monotonic()
        up, result = berth("up", "feat/nowhere", "--context", name, cwd=repo, env=env, timeout=60)
        took = time.monotonic() - began
    finally:
        subprocess.run(["docker", "context", "rm", "-f", name], env=env, capture_output=True)

    assert up.returncode == 1, up.stdout + up.stderr
    error = result["error"]
    assert error["code"] == "DOCKER_UNAVAILABLE"
    expected = {
        "nothing listens": "connection refused",
        "wrong CA": "TLS",
        "unknown context": "does not exist",
    }
    assert expected[broken] in error["message"], error["message"]
    assert (name in error["message"]) and (broken == "unknown context" or host in error["message"])
    assert "nothing was created" in error["hint"]
    print(f"DOCKER_UNAVAILABLE ({broken}) after {took:.2f} s")  # the figure the report quotes
    assert registered_worktrees(repo) == [repo.resolve()]
    assert db_rows(repo, "sessions") == [] and db_rows(repo, "operations") == []
    assert empty(on_remote(remote_engine, f"{prefix}_feat-nowhere"))


def test_doctor_shows_the_resolved_engine_the_rule_and_that_sdk_and_compose_agree(
    make_repo: RepoFactory, port_base: int, remote_engine: RemoteEngine
) -> None:
    repo = web_repo(make_repo, f"bt{port_base}", port_base)
    client = remote_engine.client()
    try:
        remote_id = client.info()["ID"]
    finally:
        client.close()

    _, report = berth("doctor", cwd=repo, env=remote_engine.berth_env(DOCKER_CONTEXT=CONTEXT))

    engine = next(c for c in report["checks"] if c["id"] == "engine")
    assert engine["status"] == "ok", engine
    assert remote_engine.host in engine["detail"] and "chosen by DOCKER_CONTEXT" in engine["detail"]
    assert "SDK and compose agree" in engine["detail"] and f"engine ID: {remote_id}" in engine["items"]
