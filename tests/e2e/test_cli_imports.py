"""The CLI's hot paths import nothing heavy: `berth --version`, `berth ls --json` and
`berth status --json` on a real host-mode session load none of the docker SDK, PyYAML, rich,
GitPython, pydantic, psutil, pygls/lsprotocol or the engine (sys.modules inspected at exit in a
subprocess; no wall-clock assertion)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import RepoFactory
from e2e.host_config import host_toml

Run = Callable[..., subprocess.CompletedProcess[str]]

HEAVY = (
    "docker",
    "yaml",
    "rich",
    "git",
    "pydantic",
    "pydantic_core",
    "psutil",
    "pygls",
    "lsprotocol",
    "berth.lifecycle.engine",
    "berth.domain.models",
    "berth.state.store",
)

# The `berth` console script's entry point, with the imported modules written out at exit (after
# argparse's SystemExit for --version too).
WRAPPER = """
import atexit, json, sys
out = sys.argv.pop(1)
sys.argv[0] = "berth"
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from berth.frontends.cli.main import main
sys.exit(main())
"""


def _modules(cwd: Path, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(out), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    return done, set(json.loads(out.read_text()))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_version_imports_nothing_heavy(tmp_path: Path) -> None:
    done, modules = _modules(tmp_path, tmp_path, "--version")
    assert done.returncode == 0
    assert done.stdout.startswith("berth ")
    assert _heavy(modules) == []
    assert "argparse" not in modules  # answered before the parser is built


def test_ls_and_status_json_import_nothing_heavy(
    make_repo: RepoFactory, port_base: int, run_berth: Run, tmp_path: Path
) -> None:
    repo = make_repo(host_toml(port_base))
    empty, modules = _modules(repo, tmp_path, "ls", "--json")  # no state file yet
    assert json.loads(empty.stdout) == {"sessions": []}
    assert _heavy(modules) == []
    up = run_berth("up", "feat/imports", "--json", cwd=repo)
    assert up.returncode == 0, up.stderr

    listed, modules = _modules(repo, tmp_path, "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert _heavy(modules) == []
    assert json.loads(listed.stdout) == json.loads(run_berth("ls", "--json", cwd=repo).stdout)
    assert [s["slug"] for s in json.loads(listed.stdout)["sessions"]] == ["feat-imports"]

    status, modules = _modules(repo, tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert _heavy(modules) == []
    services = json.loads(status.stdout)["sessions"][0]["services"]
    assert {s["state"] for s in services} == {"running"}
    assert all(s["port"] in s["actualPorts"] for s in services)

    # one session by name takes the engine's path (it also reports uncommitted changes)
    one = run_berth("status", "feat-imports", "--json", cwd=repo)
    assert one.returncode == 0
    assert json.loads(one.stdout)["sessions"][0]["uncommittedChanges"] == []
    assert run_berth("down", "feat-imports", "--json", cwd=repo).returncode == 0


def test_ls_json_outside_a_repository_is_the_same_error(tmp_path: Path) -> None:
    done, modules = _modules(tmp_path, tmp_path, "ls", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["code"] == "NOT_A_GIT_REPO"
    assert "rich" not in modules
