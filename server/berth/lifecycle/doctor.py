"""`doctor`: what is wrong with this machine's and this repository's Berth setup, as a list of
checks (`Check`), each bounded in time: a tool or engine that does not answer is reported as such
within seconds, never waited on. Doctor changes nothing (it does not even create the state file)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from berth.adapters import compose_cli, docker_endpoint, docker_engine
from berth.adapters.git import git_version
from berth.adapters.process_table import HostSnapshot
from berth.domain.config import BerthConfig
from berth.domain.errors import BerthError
from berth.domain.layout import state_file
from berth.domain.models import (
    Check,
    CheckStatus,
    DoctorReport,
    DoctorSummary,
    ServiceState,
    ServiceView,
    SessionStatus,
)
from berth.domain.records import SessionRecord
from berth.lifecycle import leftovers
from berth.lifecycle.leftovers import Findings
from berth.lifecycle.workspace import Workspace
from berth.modes.compose.project import compose_record
from berth.modes.host.views import native_service_views
from berth.modes.registry import mode_family
from berth.state.store import SessionStore

T = TypeVar("T")

CHECK_LIMIT_SECONDS = 10.0
"""The most any one check may take; one that takes longer is reported as not answering."""
MIN_GIT = (2, 17)
"""`git worktree remove` and `--path-format` need a recent git."""


class _TimedOut(Exception):
    pass


def _bounded(fn: Callable[[], T], limit: float) -> T:
    """`fn()` in a daemon thread, given up on after `limit` seconds (_TimedOut). A thread that hangs
    is left behind, never joined: the process can still exit."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="berth-doctor-check", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise _TimedOut
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


@dataclass
class _Doctor:
    start: Path
    limit: float
    checks: list[Check] = field(default_factory=list)
    ws: Workspace | None = None
    config: BerthConfig | None = None
    store: SessionStore | None = None
    sessions: list[SessionRecord] = field(default_factory=list)
    engine_ok: bool = False
    findings: Findings | None = None
    host: HostSnapshot | None = None

    def run(self, check_id: str, title: str, fn: Callable[[], Check], *, required: bool = False) -> Check:
        began = time.monotonic()
        try:
            check = _bounded(fn, self.limit)
        except _TimedOut:
            check = Check(
                id=check_id,
                title=title,
                status=CheckStatus.ERROR if required else CheckStatus.WARN,
                detail=f"did not answer within {self.limit:g} s",
                remediation="run `berth doctor` again; if it persists, see what hangs (the engine, git)",
            )
        except BerthError as exc:
            check = Check(
                id=check_id,
                title=title,
                status=CheckStatus.ERROR if required else CheckStatus.WARN,
                detail=exc.message,
                remediation=exc.hint,
            )
        check = check.model_copy(
            update={"id": check_id, "title": title, "required": required, "seconds": time.monotonic() - began}
        )
        self.checks.append(check)
        return check


def _check(
    status: CheckStatus, detail: str, remediation: str | None = None, items: list[str] | None = None
) -> Check:
    return Check(id="", title="", status=status, detail=detail, remediation=remediation, items=items or [])


def _ok(detail: str, items: list[str] | None = None) -> Check:
    return _check(CheckStatus.OK, detail, items=items)


def diagnose(start: Path, *, limit: float = CHECK_LIMIT_SECONDS) -> DoctorReport:
    """Run every check for the repository containing `start`."""
    began = time.monotonic()
    doc = _Doctor(start=start, limit=limit)
    doc.run("git", "git is installed", _git, required=True)
    if (
        doc.run("repository", "the repository", lambda: _repository(doc), required=True).status
        is CheckStatus.OK
    ):
        doc.run("config", "berth.toml is valid", lambda: _config(doc), required=True)
        if doc.run("state", "the state file", lambda: _state(doc), required=True).status is CheckStatus.OK:
            _session_checks(doc)
    errors = [c for c in doc.checks if c.required and c.status is CheckStatus.ERROR]
    counts = {s: sum(1 for c in doc.checks if c.status is s) for s in CheckStatus}
    return DoctorReport(
        root=str(doc.ws.root) if doc.ws else None,
        checks=doc.checks,
        summary=DoctorSummary(
            ok=counts[CheckStatus.OK], warn=counts[CheckStatus.WARN], error=counts[CheckStatus.ERROR]
        ),
        healthy=not errors,
        seconds=time.monotonic() - began,
    )


