"""The RPC frame reader (berth.frontends.rpc.transport.serve_frames) on an in-memory byte stream.

Every test feeds bytes into an asyncio.StreamReader, runs `serve_frames` with a fake protocol that
records what is dispatched to it, and checks both what was dispatched and which error frames were
written back. The end-to-end view of the same behaviour is in tests/e2e/rpc/."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from berth.frontends.rpc import transport
from berth.frontends.rpc.transport import (
    INVALID_REQUEST,
    MAX_HEADER_LINE,
    MAX_MESSAGE_BYTES,
    PARSE_ERROR,
    error_response,
    frame,
    serve_frames,
)

READER_LIMIT = 1 << 24  # what ThreadedStdin gives its StreamReader
DISCARD_CHUNK = 1 << 20  # the most an oversized message may be read at a time


class FakeProtocol:
    """What serve_frames needs of pygls's JsonRPCProtocol: an object_hook and handle_message."""

    def __init__(self, log: list[tuple[str, Any]], fail_with: Exception | None = None) -> None:
        self.log = log  # what was handled and sent, in order
        self._fail_with = fail_with
        self._shutdown = False
        self.handled: list[Any] = []

    def structure_message(self, data: dict[str, Any]) -> Any:
        return data

    def handle_message(self, message: Any) -> None:
        if self._fail_with is not None:
            raise self._fail_with
        self.handled.append(message)
        self.log.append(("handled", message))


class RecordingReader:
    """A StreamReader that records how many bytes each readexactly asked for."""

    def __init__(self, inner: asyncio.StreamReader) -> None:
        self._inner = inner
        self.exact_reads: list[int] = []

    async def readline(self) -> bytes:
        return await self._inner.readline()

    async def readexactly(self, n: int) -> bytes:
        self.exact_reads.append(n)
        return await self._inner.readexactly(n)


@dataclass
class Run:
    handled: list[Any]
    sent: list[dict[str, Any]]
    log: list[tuple[str, Any]] = field(default_factory=list)


def parse_frame(data: bytes) -> dict[str, Any]:
    """One send_raw call is exactly one well-formed frame."""
    match = re.fullmatch(rb"Content-Length: (\d+)\r\n\r\n(.*)", data, re.DOTALL)
    assert match, f"not a frame: {data[:200]!r}"
    assert int(match.group(1)) == len(match.group(2)), "the Content-Length is the body's length"
    payload: dict[str, Any] = json.loads(match.group(2))
    return payload


async def serve(
    data: bytes,
    *,
    eof: bool = True,
    should_stop: Callable[[], bool] | None = None,
    shutdown: bool = False,
    fail_with: Exception | None = None,
    reader: asyncio.StreamReader | None = None,
    wrap: Callable[[asyncio.StreamReader], Any] = lambda r: r,
    protocol: FakeProtocol | None = None,
) -> Run:
    """Feed `data` (then EOF), serve it to completion and return what was dispatched and sent."""
    protocol = protocol or FakeProtocol([], fail_with)
    protocol._shutdown = shutdown
    log = protocol.log
    sent: list[dict[str, Any]] = []

    def send_raw(raw: bytes) -> None:
        payload = parse_frame(raw)
        sent.append(payload)
        log.append(("sent", payload))

    stream = reader or asyncio.StreamReader(limit=READER_LIMIT)
    stream.feed_data(data)
    if eof:
        stream.feed_eof()
    await asyncio.wait_for(
        serve_frames(wrap(stream), protocol, send_raw, should_stop or (lambda: False)),  # type: ignore[arg-type]
        timeout=10,
    )
    return Run(protocol.handled, sent, log)


