"""Hostile and malformed input: each gets a precise error (or is dropped when unreadable), the
server never crashes and keeps answering."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.rpc.rawconn import RawConnection, start_stdio_server
from world import db_rows


@pytest.fixture
def raw(rpc_repo: Path) -> Iterator[RawConnection]:
    proc, conn = start_stdio_server(rpc_repo)
    yield conn
    proc.kill()
    proc.wait()


def still_serving(conn: RawConnection, msg_id: int = 999) -> None:
    conn.send({"jsonrpc": "2.0", "id": msg_id, "method": "berth/list", "params": {}})
    assert conn.response_to(msg_id)["result"] == {"sessions": []}


def error_of(conn: RawConnection, message: dict[str, Any]) -> dict[str, Any]:
    conn.send(message)
    response = conn.response_to(message.get("id"))
    assert "error" in response, response
    error: dict[str, Any] = response["error"]
    return error


def test_malformed_json_gets_a_parse_error(raw: RawConnection) -> None:
    raw.send_bytes(b"Content-Length: 12\r\n\r\n{not json!!}")
    assert raw.receive()["error"]["code"] == -32700
    still_serving(raw)


def test_wrong_content_length_is_survived(raw: RawConnection) -> None:
    body = b'{"jsonrpc": "2.0", "id": 5, "method": "berth/list", "params": {}}'
    raw.send_bytes(b"Content-Length: %d\r\n\r\n" % (len(body) - 10) + body)
    assert raw.receive()["error"]["code"] == -32700, "the truncated body is unreadable"
    still_serving(raw)


def test_huge_payload_is_refused(raw: RawConnection) -> None:
    size = 9 * 1024 * 1024
    raw.send_bytes(b"Content-Length: %d\r\n\r\n" % size + b" " * size)
    error = raw.receive()["error"]
    assert error["code"] == -32600 and "exceeds" in error["message"]
    still_serving(raw)


def test_deeply_nested_json(raw: RawConnection) -> None:
    depth = 100_000
    body = (
        b'{"jsonrpc":"2.0","id":7,"method":"berth/list","params":{"root":'
        + b"[" * depth
        + b"]" * depth
        + b"}}"
    )
    raw.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert raw.receive()["error"]["code"] in (-32700, -32600, -32602)
    still_serving(raw)


def test_batch_and_non_object_messages(raw: RawConnection) -> None:
    for body in (b"[1, 2]", b"42", b'"hello"'):
        raw.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert raw.receive()["error"]["code"] == -32600
    still_serving(raw)


def test_non_object_params_and_wrong_types(raw: RawConnection) -> None:
    error = error_of(raw, {"jsonrpc": "2.0", "id": 1, "method": "berth/up", "params": ["feat"]})
    assert error["code"] == -32602 and "must be a JSON object" in error["message"]
    error = error_of(
        raw,
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "berth/up",
            "params": {"branch": 42, "ports": {"web": "high"}, "bogus": True},
        },
    )
    assert error["code"] == -32602
    fields = {item["field"] for item in error["data"]}
    assert fields == {"branch", "ports.web", "bogus"}, error["data"]
    still_serving(raw)


def test_request_without_params_is_answered(raw: RawConnection) -> None:
    listed = raw.response_to(_send(raw, {"jsonrpc": "2.0", "id": 3, "method": "berth/list"}))
    assert listed["result"] == {"sessions": []}
    error = error_of(raw, {"jsonrpc": "2.0", "id": 4, "method": "berth/up"})
    assert error["code"] == -32602 and "branch" in error["message"]


def test_unknown_method(raw: RawConnection) -> None:
    assert (
        error_of(raw, {"jsonrpc": "2.0", "id": 8, "method": "berth/explode", "params": {}})["code"] == -32601
    )
    still_serving(raw)


def test_missing_jsonrpc_version(raw: RawConnection) -> None:
    assert error_of(raw, {"id": 9, "method": "berth/list", "params": {}})["code"] == -32600
    still_serving(raw)


@pytest.mark.parametrize("branch", ["../x", "$(rm -rf /)", "x" * 1000, "ünïcødé", "-rf", "a\u0000b", ""])
def test_hostile_branches(raw: RawConnection, rpc_repo: Path, branch: str) -> None:
    error = error_of(raw, {"jsonrpc": "2.0", "id": 10, "method": "berth/up", "params": {"branch": branch}})
    assert error["data"]["code"] == "INVALID_BRANCH" and error["data"]["hint"]
    assert db_rows(rpc_repo, "sessions") == []
    still_serving(raw)


def test_root_outside_workspace_or_not_a_repo(raw: RawConnection, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for root in (str(outside), "relative/path", "file:///does/not/exist", "/"):
        error = error_of(raw, {"jsonrpc": "2.0", "id": 11, "method": "berth/list", "params": {"root": root}})
        assert error["data"]["code"] == "ROOT_INVALID", (root, error)
    assert not (outside / ".berth").exists(), "nothing is written for a refused root"
    still_serving(raw)


def test_broken_config_is_a_precise_error(raw: RawConnection, rpc_repo: Path) -> None:
    (rpc_repo / "berth.toml").write_text('mode = "host"\nmax_slots = "many"\n')
    error = error_of(raw, {"jsonrpc": "2.0", "id": 12, "method": "berth/up", "params": {"branch": "feat"}})
    assert error["data"]["code"] == "CONFIG_INVALID" and "max_slots" in error["message"]
    still_serving(raw)


def _send(conn: RawConnection, message: dict[str, Any]) -> Any:
    conn.send(message)
    return message["id"]


def test_stdio_server_survives_garbage_then_exits_cleanly(rpc_repo: Path) -> None:
    garbage = b"\r\n\r\nnot a header\r\nContent-Length: abc\r\n\r\n" + b"\x00\xff" * 50
    proc = subprocess.run(
        [sys.executable, "-m", "berth", "serve"], input=garbage, capture_output=True, timeout=30
    )
    assert proc.returncode == 1, "EOF without shutdown/exit ends with status 1, not a crash"
    assert b"Traceback" not in proc.stderr
