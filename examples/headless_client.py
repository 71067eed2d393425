"""Drive a Berth session up -> status -> down over stdio with nothing but the standard library.

    python examples/headless_client.py /path/to/repo feat/branch [--berth .venv/bin/berth]

Prints progress, rollback and session notifications as they arrive, and exits non-zero on an error.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO


class Connection:
    """LSP base-protocol framing over a pair of byte streams."""

    def __init__(self, rfile: BinaryIO, wfile: BinaryIO) -> None:
        self.rfile, self.wfile = rfile, wfile
        self.ids = itertools.count(1)

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        self.wfile.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.wfile.flush()

    def receive(self) -> dict[str, Any]:
        length = None
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length is None:
            raise EOFError("the server closed the connection")
        message: dict[str, Any] = json.loads(self.rfile.read(length))
        return message

    def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        msg_id = next(self.ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        while True:
            message = self.receive()
            if message.get("id") == msg_id and "method" not in message:
                if "error" in message:
                    raise RuntimeError(json.dumps(message["error"], indent=2))
                return message.get("result")
            if "id" in message and "method" in message:  # a server->client request: accept it
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            show(message)

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})


def show(message: dict[str, Any]) -> None:
    method, params = message.get("method"), message.get("params") or {}
    if method == "$/progress":
        value = params["value"]
        text = value.get("title") or value.get("message") or ""
        print(f"  progress {value['kind']:<6} {value.get('percentage', ''):>4} {text}", flush=True)
    elif method == "berth/rollback":
        print(f"  rollback {params['state']:<8} {params['step']}", flush=True)
    elif method == "berth/sessionChanged":
        print(f"  session  {params['slug']} is {params['status']}", flush=True)
    elif method == "window/logMessage":
        print(f"  log      {params['message']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("repo", type=Path)
    parser.add_argument("branch")
    parser.add_argument("--berth", default="berth", help="the berth executable (default: on PATH)")
    args = parser.parse_args()
    root = str(args.repo.resolve())

    server = subprocess.Popen([args.berth, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdin is not None and server.stdout is not None
    conn = Connection(server.stdout, server.stdin)
    try:
        init = conn.request(
            "initialize", {"processId": None, "rootUri": Path(root).as_uri(), "capabilities": {}}
        )
        print("server:", init["serverInfo"], "berth protocol", init["capabilities"]["experimental"]["berth"])
        conn.notify("initialized", {})
        print(f"up {args.branch}")
        session = conn.request("berth/up", {"branch": args.branch, "workDoneToken": "up-1"})
        print(f"  -> {session['slug']} on slot {session['slot']}, ports {session['ports']}")
        status = conn.request("berth/status", {"slug": session["slug"]})
        for svc in status["sessions"][0]["services"]:
            print(f"  status {svc['name']}: {svc['state']} on port {svc['port']}")
        print(f"down {session['slug']}")
        receipt = conn.request("berth/down", {"slug": session["slug"], "workDoneToken": "down-1"})
        print("  removed:", ", ".join(f"{r['kind']} {r['name']}" for r in receipt["removed"]))
        conn.request("shutdown")
        conn.notify("exit")
        return server.wait(timeout=30)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if server.poll() is None:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
