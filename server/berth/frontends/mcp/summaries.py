"""The short text each tool answers beside its structured content: what an agent reads first
(ports, URLs, the worktree path, what was removed or kept)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from berth.domain.events import LogLevel
from berth.domain.logs import LogsResult
from berth.domain.models import DownPlan, KeptResource, SessionView, TeardownReceipt

if TYPE_CHECKING:
    from berth.frontends.mcp.arguments import ExecResult
    from berth.frontends.mcp.bridge import UndoEvent
    from berth.frontends.rpc.protocol import EnvResult


def session(view: SessionView, notes: Sequence[tuple[LogLevel, str]] = ()) -> str:
    lines = [
        f"session {view.slug} ({view.branch}) is {view.status.value}, slot {view.slot}, {view.mode.value} mode"
    ]
    lines.append(f"worktree: {view.worktree_path}")
    lines.append(f"env file: {view.env_file}")
    for service in view.services:
        where = f" http://127.0.0.1:{service.port}" if service.port is not None else ""
        lines.append(f"{service.name} ({service.kind}):{where} {service.state.value}")
    lines += [f"{level}: {line}" for level, line in notes if level != "info"]
    return "\n".join(lines)


def sessions(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no sessions"
    out = []
    for row in rows:
        ports = ", ".join(f"{name} {port}" for name, port in sorted(dict(row.get("ports", {})).items()))
        busy = " (busy)" if row.get("busy") else ""
        out.append(
            f"{row['slug']}: {row['status']}{busy}, slot {row['slot']}, ports {ports or '-'}, {row['worktreePath']}"
        )
    return "\n".join(out)


def _kept(kept: Sequence[KeptResource]) -> list[str]:
    return [f"kept {k.kind} {k.name}: {k.reason}" for k in kept]


def receipt(done: TeardownReceipt) -> str:
    lines = [f"session {done.slug} {done.status}"]
    lines += [f"removed {r.kind} {r.name}" for r in done.removed]
    lines += _kept(done.kept)
    lines += [f"warning: {w}" for w in done.warnings]
    return "\n".join(lines)


def plan(planned: DownPlan) -> str:
    lines = [f"dry run: session {planned.slug} would be {planned.status}; nothing was changed"]
    lines += [f"would remove {r.kind} {r.name}" for r in planned.remove]
    lines += [f"would keep {k.kind} {k.name}: {k.reason}" for k in planned.keep]
    lines += [f"blocker: {b.message}" for b in planned.blockers]
    lines += [f"warning: {w}" for w in planned.warnings]
    return "\n".join(lines)


def log_lines(result: LogsResult) -> str:
    lines = [f"[{line.service}] {line.text}" for line in result.lines]
    left_out = getattr(result, "left_out", 0)
    if left_out:
        lines.insert(0, f"({left_out} older lines left out)")
    return "\n".join(lines) or "no log lines"


def env(result: EnvResult) -> str:
    lines = [f"session {result.slug}: worktree {result.worktree_path}, env file {result.env_file}"]
    lines += [f"{k}={v}" for k, v in result.variables.items()]
    return "\n".join(lines)


def exec_result(result: ExecResult) -> str:
    head = f"exit code {result.exit_code}" + (
        " (timed out: process group killed)" if result.timed_out else ""
    )
    parts = [head]
    for name, text, cut in (
        ("stdout", result.stdout, result.stdout_truncated),
        ("stderr", result.stderr, result.stderr_truncated),
    ):
        if text or cut:
            parts.append(f"--- {name}{' (truncated)' if cut else ''} ---\n{text}")
    return "\n".join(parts)


def undo_line(event: UndoEvent) -> str:
    return event.step if event.state.value == "undone" else f"{event.step} FAILED ({event.detail})"
