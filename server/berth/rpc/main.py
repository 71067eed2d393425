"""`berth serve`: the server over stdio (one client) or loopback TCP (many clients, token required)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
import sys
import threading
from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInternalError

from berth.errors import BerthError, ErrorCode
from berth.rpc.framing import serve_frames
from berth.rpc.server import BerthApp, BerthServer, build_server

logger = logging.getLogger(__name__)


class _AnsweredErrors(logging.Filter):
    """pygls logs every error response with a traceback; a Berth error already answered to the
    client (HOOK_FAILED, invalid params, ...) is expected, not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, JsonRpcException) or exc.code == JsonRpcInternalError.CODE


def serve(*, root: Path | None, tcp: str | None, token_file: Path | None) -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("BERTH_LOG_LEVEL", "WARNING"),
        format="berth serve: %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_AnsweredErrors())
    del root  # the root comes from initialize (workspace folders) or each request's params
    if tcp is None:
        return asyncio.run(_serve_stdio())
    host, port = _parse_tcp(tcp)
    return asyncio.run(_serve_tcp(host, port, token_file))


# -- stdio ----------------------------------------------------------------------------------------
class _StdoutWriter:
    def __init__(self) -> None:
        self._out = sys.stdout.buffer

    def write(self, data: bytes) -> None:
        try:
            self._out.write(data)
            self._out.flush()
        except (BrokenPipeError, ValueError):
            pass  # the client went away; the reader sees EOF next

    def close(self) -> None:
        pass


class _ThreadedStdin:
    """Reads stdin on a daemon thread, so a blocked read never keeps the process alive at exit."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._reader = asyncio.StreamReader(limit=1 << 24)
        self._loop = loop
        threading.Thread(target=self._pump, name="berth-stdin", daemon=True).start()

    def _pump(self) -> None:
        fd = sys.stdin.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)  # raw fd: no buffered-object lock held at interpreter exit
            except OSError:
                chunk = b""
            if not chunk:
                self._loop.call_soon_threadsafe(self._reader.feed_eof)
                return
            self._loop.call_soon_threadsafe(self._reader.feed_data, chunk)

    def readline(self) -> Any:
        return self._reader.readline()

    def readexactly(self, n: int) -> Any:
        return self._reader.readexactly(n)


async def _serve_stdio() -> int:
    app = BerthApp()
    server = build_server(app)
    writer = _StdoutWriter()
    server.protocol.set_writer(writer)
    reader = _ThreadedStdin(asyncio.get_running_loop())
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
def _parse_tcp(spec: str) -> tuple[str, int]:
    host, sep, port_text = spec.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT, f"--tcp {spec!r} is not HOST:PORT", "e.g. --tcp 127.0.0.1:8765"
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
    return Path(base) / "berth" / "serve.token"


def _write_token(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


async def _serve_tcp(host: str, port: int, token_file: Path | None) -> int:
    path = token_file or default_token_file()
    app = BerthApp(token=_write_token(path))

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