# -- environment ----------------------------------------------------------------------------------
def _git() -> Check:
    version = git_version()
    if version is None:
        return _check(
            CheckStatus.ERROR,
            "no git on PATH answers `git --version`",
            "install git (Debian: `apt-get install git`)",
        )
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if len(parts) == 2 and parts < MIN_GIT:
        return _check(
            CheckStatus.ERROR,
            f"git {version} is too old (Berth needs {MIN_GIT[0]}.{MIN_GIT[1]} or later)",
            "upgrade git",
        )
    return _ok(f"git {version}")


def _repository(doc: _Doctor) -> Check:
    doc.ws = Workspace.discover(doc.start)
    return _ok(f"git repository at {doc.ws.root}")


def _config(doc: _Doctor) -> Check:
    assert doc.ws is not None
    try:
        doc.config = doc.ws.config()
    except BerthError as exc:
        problems = [str(p) for p in exc.details.get("problems", [])]
        return _check(CheckStatus.ERROR, exc.message, exc.hint, problems)
    cfg = doc.config
    services = ", ".join(f"{s.name} ({s.run})" for s in cfg.services) or "none declared"
    return _ok(f"mode {cfg.mode}, services: {services}, worktree_dir {cfg.worktree_dir}")


def _state(doc: _Doctor) -> Check:
    assert doc.ws is not None
    path = state_file(doc.ws.root)
    if not path.exists():
        return _ok(f"no state file yet ({path}): no session was ever brought up here")
    if not os.access(path, os.R_OK | os.W_OK):
        return _check(
            CheckStatus.ERROR, f"{path} is not readable and writable by you", f"fix its permissions: {path}"
        )
    doc.store = doc.ws.store
    problems = doc.store.integrity_check()
    if problems:
        return _check(
            CheckStatus.ERROR,
            f"{path} fails SQLite's integrity check ({len(problems)} problem(s))",
            "move it aside (keep it for inspection), then `berth prune` finds what its sessions left behind",
            problems[:20],
        )
    doc.sessions = doc.store.list_sessions()
    return _ok(f"{path}: integrity ok, {len(doc.sessions)} session(s)")


# -- sessions and leftovers -----------------------------------------------------------------------
def _session_checks(doc: _Doctor) -> None:
    assert doc.ws is not None
    wanted = leftovers.engine_wanted(doc.config, doc.sessions)
    doc.run("engine", "Docker engine", lambda: _engine(wanted, doc), required=wanted)
    if wanted:
        doc.run("compose", "docker compose v2", _compose, required=True)
    ws = doc.ws

    def find() -> Check:  # without a state file (lost?) whatever carries this repository's marks is left over
        doc.findings = leftovers.find(ws, engine=doc.engine_ok, state=doc.store is not None)
        doc.host = HostSnapshot.take()
        return _ok("scanned")

    if doc.run("scan", "scan for leftovers", find).status is not CheckStatus.OK:
        return
    doc.checks.pop()  # the scan is not a check of its own: what it found is reported below
    doc.run("operations", "interrupted operations", lambda: _abandoned(doc))
    doc.run("worktrees-missing", "sessions whose worktree is missing", lambda: _missing(doc))
    doc.run("services", "sessions whose services are dead", lambda: _dead_services(doc))
    doc.run("ports", "leased ports held by another process", lambda: _port_owners(doc))
    doc.run("engine-leftovers", "engine resources of no session", lambda: _engine_leftovers(doc, wanted))
    doc.run("stray-worktrees", "directories under worktree_dir of no session", lambda: _strays(doc))
    doc.run("processes", "processes of no session", lambda: _processes(doc))
    doc.run("leases", "port leases of no session", lambda: _leases(doc))


