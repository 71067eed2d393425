"""Sessions planned from compose's own model, on the real engine: the shapes that broke the
hand-written reader (ranges, UDP with host_ip, unquoted short ports, internal networks, fixed
subnets with static addresses, container_name others resolve, one-shot init, profiles), two
sessions side by side, each publishing exactly its leased ports."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker

from conftest import RepoFactory
from e2e.docker.docker_world import HEALTHCHECK, IMAGE, berth_toml, docker_service, labelled
from gitimage import ensure_git_image

BERTH = [sys.executable, "-m", "berth"]

COMPOSE = f"""\
services:
  web:
    image: {IMAGE}
    pull_policy: never
    ports:
      - 8080:8080
      - "31000-31002:31000-31002"
      - "127.0.0.1:${{MEDIA_PORT:-10000}}:${{MEDIA_PORT:-10000}}/udp"
    depends_on:
      init: {{condition: service_completed_successfully}}
{HEALTHCHECK}  init:
    image: {IMAGE}
    pull_policy: never
    command: ["sh", "-c", "echo migrated"]
  db:
    image: {IMAGE}
    pull_policy: never
    container_name: database
    ports: ["8080"]
    networks:
      back: {{ipv4_address: 172.28.5.10}}
{HEALTHCHECK}  client:
    image: {IMAGE}
    pull_policy: never
    networks: [back, default]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://database:8080/"]
      interval: 1s
      timeout: 2s
      retries: 30
  debug:
    image: {IMAGE}
    pull_policy: never
    profiles: [debug]
    ports: ["9999:9999"]
networks:
  back:
    internal: true
    ipam:
      config: [{{subnet: 172.28.0.0/16}}]
"""
FILE_PORTS = {(8080, "tcp"), (31000, "tcp"), (31001, "tcp"), (31002, "tcp"), (10000, "udp"), (9999, "tcp")}


def berth(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BERTH, *args], cwd=repo, capture_output=True, text=True, timeout=300, check=False)


def engine_view(project: str) -> tuple[set[tuple[int, str, str]], dict[str, Any]]:
    """(host port, protocol, host ip) published by the project's containers, and its networks."""
    client = docker.from_env()
    try:
        published: set[tuple[int, str, str]] = set()
        for row in client.api.containers(filters={"label": [f"berth.session={project}"]}):
            for p in row.get("Ports") or []:
                if p.get("PublicPort"):
                    published.add((int(p["PublicPort"]), p["Type"], p.get("IP") or ""))
        networks = {
            n["Name"]: client.api.inspect_network(n["Id"])
            for n in client.api.networks(filters={"label": [f"berth.session={project}"]})
        }
    finally:
        client.close()
    return published, networks


def test_two_sessions_of_a_real_shaped_file_share_nothing(make_repo: RepoFactory, port_base: int) -> None:
    prefix = f"cm{port_base}"
    repo = make_repo(
        berth_toml("container", prefix, services=docker_service("db", port_base)),
        files={"compose.yaml": COMPOSE},
    )
    sessions = {}
    for branch in ("feat/a", "feat/b"):
        up = berth(repo, "up", branch, "--json")
        assert up.returncode == 0, up.stdout + up.stderr
        sessions[branch] = json.loads(up.stdout)

    seen_ports: set[tuple[int, str]] = set()
    seen_subnets: list[ipaddress.IPv4Network] = []
    for session in sessions.values():
        slug, ports = session["slug"], session["ports"]
        project = f"{prefix}_{slug}"
        published, networks = engine_view(project)
        leased = {(ports["db"], "tcp"), (ports["web"], "tcp"), (ports["web-10000-udp"], "udp")}
        leased |= {(ports["web-31000"] + i, "tcp") for i in range(3)}
        assert {(p, proto) for p, proto, _ in published} == leased, "exactly the leased ports, nothing else"
        assert (ports["web-10000-udp"], "udp", "127.0.0.1") in published, (
            "a loopback-only port stays loopback-only"
        )
        assert not leased & FILE_PORTS, "no session publishes a base-file host port"
        assert not leased & seen_ports, "two sessions never share a port"
        seen_ports |= leased
        [back] = [spec for name, spec in networks.items() if name == f"{project}_back"]
        subnet = ipaddress.ip_network(back["IPAM"]["Config"][0]["Subnet"])
        assert back["Internal"] and subnet.prefixlen == 16 and subnet != ipaddress.ip_network("172.28.0.0/16")
        assert all(not subnet.overlaps(s) for s in seen_subnets)
        seen_subnets.append(subnet)
        db = next(c for c in back["Containers"].values() if c["Name"] == f"{project}-db")
        assert ipaddress.ip_interface(db["IPv4Address"]).ip == subnet.network_address + (5 << 8) + 10

        status = berth(repo, "status", slug, "--json")
        assert status.returncode == 0, status.stdout
        states = {s["name"]: s["state"] for s in json.loads(status.stdout)["sessions"][0]["services"]}
        assert states == {
            "web": "running",
            "init": "completed",
            "db": "running",
            "client": "running",  # healthy: it resolves `database`, db's container_name, in its session
            "debug": "not-started",
        }
        env = (Path(session["worktreePath"]) / ".env.berth").read_text()
        assert (
            f"BERTH_WEB_31000_PORT={ports['web-31000']}\n" in env and f"BERTH_DB_PORT={ports['db']}\n" in env
        )

    for session in sessions.values():
        down = berth(repo, "down", session["slug"], "--json")
        assert down.returncode == 0, down.stdout + down.stderr
        assert labelled(f"{prefix}_{session['slug']}").empty()


