"""The engine: `up`, `down`, `status`, `list` and `recover` for one repository.

It takes plain request objects, an event sink and a cancellation token, and knows nothing about the
CLI or JSON-RPC that drive it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from berth import undo
from berth.adapters.host_snapshot import HostSnapshot
from berth.bringup import BringUp, Step, UpRequest
from berth.cancel import NEVER_CANCELLED, CancelToken
from berth.config import BerthConfig
from berth.errors import BerthError, ErrorCode
from berth.events import EventSink, NullSink
from berth.models import RecoveryReport, ResourceRef, SessionStatus, SessionView, TeardownReceipt, UndoOutcome
from berth.modes.registry import down_steps, preflight, up_steps
from berth.records import SessionRecord, utcnow
from berth.rollback import RollbackGuard, UndoResult, UndoState, UndoStep
from berth.slug import resolve_session_ref, slug_for_branch
from berth.store import Reservation, StaleOperation
from berth.teardown import DownRequest, TearDown
from berth.views import session_view
from berth.workspace import Workspace

__all__ = ["DownRequest", "Engine", "UpRequest"]


class Engine:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.registry = undo.build_registry(ws)

    @classmethod
    def for_path(cls, path: Path) -> Engine:
        return cls(Workspace.discover(path))

    # -- queries --------------------------------------------------------------------------------
    def list_sessions(self) -> list[SessionView]:
        return [session_view(s) for s in self.ws.store.list_sessions()]

    def status(self, ref: str | None = None) -> list[SessionView]:
        if ref is None:
            records = self.ws.store.list_sessions()
        else:
            slug = resolve_session_ref(ref)
            found = self.ws.store.get_session(slug)
            if found is None:
                raise _not_found(slug)
            records = [found]
        host = HostSnapshot.take()
        return [session_view(r, live=True, host=host) for r in records]

    # -- up -------------------------------------------------------------------------------------
    def up(
        self, request: UpRequest, cancel: CancelToken = NEVER_CANCELLED, events: EventSink | None = None
    ) -> SessionView:
        sink = events or NullSink()
        config = self.ws.config()
        slug = slug_for_branch(request.branch)
        _check_request(config, request)
        steps = up_steps(config.mode)
        preflight(config)  # e.g. DOCKER_UNAVAILABLE, before anything is reserved or created
        existing = self.ws.store.get_session(slug)
        if existing is not None and existing.mode != config.mode.value:
            raise BerthError(
                ErrorCode.CONFIG_INVALID,
                f"session {slug!r} runs in {existing.mode} mode, but berth.toml now says {config.mode.value}",
                f"run `berth down {slug}` (it follows the recorded mode), then `berth up {request.branch}`",
            )
        cancel.check()

        new_session = _pending_session(
            slug, request.branch, config.mode.value, self.ws.worktree_path(config, slug)
        )
        reservation = self._reserve(
            slug,
            lambda: self.ws.store.reserve(
                slug=slug,
                branch=request.branch,
                kind="up",
                max_slots=config.max_slots,
                new_session=new_session,
                undo_for=_first_undo(slug),
            ),
            sink,
        )
        total = len(steps) + 1
        sink.progress(slug, "reserve slot", 1, total)
        sink.session_changed(slug)
        op_id = reservation.operation.op_id
        guard = RollbackGuard.resume(
            op_id, [reservation.first_undo], self.ws.store, self.registry, _undo_listener(sink, slug, op_id)
        )
        ctx = BringUp(
            self.ws,
            config,
            request,
            reservation.session.model_copy(deep=True),
            reservation.previous,
            op_id,
            guard,
            cancel,
            sink,
        )
        try:
            with guard:
                final = self._run_steps(ctx, steps, reservation)
                guard.disarm()
        except BaseException as exc:
            self._settle_failed(op_id, guard.results, exc)
            raise
        finally:
            sink.session_changed(slug)
        return session_view(final)

    def _run_steps(self, ctx: BringUp, steps: list[Step], reservation: Reservation) -> SessionRecord:
        """Run the mode's steps (nothing when a resumed session is already whole) and commit."""
        previous, slug, total = reservation.previous, ctx.slug, len(steps) + 1
        if previous is not None and previous.status is SessionStatus.ACTIVE and not ctx.has_work():
            ctx.events.log("info", f"[{slug}] all services already running; nothing to do")
        else:
            for index, (name, step) in enumerate(steps, start=2):
                ctx.cancel.check()
                ctx.events.progress(slug, name, index, total)
                step(ctx)
        ctx.cancel.check()
        final = ctx.session.model_copy(update={"status": SessionStatus.ACTIVE})
        if previous is None or previous.status is SessionStatus.STOPPED:
            final.started_at = utcnow()
        if not self.ws.store.commit_session(final, ctx.op_id):
            raise BerthError(
                ErrorCode.SESSION_BUSY,
                f"session {slug!r} was taken over by another command while it was being brought up",
                f"what this up created was rolled back; run `berth up {ctx.request.branch}` again",
            )
        return final

    def _reserve(self, slug: str, reserve: Callable[[], Reservation], sink: EventSink) -> Reservation:
        """Claim the slug; first replay any abandoned operation on it (a crashed earlier run)."""
        if any(op.slug == slug for op in self.ws.store.abandoned_operations()):
            self.recover(sink, only_slug=slug)
        try:
            return reserve()
        except StaleOperation:
            self.recover(sink, only_slug=slug)
            return reserve()

    def _settle_failed(self, op_id: str, results: list[UndoResult], exc: BaseException) -> None:
        failures = [r for r in results if not r.ok]
        if not failures:
            self.ws.store.finish_operation(op_id, "rolled_back")
            return
        self.ws.store.finish_operation(op_id, "needs_recovery", keep_journal=True)
        if isinstance(exc, BerthError):
            listing = "; ".join(f"{r.step.description}: {r.error}" for r in failures)
            exc.details["rollback_failures"] = [r.step.description for r in failures]
            exc.hint += f". Rollback could not undo everything ({listing}); run `berth recover` to retry"

    # -- down -----------------------------------------------------------------------------------
    def down(
        self, request: DownRequest, cancel: CancelToken = NEVER_CANCELLED, events: EventSink | None = None
    ) -> TeardownReceipt:
        sink = events or NullSink()
        slug = resolve_session_ref(request.slug)
        try:
            config: BerthConfig | None = self.ws.config()
        except BerthError as exc:
            config = None  # teardown must work even when berth.toml is broken: only hooks need it
            sink.log("warning", f"{exc.message}; hooks are skipped")
        recovered = self.recover(sink, only_slug=slug)
        if recovered.undone and self.ws.store.get_session(slug) is None:
            # a crashed bring-up: replaying its journal already removed everything it had created
            return TeardownReceipt(
                slug=slug,
                removed=[
                    ResourceRef(kind="interrupted operation", name=u.step)
                    for u in recovered.undone
                    if u.state == "undone"
                ],
                kept=[],
                warnings=[f"{u.step}: {u.detail}" for u in recovered.undone if u.state == "failed"],
            )
        reservation = self._reserve(
            slug,
            lambda: self.ws.store.reserve_existing(
                slug,
                "down",
                _first_undo(slug),
            ),
            sink,
        )
        op_id = reservation.operation.op_id
        td = TearDown(self.ws, config, request, reservation.session, op_id, cancel, sink)
        sink.session_changed(slug)
        steps = down_steps(reservation.session.mode)
        total = len(steps)
        try:
            for index, (name, step) in enumerate(steps, start=1):
                sink.progress(slug, name, index, total)
                step(td)
        except BaseException:
            self._settle_interrupted_down(td)
            raise
        finally:
            sink.session_changed(slug)
        if any(k.kind == "worktree" for k in td.kept):
            stopped = td.session.model_copy(update={"status": SessionStatus.STOPPED, "processes": {}})
            self.ws.store.commit_session(stopped, op_id)
            return td.receipt("stopped")
        self.ws.store.remove_session_and_finish(slug, op_id)
        td.removed.append(ResourceRef(kind="session", name=slug))
        return td.receipt("removed")

    def _settle_interrupted_down(self, td: TearDown) -> None:
        """A failed teardown never leaves the session pending: stopped if its services are gone."""
        if td.services_stopped:
            stopped = td.session.model_copy(update={"status": SessionStatus.STOPPED, "processes": {}})
            self.ws.store.commit_session(stopped, td.op_id)
        else:
            self.ws.store.finish_operation(td.op_id, "failed")

    # -- recover --------------------------------------------------------------------------------
    def recover(self, events: EventSink | None = None, *, only_slug: str | None = None) -> RecoveryReport:
        """Replay the pending undo steps of operations whose owner died (or whose rollback failed)."""
        sink = events or NullSink()
        report = RecoveryReport(operations=[], undone=[], remaining=0)
        for op in self.ws.store.abandoned_operations():
            if only_slug is not None and op.slug != only_slug:
                continue
            if self.ws.store.take_over(op.op_id) is None:
                continue
            entries = [
                (e.id, UndoStep(e.kind, e.args, e.description))
                for e in self.ws.store.journal(op.op_id)
                if e.state in ("intent", "done", "failed")
            ]
            guard = RollbackGuard.resume(
                op.op_id, entries, self.ws.store, self.registry, _undo_listener(sink, op.slug, op.op_id)
            )
            results = guard.rollback()
            failed = [r for r in results if not r.ok]
            self.ws.store.finish_operation(
                op.op_id, "needs_recovery" if failed else "rolled_back", keep_journal=bool(failed)
            )
            report.operations.append(op.op_id)
            report.undone.extend(
                UndoOutcome(
                    op_id=op.op_id,
                    slug=op.slug,
                    step=r.step.description,
                    state="undone" if r.ok else "failed",
                    detail=r.error,
                )
                for r in results
            )
            report.remaining += len(failed)
            sink.session_changed(op.slug)
        return report


