"""The rule both network listeners share (`berth serve --tcp`, `berth mcp --http`): loopback
addresses only, and a fresh bearer token in a file only the user can read."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from berth.domain.errors import BerthError, ErrorCode


def parse_loopback(spec: str, *, flag: str, example_port: int) -> tuple[str, int]:
    """`HOST:PORT` (host defaulting to 127.0.0.1) of a loopback address, else INVALID_ARGUMENT."""
    host, sep, port_text = spec.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            f"{flag} {spec!r} is not HOST:PORT",
            f"e.g. {flag} 127.0.0.1:{example_port}",
        )
    host = host.strip("[]") or "127.0.0.1"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            f"refusing to listen on {host}: only loopback is allowed",
            "use 127.0.0.1 or ::1",
        )
    return host, int(port_text)


def default_token_file(name: str) -> Path:
    """Where a listener writes its token unless told: the user's runtime directory."""
    base = os.environ.get("XDG_RUNTIME_DIR") or str(Path.home() / ".cache")
    return Path(base) / "berth" / name


def write_token(path: Path) -> str:
    """A fresh token, written to `path` with mode 0600 (its directory 0700); returned."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token
