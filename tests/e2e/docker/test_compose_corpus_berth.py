"""Every compose file of the corpus (tests/fixtures/compose), run through Berth as a user would: the
project's files committed in a real git repository, a berth.toml that names only the files and
profiles (container mode, no service declared), and two sessions brought up at once by two `berth up`
processes. On the real engine, with the offline stand-in images, each session must:

* publish exactly the ports leased for it in the state file (every published port of every started
  service, ranges as blocks, UDP apart), never a host port of the base file, none of the other
  session's, and each published port must answer;
* share no container, network or named volume with the other session (only `external` resources,
  which `status` lists as shared);
* report `status` exit 0 (one-shot services completed, nothing unhealthy);
* leave nothing of its own on the engine after `down`, and touch nothing else (external volumes and
  the stand-in images survive).

Two fixtures also run in hybrid mode, where it makes sense: the database a native app needs (one
that sits only on an `internal` network among them), declared in berth.toml, the app native and
reaching it on its leased port.

Fixtures this machine cannot run (`fails`, or demands the engine refuses, see test_compose_corpus_standins)
must make `berth up` fail with a precise error and roll back to nothing."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    load_fixtures,
    machine_state,
    resources,
    schedule,
)
from waiting import wait_until

BERTH = [sys.executable, "-m", "berth"]
BRANCHES = ("feat/a", "feat/b")
UP_TIMEOUT = 400
# The native app of a hybrid session: it serves only once it has reached its database on the leased
# port (a stand-in answers HTTP on every container port it listens on).
HYBRID_APP = """\
import http.server, os, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{os.environ['BERTH_DB_PORT']}/", timeout=10).read()
http.server.test(http.server.SimpleHTTPRequestHandler, port=int(os.environ["PORT"]), bind="127.0.0.1")
"""


@dataclass
class Hybrid:
    """A hybrid setup of a fixture: its database declared as a docker service, the app native."""

    db: str
    db_base: int
    app_base: int


HYBRIDS = {
    # the devcontainer's postgres, which publishes nothing in the file: Berth maps base_port to it
    "devcontainer-postgres": Hybrid(db="db", db_base=5432, app_base=45100),
    # mastodon's postgres sits only on an internal network: Berth bridges it so the app reaches it
    "mastodon": Hybrid(db="db", db_base=5432, app_base=45200),
}
# The real postgres image listens on 5432 (its EXPOSE), which the files need not say: the stand-ins do too.
POSTGRES_EXPOSE = {"services": {"db": {"image": "", "expose": ["5432"]}}}


@dataclass
class Run:
    fx: Fixture
    mode: str
    repo: Path = Path()
    prefix: str = ""
    hybrid: Hybrid | None = None
    problems: list[str] = field(default_factory=list)
    engine_leaks: list[str] = field(default_factory=list)
    """Networks the engine would not remove although no container was attached (moby#43286), as
    Berth's down reported them (`details.stale_networks`): the engine's bug, not Berth's leftovers."""

    @property
    def label(self) -> str:
        return f"{self.fx.name} ({self.mode})"

    def berth(self, *args: str, timeout: float = UP_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*BERTH, *args], cwd=self.repo, capture_output=True, text=True, timeout=timeout, check=False
        )


def _toml(fx: Fixture, mode: str, prefix: str, hybrid: Hybrid | None) -> str:
    lines = [f'mode = "{mode}"', f'prefix = "{prefix}"', "max_slots = 4"]
    if fx.files:
        lines.append(f"compose = {json.dumps(fx.files)}")
    if fx.profiles:
        lines.append(f"profiles = {json.dumps(fx.profiles)}")
    if hybrid:
        lines += textwrap.dedent(f"""\
            [[services]]
            name = "{hybrid.db}"
            base_port = {hybrid.db_base}
            run = "docker"
            [[services]]
            name = "app"
            base_port = {hybrid.app_base}
            command = "exec python3 berth-app.py"
            """).splitlines()
    return "\n".join(lines) + "\n"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


