"""`berth mcp`: the MCP server over stdio (what agents launch), or streamable HTTP on loopback with
a bearer token (the rule of `berth serve --tcp`: a fresh token in a file only the user can read)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

import anyio

from berth.domain.errors import BerthError, ErrorCode
from berth.frontends.mcp.bridge import EngineBridge
from berth.frontends.mcp.server import build_server

HTTP_PATH = "/mcp"


def serve(*, http: str | None, token_file: Path | None) -> int:
    # before the SDK configures logging: everything goes to stderr, stdout carries only protocol
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("BERTH_LOG_LEVEL", "WARNING"),
        format="berth mcp: %(levelname)s %(name)s: %(message)s",
    )
    bridge = EngineBridge()
    app = build_server(bridge)
    try:
        if http is None:
            app.run()
        else:
            host, port = parse_loopback(http)
            anyio.run(_serve_http, app, host, port, token_file or default_token_file())
    finally:
        bridge.close()
    return 0


def parse_loopback(spec: str) -> tuple[str, int]:
    host, sep, port_text = spec.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT, f"--http {spec!r} is not HOST:PORT", "e.g. --http 127.0.0.1:8766"
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


def default_token_file() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or str(Path.home() / ".cache")
    return Path(base) / "berth" / "mcp.token"


def write_token(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


class BearerToken:
    """ASGI middleware: every request needs `Authorization: Bearer <token>`, else 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "AUTH_FAILED: send Authorization: Bearer <the token in the token file>"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


async def _serve_http(app: Any, host: str, port: int, token_file: Path) -> None:
    import uvicorn

    token = write_token(token_file)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()
    starlette = app.streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    config = uvicorn.Config(BearerToken(starlette, token), log_level="warning", lifespan="on")
    print(
        f"berth mcp: listening on http://{bound[0]}:{bound[1]}{HTTP_PATH}; token file {token_file}",
        file=sys.stderr,
        flush=True,
    )
    await uvicorn.Server(config).serve(sockets=[sock])
