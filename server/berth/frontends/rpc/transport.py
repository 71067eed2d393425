"""The LSP base protocol on a byte stream: stdio as an asyncio reader and a writer, and reading
frames defensively.

pygls's reader drops a message it cannot parse without answering and trusts every header. This loop
answers what it can (parse error, invalid request, oversized message) with a JSON-RPC error, resyncs
on the next `Content-Length` header, and never lets one bad message stop the connection."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pygls.protocol import JsonRPCProtocol

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MAX_HEADER_LINE = 8 * 1024
# searched, not anchored: after a too-short Content-Length the next header line starts with leftovers
_CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)\s*$", re.IGNORECASE)
PARSE_ERROR = -32700
INVALID_REQUEST = -32600


class AsyncByteReader(Protocol):
    def readline(self) -> Awaitable[bytes]: ...
    def readexactly(self, n: int) -> Awaitable[bytes]: ...


def frame(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def error_response(msg_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


async def serve_frames(
    reader: AsyncByteReader,
    protocol: JsonRPCProtocol,
    send_raw: Callable[[bytes], None],
    should_stop: Callable[[], bool],
) -> None:
    """Feed every readable message to `protocol` until EOF or `should_stop()`."""
    while not should_stop():
        length = await _read_headers(reader)
        if length is None:
            return
        if length > MAX_MESSAGE_BYTES:
            await _discard(reader, length)
            send_raw(
                frame(
                    error_response(
                        None,
                        INVALID_REQUEST,
                        f"message of {length} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit",
                    )
                )
            )
            continue
        body = await _read_exactly(reader, length)
        if body is None:
            return
        _dispatch(body, protocol, send_raw)


async def _read_headers(reader: AsyncByteReader) -> int | None:
    length: int | None = None
    while True:
        line = await reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is not None:
                return length
            continue  # a stray blank line, or junk after a bad frame: keep looking for a header
        if len(line) > MAX_HEADER_LINE:
            continue
        match = _CONTENT_LENGTH.search(line.strip())
        if match:
            length = int(match.group(1))


async def _read_exactly(reader: AsyncByteReader, n: int) -> bytes | None:
    try:
        data = await reader.readexactly(n)
    except Exception:  # EOF in the middle of a body (IncompleteReadError) ends the connection
        return None
    return data if len(data) == n else None


async def _discard(reader: AsyncByteReader, n: int) -> None:
    chunk = 1 << 20
    while n > 0:
        part = await _read_exactly(reader, min(chunk, n))
        if part is None:
            return
        n -= len(part)


def _dispatch(body: bytes, protocol: JsonRPCProtocol, send_raw: Callable[[bytes], None]) -> None:
    try:
        raw = json.loads(body)
    except RecursionError:
        send_raw(frame(error_response(None, PARSE_ERROR, "message is nested too deeply to parse")))
        return
    except (ValueError, UnicodeDecodeError) as exc:
        send_raw(frame(error_response(None, PARSE_ERROR, f"invalid JSON: {exc}")))
        return
    if not isinstance(raw, dict):
        send_raw(
            frame(
                error_response(
                    None, INVALID_REQUEST, "a message must be a JSON object (batches are not supported)"
                )
            )
        )
        return
    msg_id = raw.get("id")
    is_request = "method" in raw and "id" in raw
    if raw.get("jsonrpc") != "2.0" or ("method" in raw and not isinstance(raw["method"], str)):
        if is_request or "method" not in raw:
            send_raw(
                frame(
                    error_response(
                        _safe_id(msg_id), INVALID_REQUEST, 'expected "jsonrpc": "2.0" and a string "method"'
                    )
                )
            )
        return
    if is_request and getattr(protocol, "_shutdown", False) and raw["method"] != "exit":
        send_raw(
            frame(error_response(_safe_id(msg_id), INVALID_REQUEST, "the server is shutting down; send exit"))
        )
        return
    try:
        message = json.loads(body, object_hook=protocol.structure_message)
        protocol.handle_message(message)
    except Exception as exc:
        logger.exception("could not handle a message")
        if is_request:
            send_raw(
                frame(
                    error_response(_safe_id(msg_id), INVALID_REQUEST, f"could not handle the request: {exc}")
                )
            )


def _safe_id(msg_id: Any) -> Any:
    return msg_id if isinstance(msg_id, (str, int)) and not isinstance(msg_id, bool) else None


class StdoutWriter:
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


class ThreadedStdin:
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