def _make_repo(run: Run, tmp: Path) -> None:
    """The fixture's files as a project's repository: everything committed (its own .env too, since
    sessions are worktrees of it), berth.toml beside them."""
    run.repo = tmp / f"{run.fx.name}-{run.mode}"
    shutil.copytree(CORPUS / run.fx.name, run.repo, symlinks=True)
    for meta in ("fixture.json", "config.json", "SOURCE.md"):
        (run.repo / meta).unlink()
    # unique per test run: an engine's leftovers of an earlier run (see Run.engine_leaks) never collide
    run_id = hashlib.sha256(str(tmp).encode()).hexdigest()[:4]
    run.prefix = re.sub(r"[^a-z0-9]+", "", run.fx.name)[:12] + ("h" if run.mode == "hybrid" else "c") + run_id
    (run.repo / "berth.toml").write_text(_toml(run.fx, run.mode, run.prefix, run.hybrid))
    if run.hybrid:
        (run.repo / "berth-app.py").write_text(HYBRID_APP)
    with (run.repo / ".gitignore").open("a") as f:
        f.write("\n.berth/\n")
    _git(run.repo, "init", "-q", "-b", "main")
    _git(run.repo, "config", "user.email", "test@example.com")
    _git(run.repo, "config", "user.name", "Berth Test")
    _git(run.repo, "add", "-A", "-f", ".")
    _git(run.repo, "commit", "-q", "-m", "the project as published")


def _leases(repo: Path, slug: str) -> set[tuple[int, str]]:
    db = sqlite3.connect(repo / ".berth" / "state.db")
    try:
        return {
            (p, proto) for p, proto in db.execute("SELECT port, protocol FROM leases WHERE slug = ?", (slug,))
        }
    finally:
        db.close()


def _file_ports(config: Mapping[str, Any]) -> set[tuple[int, str]]:
    return {
        (int(p["published"]), p.get("protocol", "tcp"))
        for svc in config["services"].values()
        for p in svc.get("ports") or []
        if p.get("published")
    }


def _engine_view(client: docker.DockerClient, selector: str) -> dict[str, Any]:
    """What carries the label: containers (with their published ports), networks, volumes, images."""
    labels = {"label": [selector]}
    published: set[tuple[int, str, str]] = set()
    containers = client.api.containers(all=True, filters=labels)
    for row in containers:
        for p in row.get("Ports") or []:
            if p.get("PublicPort"):
                published.add((int(p["PublicPort"]), p["Type"], p.get("IP") or ""))
    return {
        "containers": {row["Names"][0].lstrip("/") for row in containers},
        "published": published,
        "networks": {n["Name"] for n in client.api.networks(filters=labels)},
        "volumes": {v["Name"] for v in (client.api.volumes(filters=labels) or {}).get("Volumes") or []},
        "images": {t for i in client.api.images(filters=labels) for t in i.get("RepoTags") or [i["Id"]]},
    }


def _pulled_images(config: Mapping[str, Any]) -> set[str]:
    """The images the file names but does not build (the stand-ins here, a registry's elsewhere)."""
    names = {svc["image"] for svc in config["services"].values() if svc.get("image") and not svc.get("build")}
    return {n if ":" in n.rsplit("/", 1)[-1] else f"{n}:latest" for n in names}


def _check_session(run: Run, client: docker.DockerClient, session: Mapping[str, Any]) -> dict[str, Any]:
    slug = session["slug"]
    project = f"{run.prefix}_{slug}"
    view = _engine_view(client, f"berth.session={project}")
    leased = _leases(run.repo, slug)
    published = {(port, proto) for port, proto, _ in view["published"]}
    native = {(session["ports"]["app"], "tcp")} if run.hybrid else set()
    if published != leased - native:
        run.problems.append(f"{slug}: published {sorted(published)} but leased {sorted(leased)}")
    if base := published & _file_ports(run.fx.config):
        run.problems.append(f"{slug}: publishes host ports of the base file {sorted(base)}")
    for port, proto, host_ip in sorted(view["published"]):
        if wrong := answers({"published": port, "protocol": proto, "host_ip": host_ip}):
            run.problems.append(f"{slug}: {wrong}")
    if run.hybrid and (not published or (session["ports"][run.hybrid.db], "tcp") not in published):
        run.problems.append(f"{slug}: the declared {run.hybrid.db} is not published on its leased port")
    status = run.berth("status", slug, "--json", timeout=60)
    if status.returncode != 0:
        run.problems.append(
            f"{slug}: status exit {status.returncode}: {status.stdout[-1500:]}{status.stderr}"
        )
    else:
        [live] = json.loads(status.stdout)["sessions"]
        shared = {(r["kind"], r["name"]) for r in live.get("shared") or []}
        for name in run.fx.external_volumes:
            if ("volume", name) not in shared:
                run.problems.append(
                    f"{slug}: the external volume {name} is not reported as shared ({shared})"
                )
    return view


