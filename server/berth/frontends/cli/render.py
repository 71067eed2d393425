"""Human output for the CLI: a live progress line, rollback steps as they happen, tables."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from berth.domain.errors import BerthError, Remedy, RemedyAction
from berth.domain.events import LogLevel
from berth.domain.models import RecoveryReport, ServiceState, SessionView, TeardownReceipt
from berth.domain.undo import UndoState, UndoStep

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
            self._status.update(f"[bold]{escape(slug)}[/] \\[{index}/{total}] {escape(step)}")

    def undo(self, slug: str, op_id: str, step: UndoStep, state: UndoState, detail: str | None) -> None:
        if self.quiet or state is UndoState.UNDOING:
            return
        mark = "[yellow]↶ undone[/]" if state is UndoState.UNDONE else "[red]✗ undo failed[/]"
        self.console.print(f"{mark} " + escape(step.description + (f": {detail}" if detail else "")))

    def log(self, level: LogLevel, line: str) -> None:
        if self.quiet:
            return
        style = {"info": "dim", "warning": "yellow", "error": "red"}[level]
        self.console.print(escape(line), style=style, highlight=False)

    def session_changed(self, slug: str) -> None:
        pass


def sessions_table(sessions: list[SessionView]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("SLUG", "MODE", "SLOT", "STATUS", "PORTS", "BRANCH", "STARTED"):
        table.add_column(column)
    for s in sessions:
        status = s.status.value + (" (busy)" if s.busy else "")
        ports = " ".join(f"{n}={p}" for n, p in sorted(s.ports.items()))
        table.add_row(
            *map(escape, (s.slug, s.mode, str(s.slot), status, ports, s.branch)),
            s.started_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def print_session(console: Console, s: SessionView) -> None:
    console.print(f"[bold]Session {escape(s.slug)}[/] ({s.status.value}, slot {s.slot}, {s.mode} mode)")
    console.print(f"  branch    {s.branch}", markup=False)
    console.print(f"  worktree  {s.worktree_path}", markup=False)
    console.print(f"  env file  {s.env_file}", markup=False)
    if s.engine:
        console.print(f"  engine    {s.engine}", markup=False)
    for ref in s.shared:
        console.print(
            f"  shared    {ref.kind} {ref.name} (external: used as it is, never removed)", markup=False
        )
    if s.uncommitted_changes:
        changes = ", ".join(s.uncommitted_changes)
        console.print(f"  changes   {changes} (uncommitted: down keeps the worktree)", markup=False)
    table = Table(box=None, header_style="bold", padding=(0, 2))
    for column in ("SERVICE", "KIND", "PORT", "ACTUAL", "STATE", "PID/CONTAINER", "DETAIL"):
        table.add_column(column)
    for svc in s.services:
        style = _STATE_STYLE.get(svc.state, "")
        health = f" ({svc.health})" if svc.health else ""
        table.add_row(
            escape(svc.name),
            svc.kind,
            _reached_at(svc.host, svc.port),
            "—" if svc.actual_ports is None else " ".join(map(str, svc.actual_ports)) or "none",
            f"[{style}]{svc.state.value}{escape(health)}[/]",
            escape(str(svc.pid or svc.container or "—")),
            escape(svc.detail or ""),
        )
    console.print(table)


def _reached_at(host: str | None, port: int | None) -> str:
    """`host:port` for a port on a remote engine's host; just the port on this machine."""
    if port is None:
        return "—"
    return f"{host}:{port}" if host and host not in ("127.0.0.1", "localhost") else str(port)


def print_receipt(console: Console, r: TeardownReceipt) -> None:
    verb = "torn down" if r.status == "removed" else "stopped (slot kept)"
    console.print(f"[bold]Session {escape(r.slug)} {verb}.[/]")
    for item in r.removed:
        console.print(f"  [green]removed[/] {escape(item.kind)}: {escape(item.name)}")
    for kept in r.kept:
        console.print(
            f"  [yellow]kept[/]    {escape(kept.kind)}: {escape(kept.name)} — {escape(kept.reason)}"
        )
        for remedy in kept.remedies or []:
            line = remedy_command(Remedy(remedy.action, remedy.args), root=None)
            console.print(f"            try: {line}", markup=False)
    for warning in r.warnings:
        console.print(f"  [yellow]warning[/] {escape(warning)}")


def print_recovery(console: Console, report: RecoveryReport) -> None:
    if not report.operations:
        console.print("Nothing to recover: no interrupted operations.")
        return
    console.print(f"Recovered {len(report.operations)} interrupted operation(s).")
    for item in report.undone:
        mark = "[green]undone[/]" if item.state is UndoState.UNDONE else "[red]failed[/]"
        text = f"{item.slug}: {item.step}" + (f" ({item.detail})" if item.detail else "")
        console.print(f"  {mark} {escape(text)}")
    if report.remaining:
        console.print(
            f"[red]{report.remaining} step(s) still failed; fix the cause and run `berth recover` again.[/]"
        )


def remedy_command(remedy: Remedy, *, root: Path | None) -> str:
    """A remedy in the CLI's words: the command line that does it."""
    a = remedy.args
    at = f" --root {root}" if root is not None else ""
    match remedy.action:
        case RemedyAction.UP:
            return f"berth up {a['branch']}{at}"
        case RemedyAction.REUSE_WORKTREE:
            return f"berth up {a['branch']} --reuse-worktree{at}"
        case RemedyAction.DOWN:
            return f"berth down {a['slug']}{at}"
        case RemedyAction.FORCE_DOWN:
            return f"berth down {a['slug']} --force{at}"
        case RemedyAction.CHOOSE_PORT:
            branch = a.get("branch", "BRANCH")
            return f"berth up {branch} --port {a['service']}=PORT{at}"
        case RemedyAction.RECOVER:
            return f"berth recover{at}"
        case RemedyAction.LIST_SESSIONS:
            return f"berth ls{at}"
        case RemedyAction.INIT:
            return f"berth init --root {a['root']}" if "root" in a else "berth init"
        case RemedyAction.OVERWRITE_CONFIG:
            return f"berth init --force --root {a['root']}" if "root" in a else "berth init --force"
        case RemedyAction.EDIT_CONFIG:
            return f"edit berth.toml ({a['key']})" if "key" in a else "edit berth.toml"
        case RemedyAction.SHOW_LOG:
            return f"less {a['path']}"


def print_error(console: Console, exc: BerthError, *, root: Path | None) -> None:
    """The error exactly as `--json` gives it, in plain text (no markup: messages are user text)."""
    console.print(f"error [{exc.code.value}]: {exc.message}", markup=False, highlight=False)
    console.print(f"hint: {exc.hint}", markup=False, highlight=False)
    for remedy in exc.remedies:
        console.print(f"  try: {remedy_command(remedy, root=root)}", markup=False, highlight=False)
