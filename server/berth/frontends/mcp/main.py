"""`berth mcp`: the MCP server over stdio (what agents launch), or streamable HTTP on loopback with
a bearer token (the rule of `berth serve --tcp`: a fresh token in a file only the user can read)."""

from __future__ import annotations

import hmac
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import anyio

from berth.frontends.loopback import default_token_file, parse_loopback, write_token
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
            host, port = parse_loopback(http, flag="--http", example_port=8766)
            anyio.run(_serve_http, app, host, port, token_file or default_token_file("mcp.token"))
    finally:
        bridge.close()
    return 0


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
    sock.listen(128)  # before saying so: a client that connects at once waits in the backlog
    bound = sock.getsockname()
    starlette = app.streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    config = uvicorn.Config(BearerToken(starlette, token), log_level="warning", lifespan="on")
    print(
        f"berth mcp: listening on http://{bound[0]}:{bound[1]}{HTTP_PATH}; token file {token_file}",
        file=sys.stderr,
        flush=True,
    )
    await uvicorn.Server(config).serve(sockets=[sock])
