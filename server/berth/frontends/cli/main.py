"""`berth` command line: a thin glue over the engine, with `--json` for scripts."""

from __future__ import annotations

import sys

from berth import __version__
from berth.lazy import lazy_attr

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `berth --version` imports nothing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import Any

    from rich.console import Console

    from berth.domain.errors import BerthError, ErrorCode
    from berth.domain.events import EventSink
    from berth.frontends.cli.init import write_starter
    from berth.frontends.cli.render import (
        ConsoleSink,
        print_error,
        print_receipt,
        print_recovery,
        print_session,
        sessions_table,
    )
    from berth.lifecycle.engine import DownRequest, Engine, UpRequest
    from berth.lifecycle.workspace import Workspace
else:  # imported by the command that uses it: `--version` and `ls/status --json` use none of them
    Path = lazy_attr("pathlib", "Path")
    BerthError = lazy_attr("berth.domain.errors", "BerthError")  # raised; main() catches the real class
    ErrorCode = lazy_attr("berth.domain.errors", "ErrorCode")
    write_starter = lazy_attr("berth.frontends.cli.init", "write_starter")
    ConsoleSink = lazy_attr("berth.frontends.cli.render", "ConsoleSink")
    print_error = lazy_attr("berth.frontends.cli.render", "print_error")
    print_receipt = lazy_attr("berth.frontends.cli.render", "print_receipt")
    print_recovery = lazy_attr("berth.frontends.cli.render", "print_recovery")
    print_session = lazy_attr("berth.frontends.cli.render", "print_session")
    sessions_table = lazy_attr("berth.frontends.cli.render", "sessions_table")
    DownRequest = lazy_attr("berth.lifecycle.engine", "DownRequest")
    Engine = lazy_attr("berth.lifecycle.engine", "Engine")
    UpRequest = lazy_attr("berth.lifecycle.engine", "UpRequest")
    Workspace = lazy_attr("berth.lifecycle.workspace", "Workspace")

EXIT_ERROR = 1
EXIT_UNHEALTHY = 3
EXIT_INTERRUPTED = 130


def _port_override(text: str) -> tuple[str, int]:
    import argparse

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=PORT, got {text!r}")
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value!r} in {text!r}: must be a number 1-65535")
    return name, int(value)


