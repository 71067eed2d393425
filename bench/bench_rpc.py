"""JSON-RPC latency of `berth serve`: `berth/list` and `berth/status` round trips with 1, 10 and 100
sessions, and the time from spawning the server to its `initialize` answer.

For each session count the benchmark builds a throw-away git repository with a berth.toml (host mode,
one service `web`), starts that many real listener processes (each the leader of its own process
group and listening on its own loopback port, the shape of a `berth up` service) and writes one ACTIVE
session per listener straight into the state store, so `berth/status` does its full live probing
(psutil) for every session without the cost of bringing sessions up. A fresh `berth serve` per count
is driven over stdio by a standard-library client (no pygls on the client side, so the figures are the
server's cost plus framing): `--warmup` unmeasured round trips, then `--requests` sequential round
trips of each method, the two methods alternating so they share the machine's noise.

Start-up: per session count, `--spawns` rounds (after one unmeasured round) each of which spawns a fresh
server and times it to the `initialize` answer, and runs `python -c pass`, `python -c "import
berth.frontends.rpc.server"` and `python -c "import berth.frontends.cli.main"` (the raw interpreter and import cost), in an
order that rotates each round so the server and its baselines share the machine's noise.

Usage: .venv/bin/python bench/bench_rpc.py [--requests N] [--warmup N] [--spawns N] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from common import (
    REPO_ROOT,
    ensure_importable,
    init_repo,
    interrupt_on,
    machine_basics,
    percentile,
    progress,
    reap,
    render_table,
    report_or_interrupted,
    source_revision,
    time_command,
)

VENV_BERTH = REPO_ROOT / ".venv" / "bin" / "berth"

SESSION_COUNTS = (1, 10, 100)
METHODS = ("berth/list", "berth/status")
# The import baselines leave with os._exit(0): spawn→initialize-answer does not include interpreter
# teardown either, and after lsprotocol's import that teardown alone takes ~100 ms.
BASELINES: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    'python -c "import berth.frontends.rpc.server"': [
        "-c",
        "import os, berth.frontends.rpc.handlers; os._exit(0)",
    ],
    'python -c "import berth.frontends.cli.main"': ["-c", "import os, berth.frontends.cli.main; os._exit(0)"],
    'python -c "import pygls.lsp.server"': ["-c", "import os, pygls.lsp.server; os._exit(0)"],
}
SHORT_LABELS = {
    "python -c pass": "pass",
    'python -c "import berth.frontends.rpc.server"': "import rpc.server",
    'python -c "import berth.frontends.cli.main"': "import cli",
    'python -c "import pygls.lsp.server"': "import pygls",
}
PYGLS_BASELINE = 'python -c "import pygls.lsp.server"'
RAW_BASELINE = 'python -c "import berth.frontends.rpc.server"'
BARE_BASELINE = "python -c pass"
SERVE = "berth serve → initialize answer"

BERTH_TOML = """\
mode = "host"
max_slots = 64

[[services]]
name = "web"
base_port = 20000
command = "exec python3 -m http.server $PORT --bind 127.0.0.1"
"""

# One process per session: fork, become a process-group leader (as Berth's services are), listen on an
# ephemeral loopback port, report it, sleep. The farm kills every group when its stdin reaches EOF, so
# the listeners go away even if the benchmark itself is killed.
FARM_SCRIPT = r"""
import json, os, signal, socket, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
children = []
def kill_all():
    for pid in children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
signal.signal(signal.SIGTERM, lambda *_: (kill_all(), os._exit(0)))
found = []
try:
    for _ in range(int(sys.argv[1])):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.setsid()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1):
                    os.dup2(null, fd)
                sock = socket.socket()
                sock.bind(("127.0.0.1", 0))
                sock.listen()
                os.write(w, b"%d\n" % sock.getsockname()[1])
                os.close(w)
            except BaseException:
                os._exit(1)
            while True:
                signal.pause()
        children.append(pid)
        os.close(w)
        with os.fdopen(r, "rb") as pipe:
            line = pipe.readline()
        if not line:
            raise RuntimeError("a listener failed to start")
        found.append([pid, int(line)])
    sys.stdout.write(json.dumps(found) + "\n")
    sys.stdout.flush()
    sys.stdin.read()
finally:
    kill_all()