def test_git_works_inside_a_container_that_mounts_the_worktree(
    make_repo: RepoFactory, port_base: int
) -> None:
    """A worktree's `.git` is a file pointing into the main repository's git dir; Berth mounts that
    dir at the same path, so git inside the container sees the session's branch and changes."""
    image = ensure_git_image()
    prefix = f"cg{port_base}"
    compose = (
        f"services:\n  dev:\n    image: {image}\n    pull_policy: never\n    ports: ['8080']\n"
        f"    volumes: ['./:/src']\n    command: ['httpd', '-f', '-p', '8080', '-h', '/src']\n"
    )
    repo = make_repo(berth_toml("container", prefix), files={"compose.yaml": compose})
    up = berth(repo, "up", "feat/git", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    session = json.loads(up.stdout)
    (Path(session["worktreePath"]) / "notes.txt").write_text("work in progress\n")
    client = docker.from_env()
    try:
        [container] = client.containers.list(filters={"label": [f"berth.session={prefix}_feat-git"]})
        branch = container.exec_run(["git", "-C", "/src", "rev-parse", "--abbrev-ref", "HEAD"])
        status = container.exec_run(["git", "-C", "/src", "status", "--porcelain"])
    finally:
        client.close()
    assert branch.exit_code == 0, branch.output.decode()
    assert branch.output.decode().strip() == "feat/git"
    assert status.exit_code == 0 and "?? notes.txt" in status.output.decode()
    assert berth(repo, "down", "feat-git", "--force", "--json").returncode == 0


def _running_services(project: str) -> set[str]:
    client = docker.from_env()
    try:
        rows = client.api.containers(filters={"label": [f"berth.session={project}"]})
    finally:
        client.close()
    return {r["Labels"]["com.docker.compose.service"] for r in rows}


def _images(project: str) -> list[str]:
    client = docker.from_env()
    try:
        rows = client.api.images(filters={"label": [f"berth.session={project}"]})
    finally:
        client.close()
    return sorted(t for r in rows for t in r.get("RepoTags") or [])


def test_override_file_several_files_profiles_and_built_images(
    make_repo: RepoFactory, port_base: int
) -> None:
    service = f"    image: {IMAGE}\n    pull_policy: never\n    ports: ['8080']\n{HEALTHCHECK}"
    prefix = f"co{port_base}"
    files = {
        "compose.yaml": f"services:\n  web:\n{service}",
        "compose.override.yaml": f"services:\n  from-override:\n{service}",
        "base.yml": f"services:\n  api:\n{service}",
        "dev.yml": f"services:\n  tools:\n    profiles: [tools]\n{service}  built:\n    build: ./app\n"
        "    command: ['httpd', '-f', '-p', '8080', '-h', '/www']\n",
        "app/Dockerfile": f"FROM {IMAGE}\nRUN echo built > /www/built.txt\n",
    }
    repo = make_repo(berth_toml("container", prefix), files=files)
    up = berth(repo, "up", "feat/discover", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    assert _running_services(f"{prefix}_feat-discover") == {"web", "from-override"}, "compose's own discovery"
    assert berth(repo, "down", "feat-discover", "--json").returncode == 0

    (repo / "berth.toml").write_text(
        berth_toml("container", prefix, extra='compose = ["base.yml", "dev.yml"]\nprofiles = ["tools"]')
    )
    subprocess.run(["git", "commit", "-qam", "files"], cwd=repo, check=True)
    project = f"{prefix}_feat-files"
    up = berth(repo, "up", "feat/files", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    assert _running_services(project) == {"api", "tools", "built"}
    assert _images(project) == [f"{project}-built:latest"], "the build carries the session's labels"
    stop = json.loads(berth(repo, "down", "feat-files", "--keep-images", "--json").stdout)
    assert ("image", f"{project}-built:latest") in {(k["kind"], k["name"]) for k in stop["kept"]}
    assert _images(project) == [f"{project}-built:latest"]

    up = berth(repo, "up", "feat/files", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    down = json.loads(berth(repo, "down", "feat-files", "--json").stdout)
    assert ("image", f"{project}-built:latest") in {(r["kind"], r["name"]) for r in down["removed"]}
    assert _images(project) == [] and labelled(project).empty()