class _Skipped:
    """Stands in for the parser of a command this run does not need: every call is ignored."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


class _OnlyOne:
    """`add_subparsers()` that builds only the named command's parser (argparse spends tens of
    milliseconds building all of them); `found` tells whether that command exists."""

    def __init__(self, sub: Any, only: str) -> None:
        self._sub, self._only, self.found = sub, only, False

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self._only:
            return _Skipped()
        self.found = True
        return self._sub.add_parser(name, **kwargs)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (`only`) one holding just that command; see _parse."""
    import argparse

    from berth.frontends.cli.logs import add_parser as add_logs_parser
    from berth.frontends.cli.maintenance import add_parsers as add_maintenance_parsers

    parser = argparse.ArgumentParser(prog="berth", description="One isolated dev environment per git branch.")
    parser.add_argument("--version", action="version", version=f"berth {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root", type=Path, default=None, help="repository (default: the one containing cwd)"
    )
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    sub: Any = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if only is not None:
        sub = _OnlyOne(sub, only)

    p = sub.add_parser("init", parents=[common], help="write a starter berth.toml")
    p.add_argument("--force", action="store_true", help="overwrite an existing berth.toml")

    p = sub.add_parser("up", parents=[common], help="bring a branch's session up (or resume it)")
    p.add_argument("branch")
    p.add_argument("--reuse-worktree", action="store_true", help="use the branch's existing worktree")
    p.add_argument(
        "--port",
        action="append",
        type=_port_override,
        default=[],
        metavar="NAME=PORT",
        help="use this port for a service (no probing)",
    )
    p.add_argument(
        "--services",
        type=lambda s: [x for x in s.split(",") if x],
        default=None,
        metavar="A,B",
        help="start only these native services",
    )
    p.add_argument(
        "--context",
        default=None,
        metavar="NAME",
        help="run a new session's containers on this docker context (beats berth.toml `engine` and DOCKER_HOST)",
    )

    p = sub.add_parser("down", parents=[common], help="tear a session down")
    p.add_argument("slug", help="session slug (or its branch name)")
    p.add_argument("--keep-worktree", action="store_true", help="stop services, keep worktree and slot")
    p.add_argument("--keep-volumes", action="store_true", help="keep docker volumes")
    p.add_argument("--keep-images", action="store_true", help="keep the images compose built for the session")
    p.add_argument("--force", action="store_true", help="remove the worktree even with uncommitted changes")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be removed and kept, and what blocks, changing nothing",
    )

    p = sub.add_parser("status", parents=[common], help="live health of sessions")
    p.add_argument("slug", nargs="?")

    sub.add_parser("ls", parents=[common], help="list sessions (from the state file; cheap)")

    p = sub.add_parser("env", parents=[common], help="print a session's generated variables (.env.berth)")
    p.add_argument("slug", help="session slug (or its branch name)")
    p.add_argument(
        "--format",
        choices=["dotenv", "json", "shell"],
        default=None,
        help="dotenv (default), json, or shell (`export K='v'`, for eval)",
    )

    p = sub.add_parser(
        "exec",
        parents=[common],
        help="run a command in a session: its worktree and env, or a docker service's container",
        usage="berth exec SLUG [--service NAME] [--root PATH] [--json] -- CMD [ARGS ...]",
    )
    p.add_argument("slug", help="session slug (or its branch name)")
    p.add_argument("--service", default=None, metavar="NAME", help="a docker service to run it in")
    p.add_argument("cmd", nargs="*", metavar="CMD", help="the command and its arguments, after `--`")

    p = sub.add_parser(
        "shell", parents=[common], help="an interactive shell in a session (worktree, or a container)"
    )
    p.add_argument("slug", help="session slug (or its branch name)")
    p.add_argument("--service", default=None, metavar="NAME", help="a docker service to open `sh` in")
    sub.add_parser("recover", parents=[common], help="roll back what crashed operations left behind")
    add_logs_parser(sub, common)
    add_maintenance_parsers(sub, common)

    p = sub.add_parser("serve", help="run the JSON-RPC (LSP-style) server")
    transport = p.add_mutually_exclusive_group()
    transport.add_argument(
        "--stdio", action="store_true", help="serve one client on stdin/stdout (the default)"
    )
    transport.add_argument("--tcp", metavar="HOST:PORT", default=None, help="listen on TCP (loopback only)")
    p.add_argument("--token-file", type=Path, default=None, help="where the TCP auth token is written")

    p = sub.add_parser("mcp", help="run the MCP server for coding agents (needs the `mcp` extra)")
    p.add_argument(
        "--http",
        metavar="HOST:PORT",
        default=None,
        help="serve streamable HTTP (loopback only, token required)",
    )
    p.add_argument("--token-file", type=Path, default=None, help="where the HTTP bearer token is written")
    if isinstance(sub, _OnlyOne) and not sub.found:
        return build_parser()
    return parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """`berth exec SLUG [options] -- CMD ARGS…`: what follows the first `--` is the command, verbatim."""
    raw = list(sys.argv[1:] if argv is None else argv)
    # `berth CMD ...` builds only CMD's parser; `berth`, `berth --help`, an unknown CMD: all of them
    parser = build_parser(raw[0] if raw and not raw[0].startswith("-") else None)
    if "--" in raw:
        cut = raw.index("--")
        args = parser.parse_args(raw[:cut])
        if args.command == "exec":
            args.cmd = [*args.cmd, *raw[cut + 1 :]]
            return args
    args, extra = parser.parse_known_args(raw)
    if extra and args.command == "logs" and not any(x.startswith("-") for x in extra):
        # `berth logs SLUG -f web`: argparse ends a `*` positional at the first option; services
        # named after an option are services all the same
        args.services = [*args.services, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw == ["--version"]:  # before the parser and any import: scripts call this constantly
        print(f"berth {__version__}")
        return 0
    args = _parse(raw)
    err: Console | None = None
    try:
        fast = _fast_json(args)
        if fast is not None:
            return fast
        out = _console()
        err = _console(stderr=True)
        return _COMMANDS[args.command](args, out, err)
    except KeyboardInterrupt:
        from berth.domain.errors import BerthError, ErrorCode

        _print_error(
            args,
            err,
            BerthError(
                ErrorCode.CANCELLED,
                "interrupted; what this command created was rolled back",
                "run the command again when ready",
            ),
        )
        return EXIT_INTERRUPTED
    except Exception as exc:  # errors.py (dataclasses) is imported only when something went wrong
        from berth.domain.errors import BerthError, internal_error

        if not isinstance(exc, BerthError):
            import traceback

            traceback.print_exc()  # a bug: its traceback first, then what it left (if anything)
            exc = internal_error(
                exc,
                f"internal error: {type(exc).__name__}: {exc}",
                "this is a bug in berth (the traceback is above); please report it",
            )
        _print_error(args, err, exc)
        return EXIT_ERROR


class _LazyConsole:
    """A rich Console built on its first use: a command that prints only JSON (or serves a
    protocol) never imports rich."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console as RichConsole

            # emoji=False: rich turns `:up:` into an emoji even with markup off; messages are user text
            self._console = RichConsole(stderr=self._stderr, soft_wrap=True, emoji=False)
        return getattr(self._console, name)


def _console(stderr: bool = False) -> Console:
    return _LazyConsole(stderr)  # type: ignore[return-value]  # a Console to every caller


def _events(args: argparse.Namespace, err: Console) -> AbstractContextManager[EventSink]:
    """Where a command's engine events go: nowhere with --json (without importing rich), else a live
    progress line and rollback steps on stderr."""
    if args.json:
        from contextlib import nullcontext

        from berth.domain.events import NullSink

        return nullcontext(NullSink())
    return ConsoleSink(err, quiet=False)


def _fast_json(args: argparse.Namespace) -> int | None:
    """`ls --json` and `status --json` (every session) when all sessions run in host mode: the rows
    straight from the state file, without rich, pydantic, GitPython or the engine
    (lifecycle/listing.py). None: the command's own path answers."""
    if not getattr(args, "json", False) or args.command not in ("ls", "status"):
        return None
    if args.command == "status" and args.slug:
        return None
    from berth.adapters.gitroot import find_main_root
    from berth.domain.layout import state_file
    from berth.lifecycle import listing

    path = state_file(find_main_root(args.root or Path.cwd()))
    if not path.exists():
        rows: list[dict[str, Any]] = []  # no session was ever recorded here (nothing to create for that)
    else:
        found = listing.host_rows(path, live=args.command == "status")
        if found is None:
            return None
        rows = found
    _emit({"sessions": rows})
    return EXIT_UNHEALTHY if args.command == "status" and listing.unhealthy(rows) else 0


def _print_error(args: argparse.Namespace, err: Console | None, exc: BerthError) -> None:
    if getattr(args, "json", False):
        import json

        print(json.dumps({"error": exc.to_dict()}, indent=2))
    else:
        print_error(err or _console(stderr=True), exc, root=getattr(args, "root", None))


def _emit(data: Any) -> None:
    import json

    try:
        print(json.dumps(data, indent=2, default=str), flush=True)
    except BrokenPipeError:  # `berth ls --json | head` is fine
        sys.stderr.close()


def _engine(args: argparse.Namespace) -> Engine:
    return Engine(Workspace.discover(args.root or Path.cwd()))


def _cmd_init(args: argparse.Namespace, out: Console, err: Console) -> int:
    ws = Workspace.discover(args.root or Path.cwd())
    path, mode = write_starter(ws.root, force=args.force)
    if args.json:
        _emit({"configFile": str(path), "mode": mode.value})
    else:
        out.print(f"Wrote {path} (mode {mode.value}) and added .berth/ to .gitignore.", markup=False)
        out.print("Next: add [[services]], then `berth up <branch>`.", markup=False)
    return 0


def _cmd_up(args: argparse.Namespace, out: Console, err: Console) -> int:
    engine = _engine(args)
    request = UpRequest(
        branch=args.branch,
        reuse_worktree=args.reuse_worktree,
        ports=dict(args.port),
        services=args.services,
        context=args.context,
    )
    with _events(args, err) as sink:
        session = engine.up(request, events=sink)
    if args.json:
        _emit(session.to_wire())
    else:
        print_session(out, session)
    return 0


def _cmd_down(args: argparse.Namespace, out: Console, err: Console) -> int:
    engine = _engine(args)
    request = DownRequest(
        slug=args.slug,
        keep_worktree=args.keep_worktree,
        keep_volumes=args.keep_volumes,
        keep_images=args.keep_images,
        force=args.force,
    )
    if args.dry_run:
        plan = engine.plan_down(request)
        if args.json:
            _emit(plan.to_wire())
        else:
            from berth.frontends.cli.down_plan import print_down_plan

            print_down_plan(out, plan)
        return 0
    with _events(args, err) as sink:
        receipt = engine.down(request, events=sink)
    if args.json:
        _emit(receipt.to_wire())
    else:
        print_receipt(out, receipt)
    return 0


def _cmd_status(args: argparse.Namespace, out: Console, err: Console) -> int:
    sessions = _engine(args).status(args.slug)
    unhealthy = any(s.state.unhealthy for x in sessions for s in x.services)
    if args.json:
        _emit({"sessions": [s.to_wire() for s in sessions]})
    elif not sessions:
        out.print("No sessions. Start one with `berth up <branch>`.", markup=False)
    else:
        for session in sessions:
            print_session(out, session)
    return EXIT_UNHEALTHY if unhealthy else 0


def _cmd_ls(args: argparse.Namespace, out: Console, err: Console) -> int:
    sessions = _engine(args).list_sessions()
    if args.json:
        _emit({"sessions": [s.to_wire() for s in sessions]})
    elif not sessions:
        out.print("No sessions. Start one with `berth up <branch>`.", markup=False)
    else:
        out.print(sessions_table(sessions))
    return 0


def _cmd_recover(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _events(args, err) as sink:
        report = _engine(args).recover(sink)
    if args.json:
        _emit(report.to_wire())
    else:
        print_recovery(out, report)
    return EXIT_ERROR if report.remaining else 0


def _cmd_env(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.lifecycle.session_env import EnvFormat, render_env, session_env

    found = session_env(Workspace.discover(args.root or Path.cwd()), args.slug)
    fmt = EnvFormat(args.format or ("json" if args.json else "dotenv"))
    if fmt is EnvFormat.JSON:
        _emit({"slug": found.slug, "variables": found.variables, "envFile": str(found.env_file)})
    else:
        sys.stdout.write(render_env(found.variables, fmt))
    return 0


def _cmd_exec(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.lifecycle.session_env import exec_command

    ws = Workspace.discover(args.root or Path.cwd())
    tty = sys.stdin.isatty() and not args.json  # --json captures the output: never a pseudo-TTY
    command = exec_command(ws, args.slug, args.cmd, service=args.service, tty=tty)
    if args.json:
        import subprocess

        done = subprocess.run(
            command.argv, cwd=command.cwd, env=command.env, capture_output=True, check=False
        )
        code = done.returncode if done.returncode >= 0 else 128 - done.returncode
        _emit(
            {
                "slug": command.slug,
                "service": command.service,
                "argv": command.argv,
                "cwd": str(command.cwd),
                "exitCode": code,
                "stdout": done.stdout.decode("utf-8", errors="replace"),
                "stderr": done.stderr.decode("utf-8", errors="replace"),
            }
        )
        return code
    return _exec(command.argv, command.cwd, command.env)


def _cmd_shell(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.lifecycle.session_env import shell_command

    ws = Workspace.discover(args.root or Path.cwd())
    command = shell_command(ws, args.slug, service=args.service, tty=sys.stdin.isatty())
    if args.json:  # a script cannot drive an interactive shell: it gets the command line to start
        _emit(
            {
                "slug": command.slug,
                "service": command.service,
                "argv": command.argv,
                "cwd": str(command.cwd),
                "env": command.overlay,
            }
        )
        return 0
    return _exec(command.argv, command.cwd, command.env)


def _exec(argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Become the command: its exit status, its signals and its terminal are the caller's."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(cwd)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            f"{argv[0]} could not be started: {exc.strerror or exc}",
            "check the command (and, for a docker service, the docker CLI on PATH)",
            argv=argv,
        ) from exc
    return EXIT_ERROR  # not reached: execvpe only returns by raising


def _cmd_logs(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.frontends.cli.logs import run

    return run(args, out, err)


def _cmd_doctor(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.frontends.cli.maintenance import run_doctor

    return run_doctor(args, out, err)


def _cmd_prune(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.frontends.cli.maintenance import run_prune

    return run_prune(args, out, err)


def _cmd_serve(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.frontends.rpc.main import serve

    return serve(tcp=args.tcp, token_file=args.token_file)


def _cmd_mcp(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        from berth.frontends.mcp.main import serve
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("mcp"):
            raise
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            "berth mcp needs the MCP SDK, which is not installed",
            "install Berth with its mcp extra: pip install 'berth[mcp]'",
        ) from exc
    return serve(http=args.http, token_file=args.token_file)


_COMMANDS: dict[str, Callable[[argparse.Namespace, Console, Console], int]] = {
    "init": _cmd_init,
    "up": _cmd_up,
    "down": _cmd_down,
    "status": _cmd_status,
    "ls": _cmd_ls,
    "recover": _cmd_recover,
    "env": _cmd_env,
    "exec": _cmd_exec,
    "shell": _cmd_shell,
    "logs": _cmd_logs,
    "doctor": _cmd_doctor,
    "prune": _cmd_prune,
    "serve": _cmd_serve,
    "mcp": _cmd_mcp,
}


if __name__ == "__main__":
    sys.exit(main())
