"""One short question to an installed tool (`git --version`, `docker info`, `compose version`)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence


def query(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> str | None:
    """The stripped stdout of `argv` when it exits 0 in time; None when the tool is missing, hangs
    or fails (a caller reports that in its own words)."""
    try:
        res = subprocess.run(
            list(argv),
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None
