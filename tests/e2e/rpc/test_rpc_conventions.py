"""Conventions clients rely on: `serve --stdio`, the server's own branch rules, remedies as data,
and an internal error whose traceback reaches the server log and the client."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from e2e.rpc.rawconn import RawConnection, start_stdio_server


def _exit(proc: subprocess.Popen[bytes], conn: RawConnection) -> None:
    conn.send({"jsonrpc": "2.0", "id": 99, "method": "shutdown"})
    conn.response_to(99)
    conn.send({"jsonrpc": "2.0", "method": "exit"})
    assert proc.wait(timeout=30) == 0


def test_serve_accepts_stdio_flag(rpc_repo: Path) -> None:
    """vscode-languageclient's stdio transport appends --stdio, like pyright and others accept."""
    proc, conn = start_stdio_server(rpc_repo, "--stdio")
    conn.send({"jsonrpc": "2.0", "id": 1, "method": "berth/list", "params": {}})
    assert conn.response_to(1)["result"] == {"sessions": []}
    _exit(proc, conn)


def test_check_branch_applies_the_server_rules(rpc_repo: Path) -> None:
    proc, conn = start_stdio_server(rpc_repo)
    answers = {}
    for msg_id, branch in enumerate(["feat/Login-Page", "a", "feat/Ünïcode", "-x"], start=1):
        conn.send(
            {"jsonrpc": "2.0", "id": msg_id, "method": "berth/checkBranch", "params": {"branch": branch}}
        )
        answers[branch] = conn.response_to(msg_id)["result"]
    _exit(proc, conn)
    assert answers["feat/Login-Page"] == {
        "branch": "feat/Login-Page",
        "valid": True,
        "slug": "feat-login-page",
    }
    assert not answers["a"]["valid"] and "2-62 characters" in answers["a"]["problem"]
    assert not answers["feat/Ünïcode"]["valid"] and "non-ASCII" in answers["feat/Ünïcode"]["problem"]
    assert not answers["-x"]["valid"] and "starts with '-'" in answers["-x"]["problem"]


def test_errors_carry_remedies_a_client_can_act_on(rpc_repo: Path) -> None:
    (rpc_repo / ".berth" / "worktrees" / "feat-x").mkdir(parents=True)
    proc, conn = start_stdio_server(rpc_repo)
    conn.send({"jsonrpc": "2.0", "id": 1, "method": "berth/up", "params": {"branch": "feat/x"}})
    error = conn.response_to(1, timeout=60)["error"]
    _exit(proc, conn)
    assert error["data"]["code"] == "WORKTREE_EXISTS"
    assert error["data"]["remedies"] == [{"action": "reuseWorktree", "args": {"branch": "feat/x"}}]
    assert "--" not in error["data"]["hint"], "hints are written for every client, not in CLI flags"


def test_internal_error_traceback_reaches_stderr_and_the_client(rpc_repo: Path, tmp_path: Path) -> None:
    """An unexpected exception (here: the log directory is a file, so a service cannot get a log)
    is answered as INTERNAL, and its traceback is in the server log and in window/logMessage."""
    (rpc_repo / ".berth").mkdir(exist_ok=True)
    (rpc_repo / ".berth" / "logs").write_text("not a directory\n")
    stderr_path = tmp_path / "serve.stderr"
    with open(stderr_path, "wb") as stderr:
        proc, conn = start_stdio_server(rpc_repo, stderr=stderr.fileno())
        notes: list[dict[str, Any]] = []
        conn.send({"jsonrpc": "2.0", "id": 1, "method": "berth/up", "params": {"branch": "feat/boom"}})
        error = conn.response_to(1, timeout=60, notifications=notes)["error"]
        conn.send({"jsonrpc": "2.0", "id": 2, "method": "berth/list", "params": {}})
        assert conn.response_to(2)["result"] == {"sessions": []}, "the server keeps serving, rolled back"
        _exit(proc, conn)
    assert error["code"] == 1099 and error["data"]["code"] == "INTERNAL"
    assert "NotADirectoryError" in error["message"] or "FileExistsError" in error["message"]
    logged = [
        n["params"]["message"]
        for n in notes
        if n["method"] == "window/logMessage" and n["params"]["type"] == 1
    ]
    assert any("Traceback (most recent call last)" in m and "berth/up" in m for m in logged), logged
    log = stderr_path.read_text()
    assert "berth/up failed with an internal error" in log and "Traceback (most recent call last)" in log
    assert not (rpc_repo / ".berth" / "worktrees" / "feat-boom").exists(), "the bring-up was rolled back"
