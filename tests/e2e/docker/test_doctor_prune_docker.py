"""doctor and prune against the real engine: a container-mode session whose state file was lost,
labelled containers/networks/volumes of this repository and of another one made through the engine,
and doctor with a dead engine (a missing socket, and a socket that never answers). Ports 43000-43999."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from conftest import RepoFactory
from e2e.docker.docker_world import IMAGE, berth_toml, compose_file, docker_service, web_service
from e2e.maintenance_world import berth, checks, doctor, free_block

pytestmark = pytest.mark.docker


@pytest.fixture
def port_base() -> int:
    return free_block()


def _labelled(root: Path) -> dict[str, set[str]]:
    client = docker.from_env()
    try:
        flt = {"label": [f"berth.root={root}"]}
        return {
            "container": {c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters=flt)},
            "network": {n["Name"] for n in client.api.networks(filters=flt)},
            "volume": {v["Name"] for v in (client.api.volumes(filters=flt) or {}).get("Volumes") or []},
        }
    finally:
        client.close()


def _leftovers(client: docker.DockerClient, root: Path, project: str) -> None:
    """A container, a network and a volume labelled as Berth labels a session's, with no session."""
    labels = {"berth.root": str(root), "berth.session": project, "berth.op": "up-0123456789ab"}
    client.networks.create(f"{project}_default", labels=labels)
    client.volumes.create(f"{project}_data", labels=labels)
    container = client.containers.create(
        IMAGE, ["sleep", "300"], name=f"{project}-web-1", labels=labels, network=f"{project}_default"
    )
    container.start()


def test_prune_removes_this_repositorys_leftovers_and_never_another_ones(
    make_repo: RepoFactory, port_base: int, engine_client: docker.DockerClient
) -> None:
    prefix = f"bp{port_base}"
    files = {"compose.yml": compose_file(web_service(), volumes=[])}
    repo = make_repo(berth_toml("container", prefix, services=docker_service("web", port_base)), files=files)
    other = make_repo(
        berth_toml("container", prefix + "o", services=docker_service("web", port_base + 50)),
        name="other",
        files=files,
    )
    root, other_root = repo.resolve(), other.resolve()
    assert berth("up", "lost", cwd=repo).returncode == 0
    assert berth("up", "kept", cwd=repo).returncode == 0
    # the state file is lost: session "lost"'s containers and network now belong to no session
    kept_row = json.loads(berth("status", "kept", "--json", cwd=repo).stdout)["sessions"][0]
    assert kept_row["status"] == "active"
    _leftovers(engine_client, root, f"{prefix}_ghost")
    _leftovers(engine_client, other_root, f"{prefix}o_ghost")
    _forget_session(root, "lost")
    before_other = _labelled(other_root)
    assert before_other["container"] == {f"{prefix}o_ghost-web-1"}

    code, report = doctor(repo)
    found = checks(report)
    assert code == 0 and found["engine"]["status"] == "ok" and "Docker " in found["engine"]["detail"]
    assert found["compose"]["status"] == "ok" and found["compose"]["required"] is True
    items = "\n".join(found["engine-leftovers"]["items"])
    assert f"container {prefix}_lost-web-1" in items and f"container {prefix}_ghost-web-1" in items
    assert f"volume {prefix}_ghost_data" in items
    assert f"{prefix}_kept" not in items, "a live session's resources are not leftovers"
    assert f"{prefix}o_" not in items, "another repository's resources are not this one's"

    first = json.loads(berth("prune", "--yes", "--json", cwd=repo).stdout)

    assert first["residueFree"] is True, first["left"]
    removed = {(i["kind"], i["name"]) for i in first["removed"]}
    assert ("container", f"{prefix}_lost-web-1") in removed and (
        "container",
        f"{prefix}_ghost-web-1",
    ) in removed
    assert ("network", f"{prefix}_ghost_default") in removed
    assert ("worktree", str(root / ".berth/worktrees/lost")) in removed
    assert [k["name"] for k in first["kept"]] == [f"{prefix}_ghost_data"], "volumes only with --volumes"
    world = _labelled(root)
    assert world["container"] == {f"{prefix}_kept-web-1"} and world["volume"] == {f"{prefix}_ghost_data"}
    assert all(n.startswith(f"{prefix}_kept") for n in world["network"])
    assert _labelled(other_root) == before_other, "another repository's leftovers survive"

    second = json.loads(berth("prune", "--yes", "--volumes", "--json", cwd=repo).stdout)
    assert [(i["kind"], i["name"]) for i in second["removed"]] == [("volume", f"{prefix}_ghost_data")]
    assert _labelled(root)["volume"] == set()
    assert _labelled(other_root) == before_other
    assert berth("down", "kept", cwd=repo).returncode == 0
    assert _labelled(root) == {"container": set(), "network": set(), "volume": set()}


def _forget_session(root: Path, slug: str) -> None:
    """The session's row vanishes as with a lost state file (the other rows stay)."""
    import sqlite3

    with sqlite3.connect(root / ".berth/state.db") as conn:
        conn.execute("DELETE FROM sessions WHERE slug = ?", (slug,))
        conn.execute("DELETE FROM leases WHERE slug = ?", (slug,))


@pytest.fixture
def mute_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket that accepts connections and never answers: a hung engine."""
    path = tmp_path / "mute.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("engine", ["missing socket", "mute socket"])
def test_doctor_with_a_dead_engine_answers_within_seconds(
    make_repo: RepoFactory, port_base: int, mute_socket: Path, engine: str
) -> None:
    repo = make_repo(
        berth_toml("container", f"bd{port_base}", services=docker_service("web", port_base)),
        files={"compose.yml": compose_file(web_service())},
    )
    host = "unix:///nonexistent.sock" if engine == "missing socket" else f"unix://{mute_socket}"

    began = time.monotonic()
    code, report = doctor(repo, env={"DOCKER_HOST": host})
    took = time.monotonic() - began

    assert code == 1 and report["healthy"] is False
    check = checks(report)["engine"]
    assert check["status"] == "error" and check["required"] is True
    assert host in check["detail"], "the endpoint is shown"
    assert ("does not exist" if engine == "missing socket" else "no answer in time") in check["detail"]
    assert checks(report)["engine-leftovers"]["detail"] == "not checked: the engine is unreachable"
    assert check["seconds"] < 5 and took < 10, (
        f"doctor took {took:.2f} s (engine check {check['seconds']:.2f} s)"
    )
    print(f"doctor with a {engine}: engine check {check['seconds']:.2f} s, whole run {took:.2f} s")