def _pending_session(slug: str, branch: str, mode: str, worktree: Path) -> Callable[[int], SessionRecord]:
    def make(slot: int) -> SessionRecord:
        return SessionRecord(
            slug=slug,
            branch=branch,
            mode=mode,
            slot=slot,
            status=SessionStatus.PENDING,
            worktree_path=str(worktree),
            worktree_owned=False,
            env_file=str(worktree / ".env.berth"),
        )

    return make


def _first_undo(slug: str) -> Callable[[SessionRecord | None, str], UndoStep]:
    """What undoes the claim itself: forget a new session, or put an existing one back as it was."""

    def undo_for(previous: SessionRecord | None, op_id: str) -> UndoStep:
        return undo.forget_session(slug, op_id) if previous is None else undo.restore_session(previous, op_id)

    return undo_for


def _undo_listener(
    sink: EventSink, slug: str, op_id: str
) -> Callable[[UndoStep, UndoState, str | None], None]:
    def listener(step: UndoStep, state: UndoState, detail: str | None) -> None:
        sink.undo(slug, op_id, step, state, detail)

    return listener


def _check_request(config: BerthConfig, request: UpRequest) -> None:
    known = [s.name for s in config.services] or ["app"]
    for name in [*request.ports, *(request.services or [])]:
        if name not in known:
            raise BerthError(
                ErrorCode.UNKNOWN_SERVICE,
                f"unknown service {name!r}; berth.toml defines: {', '.join(known)}",
                "use one of the defined service names",
            )
    docker = [s.name for s in config.docker_services if s.name in (request.services or [])]
    if docker:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            f"--services chooses among native services; {', '.join(map(repr, docker))} "
            f"{'is a docker service' if len(docker) == 1 else 'are docker services'}, "
            "which always start with their compose group",
            "drop docker services from --services",
        )
    for name, port in request.ports.items():
        if not 1 <= port <= 65535:
            raise BerthError(
                ErrorCode.INVALID_ARGUMENT,
                f"port {port} for {name!r} is out of range",
                "use a port between 1 and 65535",
            )


def _not_found(slug: str) -> BerthError:
    return BerthError(
        ErrorCode.SESSION_NOT_FOUND,
        f"session {slug!r} not found",
        "run `berth ls` to see the sessions of this repository",
    )
