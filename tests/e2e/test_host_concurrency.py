"""Several `berth up` processes at once: distinct slots and ports, no waiting on each other."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import BERTH, RepoFactory
from e2e.host_config import host_toml
from waiting import wait_until
from world import db_rows, registered_worktrees


def start_ups(repo: Path, count: int) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [*BERTH, "up", f"par-{i}", "--json"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]


def test_eight_parallel_ups_get_distinct_slots_and_ports(
    make_repo: RepoFactory, port_base: int, tmp_path: Path
) -> None:
    # A barrier in pre_spawn: each hook waits until all eight bring-ups reached it. If one up waited
    # for another's whole bring-up, the barrier could never fill and the hooks would fail.
    arrived = tmp_path / "arrived"
    arrived.mkdir()
    barrier = (
        f'touch {arrived}/"$BERTH_SLUG"; '
        f"for i in $(seq 1200); do [ $(ls {arrived} | wc -l) -ge 8 ] && exit 0; sleep 0.05; done; exit 1"
    )
    repo = make_repo(host_toml(port_base, max_slots=8, pre_spawn=barrier))
    procs = start_ups(repo, 8)
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    failed = [out + err for code, out, err in results if code != 0]
    assert not failed, "\n".join(failed)
    sessions = [json.loads(out) for _, out, _ in results]
    assert sorted(s["slot"] for s in sessions) == list(range(1, 9))
    ports = [p for s in sessions for p in s["ports"].values()]
    assert len(ports) == len(set(ports)) == 16
    for i in range(8):
        subprocess.run([*BERTH, "down", f"par-{i}"], cwd=repo, check=True, capture_output=True)


def test_nine_ups_on_eight_slots_give_one_clean_slots_exhausted(
    make_repo: RepoFactory, port_base: int
) -> None:
    repo = make_repo(host_toml(port_base, max_slots=8, pre_spawn="sleep 1"))
    procs = start_ups(repo, 9)
    results = [(p.wait(timeout=120), p.stdout.read()) for p in procs]  # type: ignore[union-attr]
    failures = [json.loads(out)["error"] for code, out in results if code != 0]
    assert [f["code"] for f in failures] == ["SLOTS_EXHAUSTED"], "\n".join(f["message"] for f in failures)
    assert failures[0]["remedies"] == [
        {"action": "listSessions", "args": {}},
        {"action": "editConfig", "args": {"key": "max_slots"}},
    ]
    assert len(db_rows(repo, "sessions")) == 8
    assert len(registered_worktrees(repo)) == 9, "main + 8 sessions, none for the refused one"
    for i in range(9):
        subprocess.run([*BERTH, "down", f"par-{i}"], cwd=repo, capture_output=True)
    assert db_rows(repo, "sessions") == []


def test_second_up_of_a_busy_slug_is_refused(make_repo: RepoFactory, port_base: int, tmp_path: Path) -> None:
    flag = tmp_path / "hook-started"
    release = tmp_path / "release"
    hook = f"touch {flag}; while [ ! -e {release} ]; do sleep 0.05; done"
    repo = make_repo(host_toml(port_base, pre_spawn=hook))
    first = subprocess.Popen([*BERTH, "up", "busy", "--json"], cwd=repo, stdout=subprocess.PIPE, text=True)

    def in_hook() -> bool:
        if flag.exists():
            return True
        assert first.poll() is None, "the first up ended before reaching its hook"
        return False

    wait_until(in_hook, timeout=30, what="the first up to reach its hook")
    second = subprocess.run(
        [*BERTH, "up", "busy", "--json"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 1
    assert json.loads(second.stdout)["error"]["code"] == "SESSION_BUSY"
    release.touch()
    assert first.wait(timeout=60) == 0, "the first up completes normally"
    subprocess.run([*BERTH, "down", "busy"], cwd=repo, check=True, capture_output=True)