"""

SERVER_TIMEOUT = 60.0


# -- statistics -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """p50, p95 and max of durations, in milliseconds."""

    n: int
    p50: float
    p95: float
    max: float
    min: float = math.nan

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        ms = [s * 1000.0 for s in seconds]
        return cls(
            len(ms),
            percentile(ms, 50),
            percentile(ms, 95),
            max(ms) if ms else math.nan,
            min(ms) if ms else math.nan,
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "p50_ms": round(self.p50, 3),
            "p95_ms": round(self.p95, 3),
            "max_ms": round(self.max, 3),
            "min_ms": round(self.min, 3),
        }


# -- a standard-library JSON-RPC client (LSP base protocol) -----------------------------------------
# Not examples/headless_client.py's Connection, although the framing is the same: the benchmark needs
# the size of each answer (`last_size`, the "answer bytes" column), which that class's receive() does
# not keep, and it must skip notifications silently, where that class's request() prints progress,
# rollback, session and log notifications to stdout (inside the timed round trips, and into the
# --json output). Subclassing it would mean overriding both methods, i.e. all of it but send() and
# notify().
class RpcError(RuntimeError):
    pass


class Connection:
    """Content-Length framing over the server's stdin/stdout."""

    def __init__(self, rfile: IO[bytes], wfile: IO[bytes]) -> None:
        self.rfile, self.wfile = rfile, wfile
        self.ids = itertools.count(1)
        self.last_size = 0

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
        body = self.rfile.read(length)
        self.last_size = len(body)
        message: dict[str, Any] = json.loads(body)
        return message

    def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        msg_id = next(self.ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        while True:
            message = self.receive()
            if message.get("id") == msg_id and "method" not in message:
                if "error" in message:
                    raise RpcError(f"{method}: {json.dumps(message['error'])}")
                return message.get("result")
            if "id" in message and "method" in message:  # a server->client request: accept it
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            # notifications (berth/sessionChanged, window/logMessage, ...) are skipped

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})


class Server:
    """One `berth serve` over stdio; stderr goes to a log file so a full pipe never blocks it."""

    def __init__(self, repo: Path, log_path: Path) -> None:
        self.repo = repo
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(VENV_BERTH), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=repo,
            start_new_session=True,  # Ctrl-C reaches only the benchmark, which shuts servers down
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.conn = Connection(self.proc.stdout, self.proc.stdin)

    def initialize(self) -> float:
        """Send initialize + initialized; seconds from spawn to the initialize answer."""
        params = {"processId": os.getpid(), "rootUri": self.repo.as_uri(), "capabilities": {}}
        result = self.conn.request("initialize", params)
        answered = time.perf_counter()
        if "berth" not in (result.get("capabilities", {}).get("experimental") or {}):
            raise RpcError(f"unexpected initialize answer: {result}")
        self.conn.notify("initialized", {})
        return answered - self.spawned

    def shutdown(self) -> None:
        with contextlib.suppress(OSError, EOFError, RpcError, ValueError):
            self.conn.request("shutdown")
            self.conn.notify("exit")
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            reap(self.proc, grace=10.0)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()
        self._log.close()

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return ""


