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
  containers. What the engine refuses is probed (`_engine_refusals`), so on an engine that grants it
  these fixtures must come up like the others."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest

from compose_standins import BASE_IMAGE, ensure_standins_for
from conftest import REPO_ROOT
from waiting import wait_until

CORPUS = REPO_ROOT / "tests" / "fixtures" / "compose"
WAIT_TIMEOUT = 120
PROJECT_LABEL = "com.docker.compose.project"

# immich pins redis and postgres by digest (image: name:tag@sha256:...). A locally built stand-in cannot
# carry a registry's manifest digest, so compose finds no such image, pulls it, and there is no registry.
# The other two immich images are stand-ins and are not pulled.
IMMICH_PULLS = ("redis Pulling", "database Pulling")
IMMICH_ERROR = re.compile(r'Error response from daemon: Get "https://(registry-1\.docker\.io|ghcr\.io)/v2/')
RUNC_ERROR = re.compile(r"unable to start container process: (.+?): unknown")


@dataclass
class Fixture:
    name: str
    files: list[str]
    profiles: list[str]
    fails: str | None = None
    external_volumes: list[str] = field(default_factory=list)
    host_paths: list[str] = field(default_factory=list)
    # filled in per run
    workdir: Path = Path()
    config: dict[str, Any] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # demand -> the engine's error for it

    @property
    def project(self) -> str:
        return f"standin-{self.name}"

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        cmd = ["docker", "compose", "-p", self.project]
        for f in self.files:
            cmd += ["-f", f]
        for p in self.profiles:
            cmd += ["--profile", p]
        env = {**os.environ, "PWD": str(self.workdir)}  # unstract's .env interpolates ${PWD}
        return subprocess.run(
            [*cmd, *args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _fixtures() -> list[Fixture]:
    out = []
    for d in sorted(p for p in CORPUS.iterdir() if (p / "fixture.json").is_file()):
        meta = json.loads((d / "fixture.json").read_text())
        out.append(Fixture(d.name, **meta))
    return out


def _resources(config: Mapping[str, Any]) -> set[str]:
    """What a project takes machine-wide: host ports, container names, fixed network/bridge names."""
    taken: set[str] = set()
    for svc in (config.get("services") or {}).values():
        for p in svc.get("ports") or []:
            if p.get("published"):
                taken.add(f"port/{p.get('protocol', 'tcp')}/{p['published']}")
        if svc.get("container_name"):
            taken.add(f"container/{svc['container_name']}")
    for net in (config.get("networks") or {}).values():
        taken.add(f"network/{net.get('name')}")
        if bridge := (net.get("driver_opts") or {}).get("com.docker.network.bridge.name"):
            taken.add(f"bridge/{bridge}")
    for vol in (config.get("volumes") or {}).values():
        taken.add(f"volume/{vol.get('name')}")
    return taken


def _fixed_subnets(config: Mapping[str, Any]) -> bool:
    return any((n.get("ipam") or {}).get("config") for n in (config.get("networks") or {}).values())


def _healthcheck(svc: Mapping[str, Any]) -> bool:
    hc = svc.get("healthcheck") or {}
    return bool(hc.get("test")) and hc.get("test") != ["NONE"] and not hc.get("disable")


def _oneshots(config: Mapping[str, Any]) -> set[str]:
    return {
        dep
        for svc in config["services"].values()
        for dep, how in (svc.get("depends_on") or {}).items()
        if (how or {}).get("condition") == "service_completed_successfully"
    }


def _demands(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What the project asks of the engine beyond a plain container: each ulimit at its largest
    (soft, hard), privileged mode, added capabilities; as `containers.run` keyword arguments."""
    ulimits: dict[str, tuple[int, int]] = {}
    caps: set[str] = set()
    privileged = False
    for svc in config["services"].values():
        for name, value in (svc.get("ulimits") or {}).items():
            soft, hard = (value, value) if isinstance(value, int) else (value["soft"], value["hard"])
            big = lambda v: float("inf") if v == -1 else v  # noqa: E731
            ulimits[name] = max(
                ulimits.get(name, (0, 0)), (soft, hard), key=lambda sh: (big(sh[1]), big(sh[0]))
            )
        caps.update(svc.get("cap_add") or [])
        privileged |= bool(svc.get("privileged"))
    demands: dict[str, dict[str, Any]] = {
        f"ulimit {name}={soft}:{hard}": {"ulimits": [docker.types.Ulimit(name=name, soft=soft, hard=hard)]}
        for name, (soft, hard) in ulimits.items()
    }
    if caps:
        demands[f"cap_add {','.join(sorted(caps))}"] = {"cap_add": sorted(caps)}
    if privileged:
        demands["privileged"] = {"privileged": True}
    return demands


_probed: dict[str, str | None] = {}


def _engine_refusals(config: Mapping[str, Any], client: docker.DockerClient) -> dict[str, str]:
    """What of the project this engine refuses to create a container with, and the error it gives."""
    refused = {}
    for what, kwargs in _demands(config).items():
        if what not in _probed:
            probe = client.containers.create(
                BASE_IMAGE,
                ["/bin/busybox", "true"],
                entrypoint=[],
                labels={"berth.test": "compose-corpus"},
                **kwargs,
            )
            try:
                probe.start()
                _probed[what] = None
            except docker.errors.APIError as exc:
                m = RUNC_ERROR.search(str(exc))
                _probed[what] = m.group(1) if m else str(exc)
            finally:
                probe.remove(force=True)
        if err := _probed[what]:
            refused[what] = err
    return refused


def _seconds(value: str | None, default: float = 30.0) -> float:
    if not value:
        return default
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(h|ms|us|ns|m|s)", value))


def _estimate(config: Mapping[str, Any]) -> float:
    """How long `up --wait` must take at least: the longest chain of first healthcheck intervals."""
    services = config["services"]
    memo: dict[str, float] = {}

    def ready(name: str, seen: frozenset[str] = frozenset()) -> float:
        if name in memo or name in seen or name not in services:
            return memo.get(name, 0.0)
        svc = services[name]
        start = max((ready(d, seen | {name}) for d in svc.get("depends_on") or {}), default=0.0)
        own = _seconds((svc.get("healthcheck") or {}).get("interval")) if _healthcheck(svc) else 0.0
        memo[name] = start + own
        return memo[name]

    return max((ready(n) for n in services), default=0.0)


def _answers(port: Mapping[str, Any]) -> str | None:
    """None if the published port answers like a stand-in, else what went wrong."""
    host = port.get("host_ip") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    addr = (host, int(port["published"]))
    try:
        if port.get("protocol") == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(3)
                s.sendto(b"standin?", addr)
                data = s.recvfrom(64)[0]
                return None if data == b"standin?" else f"udp {addr}: echoed {data!r}"
        with socket.create_connection(addr, timeout=3) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = s.recv(64)
            return None if data.startswith(b"HTTP/1.0 200") else f"tcp {addr}: answered {data!r}"
    except OSError as exc:
        return f"{port.get('protocol', 'tcp')} {addr}: {exc}"


def _check_running(fx: Fixture, client: docker.DockerClient) -> list[str]:
    problems = []
    containers = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={fx.project}"})
    by_service: dict[str, list[Any]] = {}
    for c in containers:
        by_service.setdefault(c.labels.get("com.docker.compose.service", "?"), []).append(c)
    oneshot = _oneshots(fx.config)
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
            if (_healthcheck(svc) or health) and health != "healthy":
                problems.append(f"{name}: health is {health}")
        if svc.get("network_mode") == "host":
            continue
        for port in svc.get("ports") or []:
            if port.get("published") and (wrong := _answers(port)):
                problems.append(f"{name}: {wrong}")
    return problems


def _leftovers(fx: Fixture, client: docker.DockerClient) -> list[str]:
    label = {"label": f"{PROJECT_LABEL}={fx.project}"}
    left = [f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
    left += [f"network {n.name}" for n in client.networks.list(filters=label)]
    left += [f"volume {v.name}" for v in client.volumes.list(filters=label)]
    left += [f"image {i.tags or i.id}" for i in client.images.list(filters=label)]
    return left


@contextlib.contextmanager
def _machine_state(fx: Fixture, client: docker.DockerClient) -> Iterator[None]:
    """What a fixture needs that compose does not make (external volumes), and what compose makes that
    `down` does not remove (host directories of absolute bind mounts): both only if we made them."""
    made_volumes, made_paths = [], [p for p in fx.host_paths if not Path(p).exists()]
    for name in fx.external_volumes:
        try:
            client.volumes.get(name)
        except docker.errors.NotFound:
            client.volumes.create(name, labels={"berth.test": "compose-corpus"})
            made_volumes.append(name)
    try:
        yield
    finally:
        for name in made_volumes:
            with contextlib.suppress(docker.errors.APIError):
                client.volumes.get(name).remove(force=True)
        for p in made_paths:
            shutil.rmtree(p, ignore_errors=True)


def _run(fx: Fixture) -> tuple[list[str], float]:
    """Up, check, down; the problems found and the seconds it took."""
    started, problems = time.monotonic(), []
    client = docker.from_env()
    try:
        with _machine_state(fx, client):
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
                if down.returncode != 0:
                    problems.append(f"down failed: {down.stderr[-800:]}")
        problems += [f"left behind: {x}" for x in _leftovers(fx, client)]
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
            lambda: all(
                not n.attrs.get("Containers") for n in _reloaded(client.networks.list(filters=label))
            ),
            timeout=30,
            what=f"{fx.name}: its networks to have no container attached",
        )
        down = fx.compose("down", "-v", "--remove-orphans", "--rmi", "local")
    return down


def _reloaded(nets: list[Any]) -> list[Any]:
    """The networks inspected again (a listing leaves `Containers` empty); those removed meanwhile dropped."""
    fresh = []
    for n in nets:
        with contextlib.suppress(docker.errors.NotFound):
            n.reload()
            fresh.append(n)
    return fresh


def _schedule(fixtures: list[Fixture]) -> tuple[list[str], dict[str, float]]:
    """Run every fixture, as many at once as their machine-wide resources allow. Those with fixed subnets
    get a head start so that no other project's network takes their address range first."""
    lock, freed = threading.Lock(), threading.Condition()
    busy: set[str] = set()
    problems: list[str] = []
    took: dict[str, float] = {}
    needs = {fx.name: _resources(fx.config) for fx in fixtures}

    def worker(fx: Fixture) -> None:
        with freed:
            while needs[fx.name] & busy:
                freed.wait()
            busy.update(needs[fx.name])
        try:
            found, seconds = _run(fx)
        except Exception as exc:  # a broken run must not hang the others
            found, seconds = [f"{fx.name}: {exc!r}"], 0.0
        with lock:
            problems.extend(found)
            took[fx.name] = seconds
        with freed:
            busy.difference_update(needs[fx.name])
            freed.notify_all()

    first = [fx for fx in fixtures if _fixed_subnets(fx.config)]
    rest = sorted((fx for fx in fixtures if fx not in first), key=lambda f: -_estimate(f.config))
    threads = []
    for fx in first:
        t = threading.Thread(target=worker, args=(fx,), name=fx.name)
        t.start()
        threads.append(t)
        _wait_for_networks(fx)
    for fx in rest:
        t = threading.Thread(target=worker, args=(fx,), name=fx.name)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=WAIT_TIMEOUT * 3)
        assert not t.is_alive(), f"{t.name} still running"
    return problems, took


def _wait_for_networks(fx: Fixture) -> None:
    client = docker.from_env()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if client.networks.list(filters={"label": f"{PROJECT_LABEL}={fx.project}"}):
                return
            time.sleep(0.2)
    finally:
        client.close()


def test_every_corpus_fixture_runs_on_standins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    fixtures = _fixtures()
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
            fx.refused = _engine_refusals(fx.config, client)
    finally:
        client.close()
    problems, took = _schedule(fixtures)
    with capsys.disabled():
        print(f"\ncompose corpus on stand-ins: {time.monotonic() - started:.0f}s in all")
        by_name = {fx.name: fx for fx in fixtures}
        for name, seconds in sorted(took.items(), key=lambda kv: -kv[1]):
            fx = by_name[name]
            how = (
                "fails: digest pins" if fx.fails else f"fails: {sorted(fx.refused)}" if fx.refused else "runs"
            )
            print(f"  {name:24} {seconds:5.1f}s  {how}")
    assert not problems, "\n".join(problems)