def msg(msg_id: Any = 1, method: str = "berth/list", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": {}}
    if msg_id is not None:
        payload["id"] = msg_id
    payload.update(extra)
    return payload


def framed(*payloads: dict[str, Any]) -> bytes:
    return b"".join(frame(p) for p in payloads)


def raw_frame(body: bytes, length: int | None = None) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def error(code: int, message_part: str, msg_id: Any = None) -> Callable[[dict[str, Any]], bool]:
    def check(response: dict[str, Any]) -> bool:
        return (
            response.get("jsonrpc") == "2.0"
            and response.get("id") == msg_id
            and response["error"]["code"] == code
            and message_part in response["error"]["message"]
        )

    return check


def assert_errors(sent: list[dict[str, Any]], *checks: Callable[[dict[str, Any]], bool]) -> None:
    assert len(sent) == len(checks), sent
    for response, check in zip(sent, checks, strict=True):
        assert check(response), response


# --- frame and error_response ---------------------------------------------------------------------


def test_frame_and_error_response_build_a_json_rpc_error_frame() -> None:
    body = b'{"jsonrpc":"2.0","id":3,"error":{"code":-32600,"message":"nope"}}'
    assert frame(error_response(3, INVALID_REQUEST, "nope")) == b"Content-Length: 65\r\n\r\n" + body
    assert len(body) == 65, "compact JSON, counted in bytes"


def test_frame_counts_bytes_not_characters() -> None:
    data = frame({"text": "é✓"})
    header, body = data.split(b"\r\n\r\n", 1)
    assert header == b"Content-Length: %d" % len(body) and len(body) > len('{"text":"é✓"}')


# --- well-formed input ----------------------------------------------------------------------------


async def test_well_formed_messages_are_dispatched_in_order_and_nothing_is_sent() -> None:
    messages = [msg(1), msg(None, "berth/ping"), {"jsonrpc": "2.0", "id": "s1", "result": {"ok": True}}]
    run = await serve(framed(*messages))
    assert run.handled == messages, "requests, notifications and responses to the server all go through"
    assert run.sent == []


async def test_headers_are_case_insensitive_and_other_headers_are_ignored() -> None:
    body = body_of(msg(5))
    data = (
        b"content-length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" % len(body)
        + body
        + b"Content-Type: application/vscode-jsonrpc\nCONTENT-LENGTH:%d\n\n" % len(body)
        + body
    )
    run = await serve(data)
    assert run.handled == [msg(5), msg(5)], "LF-only line ends and no space after the colon work too"
    assert run.sent == []


async def test_a_frame_arriving_one_byte_at_a_time_is_read_whole() -> None:
    data = framed(msg(1), msg(2))
    reader = asyncio.StreamReader(limit=READER_LIMIT)
    log: list[tuple[str, Any]] = []
    protocol = FakeProtocol(log)
    sent: list[bytes] = []
    task = asyncio.ensure_future(serve_frames(reader, protocol, sent.append, lambda: False))  # type: ignore[arg-type]
    for i in range(len(data)):
        reader.feed_data(data[i : i + 1])
        await asyncio.sleep(0)
    reader.feed_eof()
    await asyncio.wait_for(task, 10)
    assert protocol.handled == [msg(1), msg(2)]
    assert sent == []


# --- malformed headers: skipped, the next good frame is read ----------------------------------------


@pytest.mark.parametrize(
    "junk",
    [
        pytest.param(b"Content-Type: text/plain\r\n\r\n", id="header-block-without-content-length"),
        pytest.param(b"garbage\r\nnot: a header we know\r\n\x00\xff\xfe\r\n", id="garbage-lines"),
        pytest.param(b"Content-Length: twelve\r\n\r\n", id="non-numeric-length"),
        pytest.param(b"Content-Length: -5\r\n\r\n", id="negative-length"),
        pytest.param(b"\r\n\n\r\n\r\n", id="stray-blank-lines"),
        pytest.param(b"X-Padding: " + b"a" * MAX_HEADER_LINE + b"\r\n\r\n", id="header-line-over-the-limit"),
        pytest.param(
            b"a" * MAX_HEADER_LINE + b"Content-Length: 2\r\n\r\n{}",
            id="over-long-line-ending-in-content-length-is-not-believed",
        ),
    ],
)
async def test_malformed_headers_are_skipped_and_the_next_frame_is_read(junk: bytes) -> None:
    run = await serve(junk + framed(msg(7)))
    assert run.handled == [msg(7)]
    assert run.sent == [], "nothing in the junk was taken for a message"


async def test_the_last_content_length_of_a_header_block_wins() -> None:
    body = body_of(msg(8))
    run = await serve(b"Content-Length: 3\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert run.handled == [msg(8)]
    assert run.sent == []


# --- wrong Content-Length: one parse error, then resync on the next header ----------------------------


async def test_a_too_short_content_length_resyncs_on_the_next_header() -> None:
    first = body_of(msg(1))
    for shortfall in range(1, len(first) + 1):  # every cut, down to Content-Length: 0
        data = raw_frame(first, len(first) - shortfall) + framed(msg(2), msg(3))
        run = await serve(data)
        assert run.handled == [msg(2), msg(3)], f"shortfall {shortfall}"
        assert_errors(run.sent, error(PARSE_ERROR, "invalid JSON"))


async def test_a_too_long_content_length_swallows_what_it_covers_then_resyncs() -> None:
    """The over-long read takes in the start of the next frame (that message is lost), the rest of
    that frame is junk in front of the following header, and from there on messages go through."""
    first = body_of(msg(1))
    victim = frame(msg(2, params={"note": "swallowed"}))
    for excess in range(1, len(victim) + 1):  # every cut through the next frame, header and body
        data = raw_frame(first, len(first) + excess) + victim + framed(msg(3), msg(4))
        run = await serve(data)
        assert run.handled == [msg(3), msg(4)], f"excess {excess}"
        assert_errors(run.sent, error(PARSE_ERROR, "invalid JSON"))


async def test_a_content_length_past_the_end_of_the_stream_just_ends_it() -> None:
    run = await serve(framed(msg(1)) + raw_frame(body_of(msg(2)), 10_000))
    assert run.handled == [msg(1)]
    assert run.sent == []


# --- bodies that are not a usable message ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        pytest.param(b"{not json!!}", "invalid JSON", id="not-json"),
        pytest.param(b'{"jsonrpc":"2.0","id":1,"method":"x"', "invalid JSON", id="truncated"),
        pytest.param(b"", "invalid JSON", id="empty-body"),
        pytest.param(b"\xff\xfe\xfd", "invalid JSON", id="not-unicode"),
        pytest.param(b"[" * 100_000, "nested too deeply", id="nested-too-deeply"),
    ],
)
async def test_unparseable_body_gets_a_parse_error_and_the_loop_continues(
    body: bytes, message_part: str
) -> None:
    run = await serve(raw_frame(body) + framed(msg(2)))
    assert run.handled == [msg(2)]
    assert_errors(run.sent, error(PARSE_ERROR, message_part))
    assert run.log[0][0] == "sent", "the error is answered before the next message is read"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([msg(1), msg(2)], id="batch"),
        pytest.param([], id="empty-array"),
        pytest.param(42, id="number"),
        pytest.param("berth/list", id="string"),
        pytest.param(None, id="null"),
    ],
)
async def test_a_non_object_gets_invalid_request(payload: Any) -> None:
    run = await serve(raw_frame(json.dumps(payload).encode()) + framed(msg(3)))
    assert run.handled == [msg(3)], "nothing inside a batch is dispatched"
    assert_errors(run.sent, error(INVALID_REQUEST, "must be a JSON object (batches are not supported)"))