# -- fixtures ---------------------------------------------------------------------------------------
class ListenerFarm:
    """`count` listener processes, each its own process-group leader; gone when close() runs."""

    def __init__(self, count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FARM_SCRIPT, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        try:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the listener farm failed to start {count} listeners")
        except BaseException:
            self.close()
            raise
        self.listeners: list[tuple[int, int]] = [(pid, port) for pid, port in json.loads(line)]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # EOF: the farm kills its listeners and exits
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def make_repo(repo: Path, listeners: Sequence[tuple[int, int]]) -> None:
    """A git repository with a berth.toml and one ACTIVE host session per listener in its state store."""
    import psutil

    from berth.adapters.processes import OsProcesses
    from berth.domain.config import parse_config
    from berth.domain.models import SessionStatus
    from berth.domain.records import OperationKind, ProcessRecord, SessionRecord
    from berth.domain.undo import UndoStep
    from berth.modes import undo
    from berth.state.store import SessionStore

    parse_config(BERTH_TOML)  # fail early if the fixture's config stopped being valid
    init_repo(repo, {"berth.toml": BERTH_TOML, ".gitignore": ".berth/\n"})

    store = SessionStore(repo / ".berth" / "state.db", OsProcesses())
    try:
        for index, (pid, port) in enumerate(listeners):
            slug = f"bench-{index:03d}"
            worktree = repo / ".berth" / "worktrees" / slug
            log_path = repo / ".berth" / "logs" / slug / "web.log"
            process = ProcessRecord(
                service="web",
                pid=pid,
                start_time=psutil.Process(pid).create_time(),
                log_path=str(log_path),
                marker=f"bench-{slug}-web",
            )

            def new_session(slot: int, slug: str = slug, worktree: Path = worktree) -> SessionRecord:
                return SessionRecord(
                    slug=slug,
                    branch=slug,
                    mode="host",
                    slot=slot,
                    status=SessionStatus.PENDING,
                    worktree_path=str(worktree),
                    worktree_owned=True,
                    env_file=str(worktree / ".env.berth"),
                )

            def undo_for(previous: SessionRecord | None, op_id: str, slug: str = slug) -> UndoStep:
                return undo.forget_session(slug, op_id)

            reservation = store.reserve(
                slug=slug,
                branch=slug,
                kind=OperationKind.UP,
                max_slots=max(len(listeners), 1),
                new_session=new_session,
                undo_for=undo_for,
            )
            session = reservation.session.model_copy(
                update={"status": SessionStatus.ACTIVE, "ports": {"web": port}, "processes": {"web": process}}
            )
            if not store.commit_session(session, reservation.operation.op_id):
                raise RuntimeError(f"could not commit fixture session {slug}")
    finally:
        store.close()


# -- measurements -----------------------------------------------------------------------------------
@dataclass
class RoundTrips:
    stats: Stats
    response_bytes: int


def measure_round_trips(server: Server, requests: int, warmup: int, count: int) -> dict[str, RoundTrips]:
    conn = server.conn
    for method in METHODS:  # check the fixture is what we think before timing anything
        sessions = conn.request(method, {})["sessions"]
        if len(sessions) != count:
            raise RuntimeError(f"{method} returned {len(sessions)} sessions, expected {count}")
        states = {svc["state"] for s in sessions for svc in s["services"]}
        if states != {"running"}:
            raise RuntimeError(f"{method}: fixture services are {sorted(states)}, expected running")
    for _ in range(warmup):
        for method in METHODS:
            conn.request(method, {})
    samples: dict[str, list[float]] = {m: [] for m in METHODS}
    sizes: dict[str, int] = {}
    for _ in range(requests):
        for method in METHODS:
            started = time.perf_counter()
            conn.request(method, {})
            samples[method].append(time.perf_counter() - started)
            sizes[method] = conn.last_size
    return {m: RoundTrips(Stats.of(samples[m]), sizes[m]) for m in METHODS}


def spawn_to_initialize(repo: Path, log_path: Path, servers: list[Server]) -> float:
    """Seconds from spawning a fresh server to its initialize answer; the server is shut down after."""
    server = Server(repo, log_path)
    servers.append(server)
    try:
        elapsed = server.initialize()
    except (EOFError, OSError) as exc:
        raise RuntimeError(f"berth serve failed to initialize: {exc}\n{server.log_tail()}") from exc
    server.shutdown()
    servers.remove(server)
    return elapsed


def measure_startup(repo: Path, rounds: int, log_path: Path, servers: list[Server]) -> dict[str, list[float]]:
    """`rounds` rounds (after one unmeasured round) of every baseline command and one fresh server,
    in an order that rotates each round, so the server and its baselines share the machine's noise."""
    names = [*BASELINES, SERVE]
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds + 1):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            if name == SERVE:
                elapsed = spawn_to_initialize(repo, log_path, servers)
            else:
                elapsed = time_command([sys.executable, *BASELINES[name]], stdin=subprocess.DEVNULL)
            if index > 0:
                samples[name].append(elapsed)
    return samples


# -- machine facts and output -----------------------------------------------------------------------
def machine_info(processes_at_start: int) -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "processes_at_start": processes_at_start,  # status probes scale with every process on the box
        **machine_basics(),
        "load_avg_at_end": None if load is None else [round(x, 2) for x in load],
        "source": source_revision(REPO_ROOT),
    }