def _engine(wanted: bool, doc: _Doctor) -> Check:
    """The engine a new session would use: where, which rule chose it, its version, and whether the
    SDK and the docker CLI (what compose runs with) reach the same engine."""
    try:
        endpoint = docker_endpoint.resolve(configured=doc.config.engine if doc.config else None)
        info = docker_engine.engine_info(endpoint, timeout=leftovers.ENGINE_TIMEOUT_SECONDS)
    except BerthError as exc:
        if not wanted:
            return _ok(f"not needed in host mode ({exc.message})")
        return _check(CheckStatus.ERROR, exc.message, exc.hint)
    doc.engine_ok = True
    where = f"Docker {info.version} at {endpoint.describe()}"
    other = docker_endpoint.cli_engine_id(endpoint, timeout=leftovers.ENGINE_TIMEOUT_SECONDS * 3)
    if other != info.engine_id:
        return _check(
            CheckStatus.ERROR,
            f"{where}: the SDK reaches engine {info.engine_id or '?'}, but the docker CLI (compose) "
            f"given the same endpoint reaches {other or 'none'}",
            "check DOCKER_HOST, DOCKER_CONTEXT and `docker context ls`; both must name one engine",
            [f"sdk: {info.engine_id}", f"cli: {other}"],
        )
    return _check(
        CheckStatus.OK,
        f"{where}; SDK and compose agree (engine {info.engine_id}, {info.name})",
        None,
        [f"endpoint: {endpoint.host}", f"chosen by: {endpoint.rule.value}", f"engine ID: {info.engine_id}"],
    )


def _compose() -> Check:
    cli = compose_cli.find_compose()
    return _ok(f"{' '.join(cli.argv)} {cli.version}")


def _abandoned(doc: _Doctor) -> Check:
    assert doc.findings is not None
    ops = doc.findings.abandoned
    if not ops or doc.store is None:
        return _ok("none")
    items = [
        f"{op.op_id}: {op.kind} of {op.slug} ({op.status}, "
        f"{sum(1 for e in doc.store.journal(op.op_id) if e.state.pending)} undo step(s) pending)"
        for op in ops
    ]
    return _check(
        CheckStatus.WARN,
        f"{len(ops)} operation(s) whose process died (or whose rollback failed) wait for recovery",
        "berth recover (or berth prune, which replays them too)",
        items,
    )


def _missing(doc: _Doctor) -> Check:
    assert doc.findings is not None
    missing = doc.findings.missing_worktrees
    if not missing:
        return _ok("none")
    return _check(
        CheckStatus.WARN,
        f"{len(missing)} session(s) whose worktree directory is gone",
        " / ".join(f"berth down {s.slug}" for s in missing) + " (or berth prune)",
        [f"{s.slug}: {s.worktree_path}" for s in missing],
    )


def _views(doc: _Doctor, record: SessionRecord) -> list[ServiceView]:
    """Live views; docker services only when the engine answered (never waited on again)."""
    if doc.engine_ok or compose_record(record) is None:
        return mode_family(record.mode).service_views(record, doc.host)
    docker_ports = set(compose_record(record).ports)  # type: ignore[union-attr]
    native = {n: p for n, p in record.ports.items() if n not in docker_ports}
    return native_service_views(record, native, doc.host)


def _dead_services(doc: _Doctor) -> Check:
    items = []
    for record in doc.sessions:
        if record.status is not SessionStatus.ACTIVE or record.op_id is not None:
            continue
        for view in _views(doc, record):
            if view.state is ServiceState.EXITED:
                items.append(
                    f"{record.slug}/{view.name}: exited" + (f" ({view.detail})" if view.detail else "")
                )
    if not items:
        return _ok("every service of every active session is running")
    return _check(
        CheckStatus.WARN,
        f"{len(items)} service(s) of active sessions are dead",
        "berth up BRANCH restarts what is down (berth status SLUG shows it)",
        items,
    )