@pytest.mark.parametrize(
    ("payload", "answer_id"),
    [
        pytest.param({"id": 4, "method": "berth/list"}, 4, id="request-without-jsonrpc"),
        pytest.param({"jsonrpc": "1.0", "id": "a", "method": "berth/list"}, "a", id="request-wrong-version"),
        pytest.param({"jsonrpc": "2.0", "id": 5, "method": 17}, 5, id="method-not-a-string"),
        pytest.param({"jsonrpc": "1.0", "id": 6, "result": {}}, 6, id="response-wrong-version"),
        pytest.param({"jsonrpc": "2.0", "id": True, "method": 1}, None, id="boolean-id-not-echoed"),
        pytest.param({"jsonrpc": "2.0", "id": {"x": 1}, "method": 1}, None, id="object-id-not-echoed"),
    ],
)
async def test_a_bad_envelope_gets_invalid_request_with_a_safe_id(
    payload: dict[str, Any], answer_id: Any
) -> None:
    run = await serve(raw_frame(json.dumps(payload).encode()) + framed(msg(9)))
    assert run.handled == [msg(9)]
    assert_errors(run.sent, error(INVALID_REQUEST, 'expected "jsonrpc": "2.0"', answer_id))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"method": "berth/ping"}, id="notification-without-jsonrpc"),
        pytest.param({"jsonrpc": "2.0", "method": ["berth/ping"]}, id="notification-with-a-list-method"),
    ],
)
async def test_a_bad_notification_is_dropped_without_an_answer(payload: dict[str, Any]) -> None:
    run = await serve(raw_frame(json.dumps(payload).encode()) + framed(msg(9)))
    assert run.handled == [msg(9)]
    assert run.sent == [], "a notification is never answered"


async def test_a_request_the_protocol_cannot_handle_gets_invalid_request() -> None:
    run = await serve(framed(msg(11), msg(None, "berth/ping")), fail_with=RuntimeError("boom"))
    assert run.handled == []
    assert_errors(run.sent, error(INVALID_REQUEST, "could not handle the request: boom", 11))


# --- size limit -----------------------------------------------------------------------------------


