"""Human output for the CLI: a live progress line, rollback steps as they happen, tables."""

from __future__ import annotations

from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from berth.models import RecoveryReport, ServiceState, SessionView, TeardownReceipt
from berth.rollback import UndoState, UndoStep

_STATE_STYLE = {
    ServiceState.RUNNING: "green",
    ServiceState.STARTING: "yellow",
    ServiceState.EXITED: "red",
    ServiceState.WRONG_OWNER: "red",
    ServiceState.STOPPED: "dim",
    ServiceState.UNMANAGED: "dim",
    ServiceState.UNKNOWN: "yellow",
}


class ConsoleSink:
    """Renders engine events on stderr; quiet mode (--json) shows nothing."""

    def __init__(self, console: Console, *, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self._status: Status | None = None

    def __enter__(self) -> ConsoleSink:
        if not self.quiet:
            self._status = self.console.status("starting", spinner="dots")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def progress(self, slug: str, step: str, index: int, total: int) -> None:
        if self._status is not None:
            self._status.update(f"[bold]{slug}[/] [{index}/{total}] {step}")

    def undo(self, slug: str, op_id: str, step: UndoStep, state: UndoState, detail: str | None) -> None:
        if self.quiet or state == "undoing":
            return
        mark = "[yellow]↶ undone[/]" if state == "undone" else "[red]✗ undo failed[/]"
        self.console.print(f"{mark} " + escape(step.description + (f": {detail}" if detail else "")))

    def log(self, level: Literal["info", "warning", "error"], line: str) -> None:
        if self.quiet:
            return
        style = {"info": "dim", "warning": "yellow", "error": "red"}[level]
        self.console.print(escape(line), style=style, highlight=False)

    def session_changed(self, slug: str) -> None:
        pass


def sessions_table(sessions: list[SessionView], *, live: bool) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("SLUG", "MODE", "SLOT", "STATUS", "PORTS", "BRANCH", "STARTED"):
        table.add_column(column)
    for s in sessions:
        status = s.status.value + (" (busy)" if s.busy else "")
        ports = " ".join(f"{n}={p}" for n, p in sorted(s.ports.items()))
        table.add_row(
            s.slug, s.mode, str(s.slot), status, ports, s.branch, s.started_at.strftime("%Y-%m-%d %H:%M")
        )
    return table


def print_session(console: Console, s: SessionView) -> None:
    console.print(f"[bold]Session {s.slug}[/] ({s.status.value}, slot {s.slot}, {s.mode} mode)")
    console.print(f"  branch    {s.branch}")
    console.print(f"  worktree  {s.worktree_path}")
    console.print(f"  env file  {s.env_file}")
    table = Table(box=None, header_style="bold", padding=(0, 2))
    for column in ("SERVICE", "KIND", "PORT", "ACTUAL", "STATE", "PID/CONTAINER", "DETAIL"):
        table.add_column(column)
    for svc in s.services:
        style = _STATE_STYLE.get(svc.state, "")
        health = f" ({svc.health})" if svc.health else ""
        table.add_row(
            svc.name,
            svc.kind,
            str(svc.port or "—"),
            "—" if svc.actual_ports is None else " ".join(map(str, svc.actual_ports)) or "none",
            f"[{style}]{svc.state.value}{health}[/]",
            str(svc.pid or svc.container or "—"),
            escape(svc.detail or ""),
        )
    console.print(table)


def print_receipt(console: Console, r: TeardownReceipt) -> None:
    verb = "torn down" if r.status == "removed" else "stopped (slot kept)"
    console.print(f"[bold]Session {r.slug} {verb}.[/]")
    for item in r.removed:
        console.print(f"  [green]removed[/] {item.kind}: {item.name}")
    for kept in r.kept:
        console.print(f"  [yellow]kept[/]    {kept.kind}: {kept.name} — {kept.reason}")
    for warning in r.warnings:
        console.print(f"  [yellow]warning[/] {warning}")


def print_recovery(console: Console, report: RecoveryReport) -> None:
    if not report.operations:
        console.print("Nothing to recover: no interrupted operations.")
        return
    console.print(f"Recovered {len(report.operations)} interrupted operation(s).")
    for item in report.undone:
        mark = "[green]undone[/]" if item.state == "undone" else "[red]failed[/]"
        console.print(f"  {mark} {item.slug}: {item.step}" + (f" ({item.detail})" if item.detail else ""))
    if report.remaining:
        console.print(
            f"[red]{report.remaining} step(s) still failed; fix the cause and run `berth recover` again.[/]"
        )
