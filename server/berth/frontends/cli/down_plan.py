"""How `berth down --dry-run` prints a DownPlan (the `--json` form is the plan itself)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from berth.domain.errors import Remedy
from berth.domain.models import DownPlan
from berth.frontends.cli.render import remedy_command

_LISTED = 10


def print_down_plan(console: Console, plan: DownPlan) -> None:
    fate = "removed" if plan.status == "removed" else "stopped (worktree and slot kept)"
    console.print(
        f"[bold]Down plan for {escape(plan.slug)}[/] (dry run, nothing changed): the session would be {fate}."
    )
    for item in plan.remove:
        console.print(f"  [red]remove[/]  {escape(item.kind)}: {escape(item.name)}")
    for kept in plan.keep:
        console.print(f"  [green]keep[/]    {escape(kept.kind)}: {escape(kept.name)} — {escape(kept.reason)}")
    for blocker in plan.blockers:
        console.print(f"  [yellow]blocker[/] {escape(blocker.message)}")
        for entry in blocker.items[:_LISTED]:
            console.print(f"            {entry}", markup=False, highlight=False)
        if len(blocker.items) > _LISTED:
            console.print(f"            … and {len(blocker.items) - _LISTED} more", markup=False)
        for remedy in blocker.remedies or []:
            console.print(
                f"            try: {remedy_command(Remedy(remedy.action, remedy.args), root=None)}",
                markup=False,
            )
    for warning in plan.warnings:
        console.print(f"  [yellow]warning[/] {escape(warning)}")