async def test_an_oversized_message_is_refused_and_discarded_in_chunks() -> None:
    """The body is skipped by count, never buffered whole and never parsed: a frame hidden inside
    it is not dispatched, and the message after it is."""
    hidden = framed(msg(666, "berth/down"))
    size = MAX_MESSAGE_BYTES + 1
    body = b'{"jsonrpc":"2.0","id":1,"method":"berth/up","params":"' + hidden.replace(b'"', b"'")
    body += b"x" * (size - len(body) - 2) + b'"}'
    assert len(body) == size
    readers: list[RecordingReader] = []

    def wrap(stream: asyncio.StreamReader) -> RecordingReader:
        readers.append(RecordingReader(stream))
        return readers[0]

    run = await serve(raw_frame(body) + framed(msg(2)), wrap=wrap)
    assert run.handled == [msg(2)]
    assert_errors(
        run.sent,
        error(INVALID_REQUEST, f"message of {size} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit"),
    )
    assert [kind for kind, _ in run.log] == ["sent", "handled"]
    discard_reads = readers[0].exact_reads[:-1]  # the last read is msg(2)'s body
    assert sum(discard_reads) == size
    assert max(discard_reads) <= DISCARD_CHUNK < MAX_MESSAGE_BYTES


async def test_a_message_of_exactly_the_limit_is_accepted() -> None:
    head = b'{"jsonrpc":"2.0","id":1,"method":"berth/up","params":{"pad":"'
    body = head + b"x" * (MAX_MESSAGE_BYTES - len(head) - 3) + b'"}}'
    assert len(body) == MAX_MESSAGE_BYTES
    run = await serve(raw_frame(body))
    assert [m["id"] for m in run.handled] == [1]
    assert run.sent == []


async def test_the_limit_is_read_when_serving_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "MAX_MESSAGE_BYTES", 64)
    big = msg(1, params={"pad": "x" * 100})
    run = await serve(framed(big, msg(2)))
    assert run.handled == [msg(2)]
    assert_errors(run.sent, error(INVALID_REQUEST, "exceeds the 64-byte limit"))


# --- shutdown, EOF, should_stop -----------------------------------------------------------------------


async def test_after_shutdown_requests_are_refused_but_exit_is_dispatched() -> None:
    exit_notification = msg(None, "exit")
    run = await serve(
        framed(msg(1, "berth/list"), msg("again", "shutdown"), exit_notification), shutdown=True
    )
    assert run.handled == [exit_notification]
    assert_errors(
        run.sent,
        error(INVALID_REQUEST, "the server is shutting down; send exit", 1),
        error(INVALID_REQUEST, "the server is shutting down; send exit", "again"),
    )


async def test_after_shutdown_responses_to_the_servers_requests_still_go_through() -> None:
    response = {"jsonrpc": "2.0", "id": "s1", "result": None}
    run = await serve(framed(response), shutdown=True)
    assert run.handled == [response]
    assert run.sent == []


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(b"Content-Length: 50\r\n\r\n" + b'{"jsonrpc":', id="mid-body"),
        pytest.param(b"Content-Length: 50\r\n", id="mid-headers"),
        pytest.param(b"Content-Le", id="mid-header-line"),
        pytest.param(b"", id="between-frames"),
    ],
)
async def test_eof_ends_the_loop_cleanly(cut: bytes) -> None:
    run = await serve(framed(msg(1)) + cut)
    assert run.handled == [msg(1)], "what came before the cut was dispatched"
    assert run.sent == [], "a cut-off message is not answered"


async def test_should_stop_ends_the_loop_without_reading_further() -> None:
    protocol = FakeProtocol([])
    reader = asyncio.StreamReader(limit=READER_LIMIT)
    # no EOF: were should_stop not asked, the loop would wait for more input and the test time out
    run = await serve(
        framed(msg(1), msg(2)),
        eof=False,
        reader=reader,
        protocol=protocol,
        should_stop=lambda: bool(protocol.handled),
    )
    assert run.handled == [msg(1)]
    assert run.sent == []
    assert await reader.read(len(frame(msg(2)))) == frame(msg(2)), "the second frame was left unread"


async def test_should_stop_from_the_start_reads_nothing() -> None:
    reader = asyncio.StreamReader(limit=READER_LIMIT)
    run = await serve(framed(msg(1)), eof=False, reader=reader, should_stop=lambda: True)
    assert run.handled == [] and run.sent == []
    assert await reader.read(len(frame(msg(1)))) == frame(msg(1))
