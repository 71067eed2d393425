"""The standard-library headless client in examples/ drives up -> status -> down for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, RepoFactory
from e2e.host_config import host_toml
from world import assert_nothing_left


def test_headless_client_example(make_repo: RepoFactory, port_base: int) -> None:
    repo = make_repo(host_toml(port_base))
    berth = Path(sys.executable).with_name("berth")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "examples" / "headless_client.py"),
            str(repo),
            "feat/headless",
            "--berth",
            str(berth),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "progress begin" in out and "progress end" in out
    assert f"ports {{'web': {port_base + 1}, 'api': {port_base + 51}}}" in out
    assert "status web: running" in out
    assert "session  feat-headless is active" in out
    assert "removed: process web" in out
    assert_nothing_left(repo, "feat-headless")
