"""The compose corpus (tests/fixtures/compose) as the e2e tests use it: each fixture's files and
profiles, what it takes machine-wide (so fixtures that would collide never run at once), what this
engine refuses of it, how its published ports must answer on stand-ins, and a scheduler that runs
many fixtures side by side."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from compose_standins import BASE_IMAGE
from conftest import REPO_ROOT
from waiting import wait_until

CORPUS = REPO_ROOT / "tests" / "fixtures" / "compose"
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


def load_fixtures() -> list[Fixture]:
    out = []
    for d in sorted(p for p in CORPUS.iterdir() if (p / "fixture.json").is_file()):
        meta = json.loads((d / "fixture.json").read_text())
        out.append(Fixture(d.name, **meta))
    return out


def resources(config: Mapping[str, Any]) -> set[str]:
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


def has_fixed_subnets(config: Mapping[str, Any]) -> bool:
    return any((n.get("ipam") or {}).get("config") for n in (config.get("networks") or {}).values())


def has_healthcheck(svc: Mapping[str, Any]) -> bool:
    hc = svc.get("healthcheck") or {}
    return bool(hc.get("test")) and hc.get("test") != ["NONE"] and not hc.get("disable")


def oneshots(config: Mapping[str, Any]) -> set[str]:
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


def engine_refusals(config: Mapping[str, Any], client: docker.DockerClient) -> dict[str, str]:
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


def estimate(config: Mapping[str, Any]) -> float:
    """How long `up --wait` must take at least: the longest chain of first healthcheck intervals."""
    services = config["services"]
    memo: dict[str, float] = {}

    def ready(name: str, seen: frozenset[str] = frozenset()) -> float:
        if name in memo or name in seen or name not in services:
            return memo.get(name, 0.0)
        svc = services[name]
        start = max((ready(d, seen | {name}) for d in svc.get("depends_on") or {}), default=0.0)
        own = _seconds((svc.get("healthcheck") or {}).get("interval")) if has_healthcheck(svc) else 0.0
        memo[name] = start + own
        return memo[name]

    return max((ready(n) for n in services), default=0.0)


def answers(port: Mapping[str, Any]) -> str | None:
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


@contextlib.contextmanager
def machine_state(fx: Fixture, client: docker.DockerClient) -> Iterator[None]:
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


def reloaded(nets: list[Any]) -> list[Any]:
    """The networks inspected again (a listing leaves `Containers` empty); those removed meanwhile dropped."""
    fresh = []
    for n in nets:
        with contextlib.suppress(docker.errors.NotFound):
            n.reload()
            fresh.append(n)
    return fresh


def schedule(
    fixtures: list[Fixture],
    run: Callable[[Fixture], tuple[list[str], float]],
    *,
    network_label: Callable[[Fixture], str],
    timeout: float,
    needs: Callable[[Fixture], set[str]] | None = None,
) -> tuple[list[str], dict[str, float]]:
    """Run every fixture (`run`: its problems and seconds), as many at once as their machine-wide
    resources allow. Those with fixed subnets get a head start, until a network carrying
    `network_label(fx)` exists, so that no other project's network takes their address range first."""
    lock, freed = threading.Lock(), threading.Condition()
    busy: set[str] = set()
    problems: list[str] = []
    took: dict[str, float] = {}
    taken = {fx.name: (needs or (lambda f: resources(f.config)))(fx) for fx in fixtures}

    def worker(fx: Fixture) -> None:
        with freed:
            while taken[fx.name] & busy:
                freed.wait()
            busy.update(taken[fx.name])
        try:
            found, seconds = run(fx)
        except Exception as exc:  # a broken run must not hang the others
            found, seconds = [f"{fx.name}: {exc!r}"], 0.0
        with lock:
            problems.extend(found)
            took[fx.name] = seconds
        with freed:
            busy.difference_update(taken[fx.name])
            freed.notify_all()

    first = [fx for fx in fixtures if has_fixed_subnets(fx.config)]
    rest = sorted((fx for fx in fixtures if fx not in first), key=lambda f: -estimate(f.config))
    threads = []
    for fx in first:
        t = threading.Thread(target=worker, args=(fx,), name=fx.name)
        t.start()
        threads.append(t)
        _wait_for_networks(network_label(fx), t, timeout)
    for fx in rest:
        t = threading.Thread(target=worker, args=(fx,), name=fx.name)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=timeout)
        assert not t.is_alive(), f"{t.name} still running"
    return problems, took


def _wait_for_networks(label: str, worker: threading.Thread, timeout: float) -> None:
    """Until the fixture's first network exists, or its run ended without one (a failed run, which
    reports its own problems)."""
    client = docker.from_env()
    try:
        wait_until(
            lambda: not worker.is_alive() or bool(client.networks.list(filters={"label": label})),
            timeout=timeout,
            interval=0.2,
            what=f"{worker.name}: a network labelled {label}, or its run to end",
        )
    finally:
        client.close()