def fmt(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def render_human(report: dict[str, Any]) -> str:
    m, cfg = report["machine"], report["config"]
    out = [
        f"berth JSON-RPC benchmark, {m['date']}, {m['cpus']} CPUs ({m['cpu_model']}), {m['python']}, "
        f"source {m['source']}, {m['processes_at_start']} processes at start, "
        f"load {m['load_avg_at_end']} at end",
        "",
        f"Round trips over stdio, ms: {cfg['requests']} sequential requests per method after "
        f"{cfg['warmup']} warm-up rounds; every session has one live listener process",
    ]
    rows = []
    for count in cfg["session_counts"]:
        for method in METHODS:
            r = report["round_trips"][str(count)][method]
            rows.append(
                [
                    str(count),
                    method,
                    fmt(r["p50_ms"]),
                    fmt(r["p95_ms"]),
                    fmt(r["max_ms"]),
                    str(r["response_bytes"]),
                ]
            )
    out.append(render_table(["sessions", "method", "p50", "p95", "max", "answer bytes"], rows))
    out += [
        "",
        f"Start-up, ms: {cfg['spawns']} rounds per session count (after one unmeasured round), each "
        "round runs the server and the baseline commands in rotating order; ratios are of medians",
        "(pass = python -c pass; import X = python -c 'import os, berth.X; os._exit(0)')",
    ]
    rows = []
    for count in cfg["session_counts"]:
        s = report["startup"][str(count)]
        ratio = report["startup_ratios"][str(count)]
        serve = s[SERVE]
        rows.append(
            [
                str(count),
                fmt(serve["p50_ms"], 1),
                fmt(serve["p95_ms"], 1),
                fmt(serve["max_ms"], 1),
                *(fmt(s[name]["p50_ms"], 1) for name in BASELINES),
                f"{ratio['vs_python_pass']:.1f}x",
                f"{ratio['vs_import_berth_rpc_server']:.2f}x",
                f"{ratio['vs_import_pygls']:.2f}x",
            ]
        )
    header = ["sessions", "serve→init p50", "p95", "max", *(f"{SHORT_LABELS[n]} p50" for n in BASELINES)]
    out.append(render_table([*header, "vs pass", "vs import", "vs pygls"], rows))
    return "\n".join(out)


# -- main -------------------------------------------------------------------------------------------
def run(args: argparse.Namespace, stack: contextlib.ExitStack, servers: list[Server]) -> dict[str, Any]:
    import psutil

    processes_at_start = len(psutil.pids())
    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-rpc-"))
    stack.callback(shutil.rmtree, tmp, True)
    log_path = tmp / "serve.log"
    report: dict[str, Any] = {
        "config": {
            "requests": args.requests,
            "warmup": args.warmup,
            "spawns": args.spawns,
            "session_counts": list(args.sessions),
            "fixture": "state-store rows (ACTIVE, host mode), one live listener process per session",
        },
        "round_trips": {},
        "startup": {},
    }
    for count in args.sessions:
        progress(f"... {count} sessions: starting listeners and writing the state store", args.quiet)
        farm = ListenerFarm(count)
        try:
            repo = (tmp / f"repo-{count}").resolve()
            make_repo(repo, farm.listeners)
            progress(f"... {count} sessions: {args.spawns} rounds of start-up timings", args.quiet)
            startup = measure_startup(repo, args.spawns, log_path, servers)
            report["startup"][str(count)] = {name: Stats.of(t).to_dict() for name, t in startup.items()}
            progress(f"... {count} sessions: {args.requests} round trips of each method", args.quiet)
            server = Server(repo, log_path)
            servers.append(server)
            try:
                server.initialize()
                trips = measure_round_trips(server, args.requests, args.warmup, count)
            except (EOFError, OSError) as exc:
                raise RuntimeError(f"berth serve failed: {exc}\n{server.log_tail()}") from exc
            server.shutdown()
            servers.remove(server)
            report["round_trips"][str(count)] = {
                m: {**t.stats.to_dict(), "response_bytes": t.response_bytes} for m, t in trips.items()
            }
        finally:
            farm.close()
    report["startup_ratios"] = {
        count: {
            "vs_python_pass": round(s[SERVE]["p50_ms"] / s[BARE_BASELINE]["p50_ms"], 2),
            "vs_import_berth_rpc_server": round(s[SERVE]["p50_ms"] / s[RAW_BASELINE]["p50_ms"], 3),
            "vs_import_pygls": round(s[SERVE]["p50_ms"] / s[PYGLS_BASELINE]["p50_ms"], 3),
        }
        for count, s in report["startup"].items()
    }
    report["machine"] = machine_info(processes_at_start)
    return report


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=positive, default=200, help="measured round trips per method")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured round trips per method first")
    parser.add_argument("--spawns", type=positive, default=10, help="start-up rounds per session count")
    parser.add_argument(
        "--sessions", type=positive, nargs="+", default=list(SESSION_COUNTS), help="session counts"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    ensure_importable(__file__, ("berth", "psutil"))
    if not VENV_BERTH.exists():
        raise SystemExit(f"{VENV_BERTH} not found: install the project into .venv first")

    interrupt_on(signal.SIGTERM, signal.SIGHUP)

    def run_and_clean_up() -> dict[str, Any]:
        servers: list[Server] = []
        with contextlib.ExitStack() as stack:

            @stack.callback
            def stop_servers() -> None:
                for server in servers:
                    server.close()

            return run(args, stack, servers)

    return report_or_interrupted(run_and_clean_up, render_human, args.json)


if __name__ == "__main__":
    sys.exit(main())
