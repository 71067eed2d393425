"""`berth serve`: the server over stdio (one client) or loopback TCP (many clients, token required)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInternalError

from berth.frontends.loopback import default_token_file, parse_loopback, write_token
from berth.frontends.rpc.app import BerthApp
from berth.frontends.rpc.connection import BerthServer
from berth.frontends.rpc.methods import build_server
from berth.frontends.rpc.transport import StdoutWriter, ThreadedStdin, serve_frames

logger = logging.getLogger(__name__)


class _AnsweredErrors(logging.Filter):
    """pygls logs every error response with a traceback; a Berth error already answered to the
    client (HOOK_FAILED, invalid params, ...) is expected, not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, JsonRpcException) or exc.code == JsonRpcInternalError.CODE


def serve(*, tcp: str | None, token_file: Path | None) -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("BERTH_LOG_LEVEL", "WARNING"),
        format="berth serve: %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_AnsweredErrors())
    if tcp is None:
        return asyncio.run(_serve_stdio())
    host, port = parse_loopback(tcp, flag="--tcp", example_port=8765)
    return asyncio.run(_serve_tcp(host, port, token_file))


# -- stdio ----------------------------------------------------------------------------------------
async def _serve_stdio() -> int:
    app = BerthApp()
    server = build_server(app)
    writer = StdoutWriter()
    server.protocol.set_writer(writer)
    reader = ThreadedStdin(asyncio.get_running_loop())
    code = await _run_connection(server, reader, writer.write)
    await app.watcher.stop()
    return code


async def _run_connection(server: BerthServer, reader: Any, send_raw: Any) -> int:
    """Serve one client until it sends exit (after in-flight work rolled back) or disconnects."""
    frames = asyncio.ensure_future(
        serve_frames(reader, server.protocol, send_raw, lambda: server.state.closing)
    )
    closed = asyncio.ensure_future(server.state.closed.wait())
    await asyncio.wait({frames, closed}, return_when=asyncio.FIRST_COMPLETED)
    if not closed.done():  # the client vanished: roll back its in-flight work like an exit would
        server.begin_exit(1)
        await closed
    frames.cancel()
    return server.state.exit_code if server.state.exit_code is not None else 1


# -- TCP ------------------------------------------------------------------------------------------
async def _serve_tcp(host: str, port: int, token_file: Path | None) -> int:
    path = token_file or default_token_file("serve.token")
    app = BerthApp(token=write_token(path))

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = build_server(app)
        server.protocol.set_writer(writer)

        def send_raw(data: bytes) -> None:
            if not writer.is_closing():
                writer.write(data)

        try:
            await _run_connection(server, reader, send_raw)
        finally:
            app.connections.discard(server)
            writer.close()

    listener = await asyncio.start_server(on_connect, host, port, limit=1 << 24)
    bound = listener.sockets[0].getsockname()
    print(f"berth serve: listening on {bound[0]}:{bound[1]}; token file {path}", file=sys.stderr, flush=True)
    async with listener:
        await listener.serve_forever()
    return 0