def _port_owners(doc: _Doctor) -> Check:
    assert doc.host is not None
    if doc.store is None:
        return _ok("no state file: nothing is leased")
    host = doc.host
    by_slug = {s.slug: s for s in doc.sessions}
    published: dict[str, set[tuple[int, str]]] = {}
    items = []
    for lease in doc.store.leases():
        record = by_slug.get(lease.slug)
        holder = host.port_owner.get(lease.port) if lease.protocol == "tcp" else None
        if record is None or holder is None or record.op_id is not None:
            continue
        compose = compose_record(record)
        who = f"port {lease.port} leased to {lease.slug}/{lease.service}"
        if compose is not None and lease.service in compose.ports:
            if not doc.engine_ok or not record.endpoint.local:
                continue  # a remote engine's port is on its host, not held by anything here
            if record.slug not in published:
                with docker_engine.connect(record.endpoint, leftovers.ENGINE_TIMEOUT_SECONDS) as client:
                    published[record.slug] = {
                        p for c in docker_engine.containers(client, compose.selector) for p in c.published
                    }
            if (lease.port, "tcp") not in published[record.slug]:
                items.append(f"{who} is held by {leftovers.describe_process(holder)}, not by its container")
            continue
        proc = record.processes.get(lease.service)
        if proc is None:
            continue  # a port without a command (the app you run by hand): whoever holds it is fine
        if record.status.value == "stopped" or holder not in host.tree(proc.identity):
            state = " (the session is stopped)" if record.status.value == "stopped" else ""
            items.append(f"{who} is held by {leftovers.describe_process(holder)}, not the session's{state}")
    if not items:
        return _ok("every leased port is free or held by its session")
    return _check(
        CheckStatus.WARN,
        f"{len(items)} leased port(s) are held by a process that is not the session's",
        "stop what holds them (check first: do not kill blindly), or take the session down and up again",
        items,
    )


def _engine_leftovers(doc: _Doctor, wanted: bool) -> Check:
    assert doc.findings is not None
    found = doc.findings.engine
    if found is None:
        if not wanted:
            return _ok("not checked: host mode, and no engine answers")
        return _check(CheckStatus.WARN, "not checked: the engine is unreachable", "start the engine")
    if not found:
        return _ok("none")
    return _check(
        CheckStatus.WARN,
        f"{len(found)} labelled engine resource(s) of this repository belong to no session",
        "berth prune --dry-run shows what prune removes (volumes only with --volumes)",
        [f"{r.kind} {r.name} (project {r.project or '?'})" for r in found],
    )


def _strays(doc: _Doctor) -> Check:
    assert doc.findings is not None
    if doc.config is None:
        return _check(CheckStatus.WARN, "not checked: berth.toml is invalid", "fix berth.toml")
    strays, stale = doc.findings.stray_worktrees, doc.findings.stale_registrations
    items = [
        f"{s.path}: "
        + (
            f"git worktree with uncommitted changes ({', '.join(s.changes[:5])}): prune keeps it"
            if s.changes
            else "git worktree, clean"
            if s.registered
            else "not a git worktree: prune keeps it"
        )
        for s in strays
    ]
    items += [f"{p}: registered in git, directory gone" for p in stale]
    if not items:
        return _ok("none")
    return _check(
        CheckStatus.WARN,
        f"{len(items)} entr{'y' if len(items) == 1 else 'ies'} under {doc.config.worktree_dir} belong to no session",
        "berth prune removes the clean worktrees and stale registrations",
        items,
    )


def _processes(doc: _Doctor) -> Check:
    assert doc.findings is not None
    procs = doc.findings.processes
    if not procs:
        return _ok("none")
    return _check(
        CheckStatus.WARN,
        f"{len(procs)} process(es) carry this repository's marker but belong to no session",
        "berth prune stops them",
        [f"{p.name} [{p.marker.partition('@')[0]}]" for p in procs],
    )


def _leases(doc: _Doctor) -> Check:
    assert doc.findings is not None
    leases = doc.findings.orphan_leases
    if not leases:
        return _ok("none")
    return _check(
        CheckStatus.WARN,
        f"{len(leases)} port lease(s) belong to no session",
        "berth prune releases them",
        [f"{lease.port}/{lease.protocol} {lease.slug}/{lease.service}" for lease in leases],
    )
