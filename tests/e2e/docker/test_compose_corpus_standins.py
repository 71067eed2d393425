"""Every compose file of the corpus (tests/fixtures/compose) runs on this machine with offline stand-in
images: `up -d --wait` in a copy of the fixture, every service running (healthy where it has a
healthcheck, one-shot services exited 0), every published port answering, then `down -v` leaves nothing
behind. Fixtures that share a host port (80, 8080...) or another machine-wide name never run at the same
time; the others run side by side, the slowest first.

Two kinds of fixture cannot run here, and must fail the way this machine makes them fail:
* immich pins images by digest (see IMMICH_*);
* mailcow, ragflow and hyrax ask for `ulimits` above the engine's own hard limits (nofile 20000 and
  memlock 8 MiB on this machine, whose dockerd runs without CAP_SYS_RESOURCE), and mailcow for a
  `privileged` container, which this engine cannot grant either: runc refuses to create those
  containers. What the engine refuses is probed (`engine_refusals`), so on an engine that grants it
  these fixtures must come up like the others."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from compose_standins import ensure_standins_for
from corpus import (
    CORPUS,
    Fixture,
    answers,
    engine_refusals,
    has_healthcheck,
    load_fixtures,
    machine_state,
    oneshots,
    reloaded,
    schedule,
)
from waiting import wait_until

WAIT_TIMEOUT = 120
PROJECT_LABEL = "com.docker.compose.project"

# immich pins redis and postgres by digest (image: name:tag@sha256:...). A locally built stand-in cannot
# carry a registry's manifest digest, so compose finds no such image, pulls it, and there is no registry.
# The other two immich images are stand-ins and are not pulled.
IMMICH_PULLS = ("redis Pulling", "database Pulling")
IMMICH_ERROR = re.compile(r'Error response from daemon: Get "https://(registry-1\.docker\.io|ghcr\.io)/v2/')


def _check_running(fx: Fixture, client: docker.DockerClient) -> list[str]:
    problems = []
    containers = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={fx.project}"})
    by_service: dict[str, list[Any]] = {}
    for c in containers:
        by_service.setdefault(c.labels.get("com.docker.compose.service", "?"), []).append(c)
    oneshot = oneshots(fx.config)
    for name, svc in fx.config["services"].items():
        found = by_service.get(name, [])
        want = ((svc.get("deploy") or {}).get("replicas")) or 1
        if len(found) != want:
            problems.append(f"{name}: {len(found)} containers, expected {want}")
        for c in found:
            state = c.attrs["State"]
            if name in oneshot:
                if state["Status"] != "exited" or state["ExitCode"] != 0:
                    problems.append(f"{name}: one-shot is {state['Status']} (exit {state['ExitCode']})")
                continue
            if state["Status"] != "running":
                problems.append(f"{name}: {state['Status']} (exit {state['ExitCode']})")
            health = (state.get("Health") or {}).get("Status")
            if (has_healthcheck(svc) or health) and health != "healthy":
                problems.append(f"{name}: health is {health}")
        if svc.get("network_mode") == "host":
            continue
        for port in svc.get("ports") or []:
            if port.get("published") and (wrong := answers(port)):
                problems.append(f"{name}: {wrong}")
    return problems


ENGINE_LEAKS: dict[str, list[str]] = {}
"""Networks a fixture's down could not remove although no container was attached: this engine's bug
(moby#43286, Docker 20.10), which frees them only after a while; down is run again until it can, and
the wait is reported, not counted against compose."""


def _engine_leaks(fx: Fixture, client: docker.DockerClient) -> list[str]:
    label = {"label": f"{PROJECT_LABEL}={fx.project}"}
    return [n.name for n in reloaded(client.networks.list(filters=label)) if not n.attrs.get("Containers")]


def _leftovers(fx: Fixture, client: docker.DockerClient) -> list[str]:
    label = {"label": f"{PROJECT_LABEL}={fx.project}"}
    left = [f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
    left += [f"network {n.name}" for n in client.networks.list(filters=label)]
    left += [f"volume {v.name}" for v in client.volumes.list(filters=label)]
    left += [f"image {i.tags or i.id}" for i in client.images.list(filters=label)]
    return left


def _run(fx: Fixture) -> tuple[list[str], float]:
    """Up, check, down; the problems found and the seconds it took."""
    started, problems = time.monotonic(), []
    client = docker.from_env()
    try:
        with machine_state(fx, client):
            try:
                up = fx.compose("up", "-d", "--wait", "--wait-timeout", str(WAIT_TIMEOUT))
                out = up.stdout + up.stderr
                if fx.fails:
                    if up.returncode == 0:
                        problems.append(f"expected to fail ({fx.fails}) but came up")
                    problems += [f"no {p!r} in the output" for p in IMMICH_PULLS if p not in out]
                    if not IMMICH_ERROR.search(out):
                        problems.append(f"not the expected error: {out[-600:]}")
                elif fx.refused:
                    # the engine refuses what these ask: compose must fail with a probe's very error
                    if up.returncode == 0:
                        problems.append(f"came up although the engine refuses {sorted(fx.refused)}")
                    elif not any(err in out for err in fx.refused.values()):
                        problems.append(f"not the engine's error {fx.refused}: {out[-600:]}")
                elif up.returncode != 0:
                    problems.append(f"up failed ({up.returncode}): {out[-1500:]}")
                else:
                    problems += _check_running(fx, client)
                if problems and not (fx.fails or fx.refused):
                    ps = fx.compose("ps", "-a", "--format", "{{.Service}} {{.Status}}")
                    problems.append("ps:\n" + ps.stdout)
            finally:
                down = _down(fx, client)
        left = _leftovers(fx, client)
        leaked = _engine_leaks(fx, client) if down.returncode != 0 else []
        if leaked and set(left) == {f"network {n}" for n in leaked}:
            # only networks no container is attached to, which the engine will not remove yet
            since = time.monotonic()
            wait_until(
                lambda: fx.compose("down", "-v", "--remove-orphans").returncode == 0,
                timeout=600,
                interval=5,
                what=f"{fx.name}: the engine to free {leaked}",
            )
            ENGINE_LEAKS[fx.name] = [*leaked, f"(freed after {time.monotonic() - since:.0f} s)"]
            left = _leftovers(fx, client)
        elif down.returncode != 0:
            problems.append(f"down failed: {down.stderr[-800:]}")
        problems += [f"left behind: {x}" for x in left]
    finally:
        client.close()
    return [f"{fx.name}: {p}" for p in problems], time.monotonic() - started


def _down(fx: Fixture, client: docker.DockerClient) -> subprocess.CompletedProcess[str]:
    """`compose down`. The engine frees a removed container's network endpoint a moment after the
    container is gone (moby#42119), so under load compose may find a network "has active endpoints"
    with no container attached: once every network of the project is free, down is run again."""
    down = fx.compose("down", "-v", "--remove-orphans", "--rmi", "local")
    if down.returncode != 0 and "has active endpoints" in down.stderr:
        label = {"label": f"{PROJECT_LABEL}={fx.project}"}
        wait_until(
            lambda: all(not n.attrs.get("Containers") for n in reloaded(client.networks.list(filters=label))),
            timeout=30,
            what=f"{fx.name}: its networks to have no container attached",
        )
        down = fx.compose("down", "-v", "--remove-orphans", "--rmi", "local")
    return down


@pytest.mark.timeout(1200)  # about 2 min, more while the engine holds a stale endpoint
def test_every_corpus_fixture_runs_on_standins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    fixtures = load_fixtures()
    assert len(fixtures) >= 12
    for fx in fixtures:
        # copied one level down: ../.. of a fixture's compose file stays inside tmp_path
        fx.workdir = tmp_path / "corpus" / fx.name
        shutil.copytree(CORPUS / fx.name, fx.workdir, symlinks=True)
        res = fx.compose("config", "--format", "json")
        assert res.returncode == 0, f"{fx.name}: {res.stderr}"
        fx.config = json.loads(res.stdout)
    built = ensure_standins_for(fx.config for fx in fixtures)
    assert built
    client = docker.from_env()
    try:
        for fx in fixtures:
            fx.refused = engine_refusals(fx.config, client)
    finally:
        client.close()
    problems, took = schedule(
        fixtures, _run, network_label=lambda fx: f"{PROJECT_LABEL}={fx.project}", timeout=WAIT_TIMEOUT * 3
    )
    with capsys.disabled():
        print(f"\ncompose corpus on stand-ins: {time.monotonic() - started:.0f}s in all")
        by_name = {fx.name: fx for fx in fixtures}
        for name, seconds in sorted(took.items(), key=lambda kv: -kv[1]):
            fx = by_name[name]
            how = (
                "fails: digest pins" if fx.fails else f"fails: {sorted(fx.refused)}" if fx.refused else "runs"
            )
            print(f"  {name:24} {seconds:5.1f}s  {how}")
        for name, nets in ENGINE_LEAKS.items():
            print(f"  ENGINE BUG (moby#43286) in {name}: networks it would not remove: {nets}")
    assert not problems, "\n".join(problems)