def _at_once(run: Run, command: str, targets: Sequence[str], timeout: float) -> list[tuple[int, str, str]]:
    """`berth <command> <target> --json` for every target as processes running side by side: the exit
    status, stdout and stderr of each, in order."""
    procs = [
        subprocess.Popen(
            [*BERTH, command, target, "--json"],
            cwd=run.repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for target in targets
    ]
    outputs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


def _down_both(run: Run, slugs: list[str]) -> None:
    for slug, (code, out, err) in zip(slugs, _at_once(run, "down", slugs, timeout=300), strict=True):
        if code == 0:
            continue
        stale = (
            (json.loads(out).get("error", {}).get("details") or {}).get("stale_networks")
            if out.strip()
            else None
        )
        if not stale:
            run.problems.append(f"{slug}: down exit {code}: {out[-1500:]}{err[-1500:]}")
            continue
        # the engine's bug: Berth reported exactly the networks it keeps, and kept the session so that
        # its remedy, taking it down again, can finish once the engine lets go of them
        run.engine_leaks += stale
        since = time.monotonic()
        wait_until(
            lambda: run.berth("down", slug, "--json", timeout=300).returncode == 0,  # noqa: B023
            timeout=600,
            interval=5,
            what=f"{run.label}: down of {slug} to finish once the engine frees {stale}",
        )
        run.engine_leaks.append(f"(freed after {time.monotonic() - since:.0f} s)")


def _expected_failure(run: Run) -> str | None:
    """What must stop `berth up` of a fixture this machine cannot run, as a pattern of its error."""
    if any(svc.get("network_mode") == "host" for svc in run.fx.config["services"].values()):
        return r"COMPOSE_UNSUPPORTED.*network_mode: host"
    if run.fx.fails:
        return r"COMPOSE_FAILED.*(registry-1\.docker\.io|ghcr\.io)"
    if run.fx.refused:
        return "COMPOSE_FAILED.*(" + "|".join(re.escape(e) for e in run.fx.refused.values()) + ")"
    return None


def _exercise(run: Run) -> tuple[list[str], float]:
    started = time.monotonic()
    client = docker.from_env()
    try:
        with machine_state(run.fx, client):
            before_images = {t for i in client.api.images() for t in i.get("RepoTags") or []}
            results = _at_once(run, "up", BRANCHES, timeout=UP_TIMEOUT)
            sessions = [json.loads(out) for code, out, _ in results if code == 0]
            expected = _expected_failure(run)
            if expected:
                for code, out, err in results:
                    error = json.loads(out).get("error", {}) if out.strip() else {}
                    text = f"{error.get('code')} {error.get('message')} {json.dumps(error.get('details'))}"
                    if code != 1 or not re.search(expected, text, re.S):
                        run.problems.append(
                            f"expected a failure matching {expected!r}, got {code}: {text[:1500]}{err[-600:]}"
                        )
            else:
                for code, out, err in results:
                    if code != 0:
                        run.problems.append(f"up exit {code}: {out[-2500:]}{err[-1500:]}")
                views = [_check_session(run, client, s) for s in sessions]
                if len(views) == 2:
                    for kind in ("containers", "networks", "volumes"):
                        if both := views[0][kind] & views[1][kind]:
                            run.problems.append(f"the two sessions share {kind} {sorted(both)}")
                    ports = [{(p, proto) for p, proto, _ in v["published"]} for v in views]
                    if both_ports := ports[0] & ports[1]:
                        run.problems.append(f"the two sessions publish the same ports {sorted(both_ports)}")
            _down_both(run, [s["slug"] for s in sessions])
            left = _engine_view(client, f"berth.root={run.repo}")
            left["networks"] -= set(run.engine_leaks)
            if leftovers := {k: sorted(v) for k, v in left.items() if v}:
                run.problems.append(f"left on the engine after down: {leftovers}")
            for name in run.fx.external_volumes:
                try:
                    client.api.inspect_volume(name)
                except docker.errors.NotFound:
                    run.problems.append(f"down removed the external volume {name}")
            after_images = {t for i in client.api.images() for t in i.get("RepoTags") or []}
            if gone := (before_images & _pulled_images(run.fx.config)) - after_images:
                run.problems.append(f"down removed images it did not build: {sorted(gone)}")
            if worktrees := [w for s in sessions if (w := Path(s["worktreePath"])).exists()]:
                run.problems.append(f"worktrees left: {worktrees}")
    finally:
        client.close()
    return [f"{run.label}: {p}" for p in run.problems], time.monotonic() - started


# about 4-5 min of fixtures side by side, more while the engine holds a stale endpoint (see Run)
@pytest.mark.timeout(1800)
def test_every_corpus_fixture_runs_as_two_berth_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    fixtures = load_fixtures()
    for fx in fixtures:
        fx.workdir = tmp_path / "config" / fx.name
        shutil.copytree(CORPUS / fx.name, fx.workdir, symlinks=True)
        res = fx.compose("config", "--format", "json")
        assert res.returncode == 0, f"{fx.name}: {res.stderr}"
        fx.config = json.loads(res.stdout)
    by_name = {fx.name: fx for fx in fixtures}
    databases = [
        {
            "services": {
                "db": {
                    **POSTGRES_EXPOSE["services"]["db"],
                    "image": by_name[n].config["services"]["db"]["image"],
                }
            }
        }
        for n in HYBRIDS
    ]
    assert ensure_standins_for([*(fx.config for fx in fixtures), *databases])
    client = docker.from_env()
    try:
        for fx in fixtures:
            fx.refused = engine_refusals(fx.config, client)
    finally:
        client.close()

    runs = {fx.name: Run(fx, "container") for fx in fixtures}
    hybrid_runs = {f"{name} hybrid": Run(runs[name].fx, "hybrid", hybrid=h) for name, h in HYBRIDS.items()}
    for run in [*runs.values(), *hybrid_runs.values()]:
        _make_repo(run, tmp_path)
    by_fixture: dict[str, list[Run]] = {}
    for run in [*runs.values(), *hybrid_runs.values()]:
        by_fixture.setdefault(run.fx.name, []).append(run)

    def exercise_all(fx: Fixture) -> tuple[list[str], float]:
        """Each mode of one fixture in turn (they would need the same absolute bind paths)."""
        found, seconds = [], 0.0
        for run in by_fixture[fx.name]:
            p, s = _exercise(run)
            found += p
            seconds += s
        return found, seconds

    problems, took = schedule(
        fixtures,
        exercise_all,
        network_label=lambda fx: f"berth.root={runs[fx.name].repo}",
        # the hybrid sessions' databases publish the base port's slots: never two such fixtures at once
        needs=lambda fx: resources(fx.config) | ({"port/tcp/5432"} if fx.name in HYBRIDS else set()),
        timeout=UP_TIMEOUT * 4,
    )
    with capsys.disabled():
        print(f"\ncompose corpus through berth: {time.monotonic() - started:.0f}s in all")
        for name, seconds in sorted(took.items(), key=lambda kv: -kv[1]):
            modes = ", ".join(r.mode for r in by_fixture[name])
            how = "must fail" if _expected_failure(by_fixture[name][0]) else "two sessions"
            print(f"  {name:24} {seconds:5.1f}s  {how} ({modes})")
        for run in [*runs.values(), *hybrid_runs.values()]:
            if run.engine_leaks:
                print(
                    f"  ENGINE BUG (moby#43286) in {run.label}: networks it would not remove: {run.engine_leaks}"
                )
    assert not problems, "\n".join(problems)
