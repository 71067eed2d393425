"""`initialize` is answered before pydantic, the wire models, the engine or the docker SDK load:
`berth serve` runs under `-X importtime`, so its stderr lists every module it imported, in order.
A server that is only initialized and shut down imports none of them; the first request then does
(no wall-clock assertion)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from e2e.rpc.rawconn import RawConnection

HEAVY_BEFORE_REQUESTS = (
    "pydantic",
    "pydantic_core",
    "docker",
    "yaml",
    "rich",
    "berth.frontends.rpc.protocol",
    "berth.frontends.rpc.handlers",
    "berth.domain.models",
    "berth.domain.config",
    "berth.lifecycle.engine",
    "berth.state.store",
)


def _imported(stderr: str) -> list[str]:
    """Module names from `-X importtime` lines (`import time: self | cumulative | name`)."""
    return [
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line and not line.endswith("| imported package")
    ]


def _serve(repo: Path) -> tuple[subprocess.Popen[bytes], RawConnection]:
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "berth", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=repo,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def write(data: bytes) -> None:
        stdin.write(data)
        stdin.flush()

    return proc, RawConnection(proc.stdout.fileno(), write)


def _heavy(modules: list[str]) -> list[str]:
    return sorted({m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY_BEFORE_REQUESTS)})


def _finish(proc: subprocess.Popen[bytes], conn: RawConnection) -> str:
    conn.send({"jsonrpc": "2.0", "id": 99, "method": "shutdown"})
    assert "error" not in conn.response_to(99)
    conn.send({"jsonrpc": "2.0", "method": "exit"})
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return stderr.decode()


def test_initialize_is_answered_before_pydantic_and_the_engine_load(rpc_repo: Path) -> None:
    proc, conn = _serve(rpc_repo)
    conn.send(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"processId": None, "rootUri": rpc_repo.as_uri(), "capabilities": {}},
        }
    )
    answer = conn.response_to(0)
    berth = answer["result"]["capabilities"]["experimental"]["berth"]
    assert "berth/up" in berth["methods"] and "berth/sessionChanged" in berth["notifications"]
    modules = _imported(_finish(proc, conn))  # no `initialized`: the warm-up never starts
    assert "pygls.lsp.server" in modules
    assert _heavy(modules) == []


def test_the_first_request_loads_what_it_needs(rpc_repo: Path) -> None:
    proc, conn = _serve(rpc_repo)
    params = {"processId": None, "rootUri": rpc_repo.as_uri(), "capabilities": {}}
    conn.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
    assert "result" in conn.response_to(0)
    conn.send({"jsonrpc": "2.0", "id": 1, "method": "berth/list", "params": {}})
    assert conn.response_to(1)["result"] == {"sessions": []}
    conn.send({"jsonrpc": "2.0", "id": 2, "method": "berth/status", "params": {"slug": 7}})
    invalid = conn.response_to(2)["error"]  # validated by the params model loaded on first use
    assert invalid["code"] == -32602 and "slug" in invalid["message"]
    modules = _imported(_finish(proc, conn))
    assert {"pydantic", "berth.frontends.rpc.protocol", "berth.lifecycle.engine"} <= set(modules)
