"""Host mode: a port taken between Berth's lease and the service's bind (ports 44000-44999).

An outsider (tests/e2e/port_grabber.py, started by the pre_spawn hook with no Berth marker and in a
session of its own) takes the web service's leased port and accepts connections on it, so a bare
TCP probe succeeds although the service failed to bind and exited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from berth.adapters.ports import accepts_tcp
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.events import RecordingSink
from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import RepoFactory
from e2e.host_config import host_toml
from e2e.outsiders import ask_for_port, free_block, grab_hook, listens_on, outsider, start_on_demand, stop
from world import assert_nothing_left, db_rows


@pytest.fixture
def base() -> int:
    return free_block(70)


@pytest.fixture
def pidfile(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "outsider.pid"
    yield path
    stop(path)


def env_file(repo: Path, slug: str) -> dict[str, str]:
    text = (repo / ".berth" / "worktrees" / slug / ".env.berth").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def test_a_port_taken_before_the_bind_is_re_leased_and_the_service_restarted(
    make_repo: RepoFactory, base: int, pidfile: Path, tmp_path: Path
) -> None:
    hook = grab_hook("$BERTH_WEB_PORT", pidfile, once=tmp_path / "grabbed")
    repo = make_repo(host_toml(base, timeout=10, pre_spawn=hook))
    engine = Engine(Workspace(repo))
    sink = RecordingSink()

    session = engine.up(UpRequest(branch="feat/race"), events=sink)

    taken, moved = base + 1, base + 1 + 8  # the slot's port, then the next candidate
    grabber = outsider(pidfile)
    assert listens_on(grabber, taken), "the outsider holds the port it took"
    assert session.ports["web"] == moved
    env = env_file(repo, "feat-race")
    assert (env["BERTH_WEB_PORT"], env["PORT"], env["BERTH_WEB_URL"]) == (
        str(moved),
        str(moved),
        f"http://127.0.0.1:{moved}",
    )
    (web,) = [s for s in engine.status("feat-race")[0].services if s.name == "web"]
    assert (web.state, web.actual_ports) == ("running", [moved])
    assert accepts_tcp(moved)
    leases = sorted((port, service) for port, _, _, service, *_ in db_rows(repo, "leases"))
    assert leases == [(moved, "web"), (base + 51, "api")], "the taken port's lease was released"
    notes = [line for _, line in sink.logs if "was taken by PID" in line]
    assert notes == [
        f"[feat-race] port {taken} of service web was taken by PID {grabber.pid} (not this session's) before "
        f"the service could bind it; leased port {moved} instead, rewrote .env.berth, restarting web "
        "(port 2 of at most 3)"
    ]
    assert ("feat-race", f"wait until ready: web moved from port {taken} to {moved}") in [
        (slug, step) for slug, step, _, _ in sink.progress_events
    ]

    receipt = engine.down(DownRequest(slug="feat-race"))
    assert receipt.status == "removed"
    assert_nothing_left(repo, "feat-race")
    assert grabber.is_running() and listens_on(grabber, taken), "the outsider is untouched"


def test_a_port_taken_on_every_try_fails_cleanly_after_three_ports(
    make_repo: RepoFactory, base: int, pidfile: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "grabs"
    grabber = start_on_demand(folder, pidfile)
    web = f"{ask_for_port(folder, '$PORT')}; exec python3 -m http.server $PORT --bind 127.0.0.1"
    repo = make_repo(host_toml(base, timeout=10, web_command=web))
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="feat/race"))
    err = info.value
    assert err.code is ErrorCode.PORT_IN_USE
    assert f"(tried ports {base + 1}, {base + 9}, {base + 17})" in err.message
    assert_nothing_left(repo, "feat-race", branch_created="feat/race")
    assert grabber.is_running() and all(listens_on(grabber, p) for p in (base + 1, base + 9, base + 17))


def test_readiness_is_not_fooled_by_another_process_on_the_port(
    make_repo: RepoFactory, base: int, pidfile: Path
) -> None:
    """strict_port: no re-lease, so this is the readiness bug alone. The outsider accepts on the
    port, the service cannot bind and exits: that is not ready, it is PORT_IN_USE naming the holder."""
    repo = make_repo(
        host_toml(base, strict=True, timeout=10, pre_spawn=grab_hook("$BERTH_WEB_PORT", pidfile))
    )
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="feat/race"))
    grabber = outsider(pidfile)
    assert info.value.code is ErrorCode.PORT_IN_USE
    assert info.value.details["holder_pid"] == grabber.pid
    assert (
        f"its port {base + 1} is held by PID {grabber.pid}, which is not this session's" in info.value.message
    )
    assert_nothing_left(repo, "feat-race", branch_created="feat/race")
    assert grabber.is_running() and listens_on(grabber, base + 1)


def test_a_live_service_that_does_not_own_its_port_is_not_ready(
    make_repo: RepoFactory, base: int, pidfile: Path
) -> None:
    """The service stays alive but never listens, while an outsider answers on its port."""
    repo = make_repo(
        host_toml(
            base, timeout=1.5, web_command="exec sleep 60", pre_spawn=grab_hook("$BERTH_WEB_PORT", pidfile)
        )
    )
    with pytest.raises(BerthError) as info:
        Engine(Workspace(repo)).up(UpRequest(branch="feat/race"))
    grabber = outsider(pidfile)
    assert info.value.code is ErrorCode.SERVICE_NOT_READY
    assert f"port {base + 1} is held by PID {grabber.pid}, which is not this service" in info.value.message
    assert_nothing_left(repo, "feat-race", branch_created="feat/race")
    assert grabber.is_running()
    assert psutil.pid_exists(grabber.pid)
