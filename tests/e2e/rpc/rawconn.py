"""A byte-level JSON-RPC connection for feeding a server hostile input."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SERVE = [sys.executable, "-m", "berth", "serve"]


class RawConnection:
    def __init__(self, read_fd: int, write: Any) -> None:
        self.read_fd = read_fd
        self.write = write
        self.buffer = b""

    def send_bytes(self, data: bytes) -> None:
        self.write(data)

    def send(self, message: Any) -> None:
        body = json.dumps(message).encode()
        self.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no message from the server")
        ready, _, _ = select.select([self.read_fd], [], [], remaining)
        if not ready:
            raise TimeoutError("no message from the server")
        chunk = os.read(self.read_fd, 65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk

    def receive(self, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            self._fill(deadline)
        header, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        while len(rest) < length:
            self._fill(deadline)
            header, _, rest = self.buffer.partition(b"\r\n\r\n")
        self.buffer = rest[length:]
        message: dict[str, Any] = json.loads(rest[:length])
        return message

    def response_to(
        self, msg_id: Any, timeout: float = 15, notifications: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The response with `msg_id`, answering server requests; notifications received meanwhile
        are appended to `notifications` when given."""
        while True:
            message = self.receive(timeout)
            if "method" in message:
                if "id" in message:
                    self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                elif notifications is not None:
                    notifications.append(message)
                continue
            if message.get("id") == msg_id:
                return message


def start_stdio_server(
    repo: Path, *args: str, stderr: int = subprocess.DEVNULL
) -> tuple[subprocess.Popen[bytes], RawConnection]:
    """`berth serve [args]` over pipes, initialized with `repo` as its root."""
    proc = subprocess.Popen([*SERVE, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def write(data: bytes) -> None:
        stdin.write(data)
        stdin.flush()

    conn = RawConnection(proc.stdout.fileno(), write)
    params = {"processId": None, "rootUri": repo.as_uri(), "capabilities": {}}
    conn.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
    assert "result" in conn.response_to(0)
    conn.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    return proc, conn
