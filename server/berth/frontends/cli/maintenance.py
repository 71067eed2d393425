"""`berth doctor [--json]` and `berth prune [--dry-run] [--yes] [--volumes] [--json]`.

Nothing heavy is imported at module level: the engine, the docker SDK and the models load inside
the command that needs them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from berth.domain.models import DoctorReport, PruneReport

EXIT_ERROR = 1
_MARK = {"ok": "ok   ", "warn": "warn ", "error": "ERROR"}


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser(
        "doctor", parents=[common], help="check git, berth.toml, the state file, the engine and leftovers"
    )
    p = sub.add_parser(
        "prune", parents=[common], help="remove what this repository's crashed or lost sessions left behind"
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.add_argument("--yes", "-y", action="store_true", help="apply the plan without asking")
    p.add_argument("--volumes", action="store_true", help="also remove leftover volumes (they may hold data)")


def _emit(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str), flush=True)


# -- doctor ---------------------------------------------------------------------------------------
def run_doctor(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.lifecycle.doctor import diagnose

    report = diagnose(args.root or Path.cwd())
    if args.json:
        _emit(report.to_wire())
    else:
        print_doctor(out, report)
    return 0 if report.healthy else EXIT_ERROR


def print_doctor(console: Console, report: DoctorReport) -> None:
    console.print(f"Berth doctor: {report.root or '(no repository)'}", markup=False, highlight=False)
    width = max((len(c.title) for c in report.checks), default=0)
    for check in report.checks:
        line = f"  {_MARK[check.status.value]} {check.title.ljust(width)}  {check.detail}"
        console.print(line, markup=False, highlight=False)
        for item in check.items:
            console.print(f"          {item}", markup=False, highlight=False)
        if check.remediation and check.status.value != "ok":
            console.print(f"          fix: {check.remediation}", markup=False, highlight=False)
    s = report.summary
    verdict = "healthy" if report.healthy else "unhealthy: a required check failed"
    console.print(
        f"{len(report.checks)} checks: {s.ok} ok, {s.warn} warn, {s.error} error "
        f"in {report.seconds:.2f} s; {verdict}",
        markup=False,
        highlight=False,
    )


# -- prune ----------------------------------------------------------------------------------------
def run_prune(args: argparse.Namespace, out: Console, err: Console) -> int:
    from berth.frontends.cli.render import ConsoleSink
    from berth.lifecycle.engine import Engine
    from berth.lifecycle.prune import apply, plan, refusal
    from berth.lifecycle.workspace import Workspace

    engine = Engine(Workspace.discover(args.root or Path.cwd()))
    planned = plan(engine, volumes=args.volumes)
    preview = planned.report(dry_run=True)
    if args.dry_run or planned.empty:
        if args.json:
            _emit(preview.to_wire())
        else:
            print_prune(out, preview)
        return 0
    if not args.yes:
        interactive = not args.json and sys.stdin.isatty()
        if not interactive:
            if not args.json:
                print_prune(out, preview)
            raise refusal(preview, "--json" if args.json else "stdin is not a terminal")
        print_prune(out, preview)
        answer = input(f"Remove these {len(preview.plan)} item(s)? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            out.print("Nothing was changed.", markup=False)
            return 0
    with ConsoleSink(err, quiet=args.json) as sink:
        report = apply(engine, planned, sink)
    if args.json:
        _emit(report.to_wire())
    else:
        print_prune(out, report)
    return 0 if report.residue_free else EXIT_ERROR


def print_prune(console: Console, r: PruneReport) -> None:
    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    if r.dry_run:
        say(f"Prune plan for {r.root}: {len(r.plan)} item(s) to remove" + (":" if r.plan else "."))
        for item in r.plan:
            say(f"  remove  {item.kind} {item.name} ({item.reason})")
    else:
        say(f"Pruned {r.root}: {len(r.removed)} of {len(r.plan)} item(s) removed.")
        for item in r.removed:
            say(f"  removed {item.kind} {item.name}")
        for left in r.left:
            say(f"  LEFT    {left.kind} {left.name} ({left.reason})")
    for blocker in r.blockers:
        say(f"  blocker {blocker.kind} {blocker.name} ({blocker.reason})")
    for kept in r.kept:
        say(f"  kept    {kept.kind} {kept.name} ({kept.reason})")
    if not r.dry_run:
        say(
            "Checked against the engine, git and the state file: "
            + ("nothing planned is left." if r.residue_free else f"{len(r.left)} item(s) are still there.")
        )
