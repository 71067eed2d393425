"""`berth logs SLUG [SERVICE…] [--follow] [--tail N] [--since DURATION] [--json]`.

Human output: the lines, with a `service | ` prefix when several services are shown. `--json`
without `--follow`: one document `{"lines": [{service, time, text}]}`; with `--follow`: one JSON
object per line (JSON lines), and a last `{"ended", "message", "skipped"}` object. `--follow` ends
with exit 0 when the session goes down (saying so on stderr), or 130 on Ctrl+C (quietly)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from berth.domain.logs import LogLine

EXIT_INTERRUPTED = 130


def _tail(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of lines, got {text!r}")
    return int(text)


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("logs", parents=[common], help="show (or follow) a session's service logs")
    p.add_argument("slug", help="session slug (or its branch name)")
    p.add_argument("services", nargs="*", metavar="SERVICE", help="only these services (default: all)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl+C or down")
    p.add_argument(
        "-n", "--tail", type=_tail, default=None, metavar="N", help="the last N lines of each service"
    )
    p.add_argument(
        "--since", default=None, metavar="DURATION", help="only lines from this long ago: 10s, 5m, 2h"
    )


class _Printer:
    def __init__(self, stream: IO[str], *, as_json: bool, prefix: bool, width: int) -> None:
        self.stream = stream
        self.as_json = as_json
        self.prefix = prefix
        self.width = width

    def __call__(self, lines: list[LogLine]) -> None:
        out = []
        for line in lines:
            if self.as_json:
                out.append(json.dumps(line.to_view().to_wire(), ensure_ascii=False))
            elif line.skipped or not self.prefix:
                out.append(line.text)
            else:
                out.append(f"{line.service.ljust(self.width)} | {line.text}")
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.domain.logs import LogsResult, parse_duration
    from berth.lifecycle.logs import LogRequest, SessionLogs, resolve_sources
    from berth.lifecycle.workspace import Workspace

    since = parse_duration(args.since) if args.since is not None else None
    ws = Workspace.discover(args.root or Path.cwd())
    request = LogRequest(slug=args.slug, services=tuple(args.services), tail=args.tail, since=since)
    logs = SessionLogs(ws)
    sources = resolve_sources(ws, request)
    names = [s.service for s in sources.native] + [s.service for s in sources.docker]
    printer = _Printer(
        sys.stdout,
        as_json=args.json,
        prefix=sources.several,
        width=max((len(n) for n in names), default=0),
    )
    try:
        if not args.follow:
            lines = logs.read(request)
            if args.json:
                result = LogsResult(lines=[line.to_view() for line in lines])
                sys.stdout.write(json.dumps(result.to_wire(), indent=2, ensure_ascii=False) + "\n")
            elif lines:
                printer(lines)
            return 0
        outcome = logs.follow(request, printer)
        if args.json:
            end = {"ended": outcome.ended, "message": outcome.message, "skipped": outcome.skipped}
            sys.stdout.write(json.dumps(end) + "\n")
            sys.stdout.flush()
        else:
            err.print(outcome.message, markup=False, highlight=False)
        return 0
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED  # Ctrl+C ends a follow: nothing to roll back, nothing to say
    except BrokenPipeError:  # `berth logs x | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
