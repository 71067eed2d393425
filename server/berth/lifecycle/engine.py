"""The engine: `up`, `down`, `status`, `list` and `recover` for one repository.

It takes plain request objects, an event sink and a cancellation token, and knows nothing about the
CLI or JSON-RPC that drive it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from berth.adapters import docker_endpoint
from berth.adapters.process_table import HostSnapshot
from berth.domain.cancel import NEVER_CANCELLED, CancelToken
from berth.domain.config import BerthConfig
from berth.domain.engine_endpoint import Endpoint
from berth.domain.errors import (
    BerthError,
    ErrorCode,
    Remedy,
    RemedyAction,
    record_incomplete_rollback,
    session_not_found,
)
from berth.domain.events import EventSink, NullSink
from berth.domain.layout import env_file
from berth.domain.models import (
    DownPlan,
    RecoveryReport,
    ResourceRef,
    SessionStatus,
    SessionView,
    TeardownReceipt,
    UndoOutcome,
)
from berth.domain.records import OperationKind, OperationStatus, SessionRecord, utcnow
from berth.domain.slug import resolve_session_ref, slug_for_branch
from berth.domain.undo import UndoState, UndoStep
from berth.lifecycle.listing import host_rows
from berth.lifecycle.undo import build_registry
from berth.lifecycle.views import detailed_view, session_view
from berth.lifecycle.workspace import Workspace
from berth.modes import undo
from berth.modes.context import BringUp, DownRequest, Step, TearDown, UpRequest
from berth.modes.protocol import SessionMode
from berth.modes.registry import mode_family
from berth.state.rollback import RollbackGuard, UndoResult
from berth.state.store import Reservation, StaleOperation

__all__ = ["DownRequest", "Engine", "UpRequest"]


class Engine:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.registry = build_registry(ws.store, ws.worktrees)
        self._list_cache: tuple[int, list[dict[str, object]]] | None = None

    # -- queries --------------------------------------------------------------------------------
    def list_sessions(self) -> list[SessionView]:
        return [session_view(s) for s in self.ws.store.list_sessions()]

    def list_wire(self) -> list[dict[str, object]]:
        """`list_sessions` in wire shape, kept while the store's revision (bumped by a trigger on
        every change to the sessions table) stays the same: a list of unchanged rows costs one query.
        The revision is read first, so rows read after a concurrent write are cached under the older
        revision and recomputed on the next call. Callers must not modify the result."""
        revision = self.ws.store.revision()
        cached = self._list_cache
        if cached is None or cached[0] != revision:
            cached = (revision, [view.to_wire() for view in self.list_sessions()])
            self._list_cache = cached
        return cached[1]

    def status_wire(self, ref: str | None = None) -> list[dict[str, object]]:
        """`status` in wire shape. For every session (no `ref`) of host mode, straight from the
        state file's rows without validating them into models (lifecycle/listing.py, which gives
        way to `status` for anything else)."""
        if ref is None:
            rows = host_rows(self.ws.layout.state_file, live=True)
            if rows is not None:
                return rows
        return [view.to_wire() for view in self.status(ref)]

    def status(self, ref: str | None = None) -> list[SessionView]:
        """Live health; for one session also the user's uncommitted changes in its worktree."""
        if ref is None:
            host = HostSnapshot.take()
            return [session_view(r, host) for r in self.ws.store.list_sessions()]
        slug = resolve_session_ref(ref)
        found = self.ws.store.get_session(slug)
        if found is None:
            raise session_not_found(slug)
        try:
            inherited = [e.file for e in self.ws.config().inherit_entries]
        except BerthError:
            inherited = []
        return [detailed_view(found, HostSnapshot.take(), root=self.ws.root, inherited=inherited)]

    # -- up -------------------------------------------------------------------------------------
    def up(
        self, request: UpRequest, cancel: CancelToken = NEVER_CANCELLED, events: EventSink | None = None
    ) -> SessionView:
        sink = events or NullSink()
        config = self.ws.config()
        slug = slug_for_branch(request.branch)
        _check_request(config, request)
        family = mode_family(config.mode)
        existing = self.ws.store.get_session(slug)
        # e.g. DOCKER_UNAVAILABLE, before anything is reserved or created; a docker mode's engine,
        # resolved once here (or the one the session recorded) and recorded in the session
        endpoint = family.preflight(config, context=request.context, recorded=existing)
        moved = endpoint is not None and request.context and existing is not None and existing.engine
        if moved and endpoint.host != docker_endpoint.resolve(flag=request.context).host:  # type: ignore[union-attr]
            raise BerthError(
                ErrorCode.INVALID_ARGUMENT,
                f"session {slug!r} runs on {existing.endpoint.describe()}, not on docker context "  # type: ignore[union-attr]
                f"{request.context!r}",
                "take it down first to move it to another engine, or leave --context out",
                remedies=(Remedy(RemedyAction.DOWN, {"slug": slug}),),
            )
        if existing is not None and existing.mode is not config.mode:
            raise BerthError(
                ErrorCode.MODE_MISMATCH,
                f"session {slug!r} runs in {existing.mode} mode, but berth.toml now says {config.mode}",
                "take it down (teardown follows the recorded mode), then bring the branch up again",
                remedies=(
                    Remedy(RemedyAction.DOWN, {"slug": slug}),
                    Remedy(RemedyAction.UP, {"branch": request.branch}),
                ),
                recorded_mode=existing.mode.value,
                configured_mode=config.mode.value,
            )
        cancel.check()

        new_session = _pending_session(
            slug, request.branch, config, self.ws.layout.worktree_path(config.worktree_dir, slug), endpoint
        )
        reservation = self._reserve(
            slug,
            lambda: self.ws.store.reserve(
                slug=slug,
                branch=request.branch,
                kind=OperationKind.UP,
                max_slots=config.max_slots,
                new_session=new_session,
                undo_for=undo.undo_claim(slug),
            ),
            sink,
        )
        steps = family.up_steps
        total = len(steps) + 1
        sink.progress(slug, "reserve slot", 1, total)
        sink.session_changed(slug)
        op_id = reservation.operation.op_id
        guard = RollbackGuard.resume(
            op_id, [reservation.first_undo], self.ws.store, self.registry, _undo_listener(sink, slug, op_id)
        )
        ctx = BringUp(
            layout=self.ws.layout,
            store=self.ws.store,
            worktrees=self.ws.worktrees,
            config=config,
            request=request,
            session=reservation.session.model_copy(deep=True),
            previous=reservation.previous,
            op_id=op_id,
            guard=guard,
            cancel=cancel,
            events=sink,
        )
        try:
            with guard:
                final = self._run_steps(ctx, family, reservation)
                guard.disarm()
        except BaseException as exc:
            self._settle_failed(op_id, guard.results, exc)
            raise
        finally:
            sink.session_changed(slug)
        return session_view(final)

    def _run_steps(self, ctx: BringUp, family: SessionMode, reservation: Reservation) -> SessionRecord:
        """Run the mode's steps (nothing when a resumed session is already whole) and commit."""
        steps: Sequence[Step] = family.up_steps
        previous, slug, total = reservation.previous, ctx.slug, len(steps) + 1
        if previous is not None and previous.status is SessionStatus.ACTIVE and not family.has_work(ctx):
            ctx.log("all services already running; nothing to do")
        else:
            for index, (name, step) in enumerate(steps, start=2):
                ctx.cancel.check()
                ctx.events.progress(slug, name, index, total)
                ctx.current_step = (name, index, total)
                step(ctx)
        ctx.cancel.check()
        final = ctx.session.model_copy(update={"status": SessionStatus.ACTIVE})
        if previous is None or previous.status is SessionStatus.STOPPED:
            final.started_at = utcnow()
        if not self.ws.store.commit_session(final, ctx.op_id):
            raise BerthError(
                ErrorCode.SESSION_BUSY,
                f"session {slug!r} was taken over by another command while it was being brought up",
                "what this up created was rolled back; bring the branch up again",
                remedies=(Remedy(RemedyAction.UP, {"branch": ctx.request.branch}),),
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
        """End a failed bring-up. When its rollback left something behind, the error says what
        remains (in `details.rollback.remaining`) and offers `recover`, which retries exactly that."""
        failures = [r for r in results if not r.ok]
        if not failures:
            self.ws.store.finish_operation(op_id, OperationStatus.ROLLED_BACK)
            return
        self.ws.store.finish_operation(op_id, OperationStatus.NEEDS_RECOVERY, keep_journal=True)
        record_incomplete_rollback(
            exc, [{"step": r.step.description, "kind": r.step.kind, "error": r.error} for r in failures]
        )

    # -- down -----------------------------------------------------------------------------------
    def plan_down(self, request: DownRequest) -> DownPlan:
        """What `down(request)` would remove and keep, and its blockers; changes nothing."""
        from berth.lifecycle.down_plan import plan_down

        return plan_down(self.ws, request)

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
                    if u.state is UndoState.UNDONE
                ],
                kept=[],
                warnings=[f"{u.step}: {u.detail}" for u in recovered.undone if u.state is UndoState.FAILED],
            )
        reservation = self._reserve(
            slug,
            lambda: self.ws.store.reserve_existing(slug, OperationKind.DOWN, undo.undo_claim(slug)),
            sink,
        )
        op_id = reservation.operation.op_id
        td = TearDown(
            layout=self.ws.layout,
            store=self.ws.store,
            worktrees=self.ws.worktrees,
            config=config,
            request=request,
            session=reservation.session,
            op_id=op_id,
            cancel=cancel,
            events=sink,
        )
        sink.session_changed(slug)
        steps = mode_family(
            reservation.session.mode
        ).down_steps  # the recorded mode, whatever berth.toml says
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
        if td.keeps_session:
            stopped = td.session.model_copy(update={"status": SessionStatus.STOPPED, "processes": {}})
            self.ws.store.commit_session(stopped, op_id)
            return td.receipt(stopped=True)
        self.ws.store.remove_session_and_finish(slug, op_id)
        td.removed.append(ResourceRef(kind="session", name=slug))
        return td.receipt(stopped=False)

    def _settle_interrupted_down(self, td: TearDown) -> None:
        """A failed teardown never leaves the session pending: stopped if its services are gone."""
        if td.services_stopped:
            stopped = td.session.model_copy(update={"status": SessionStatus.STOPPED, "processes": {}})
            self.ws.store.commit_session(stopped, td.op_id)
        else:
            self.ws.store.finish_operation(td.op_id, OperationStatus.FAILED)

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
                if e.state.pending
            ]
            guard = RollbackGuard.resume(
                op.op_id, entries, self.ws.store, self.registry, _undo_listener(sink, op.slug, op.op_id)
            )
            results = guard.rollback()
            failed = [r for r in results if not r.ok]
            self.ws.store.finish_operation(
                op.op_id,
                OperationStatus.NEEDS_RECOVERY if failed else OperationStatus.ROLLED_BACK,
                keep_journal=bool(failed),
            )
            report.operations.append(op.op_id)
            report.undone.extend(
                UndoOutcome(
                    op_id=op.op_id,
                    slug=op.slug,
                    step=r.step.description,
                    state=UndoState.UNDONE if r.ok else UndoState.FAILED,
                    detail=r.error,
                )
                for r in results
            )
            report.remaining += len(failed)
            sink.session_changed(op.slug)
        return report


def _pending_session(
    slug: str, branch: str, config: BerthConfig, worktree: Path, endpoint: Endpoint | None
) -> Callable[[int], SessionRecord]:
    def make(slot: int) -> SessionRecord:
        return SessionRecord(
            slug=slug,
            branch=branch,
            mode=config.mode,
            slot=slot,
            status=SessionStatus.PENDING,
            worktree_path=str(worktree),
            worktree_owned=False,
            env_file=str(env_file(worktree)),
            engine=None if endpoint is None else endpoint.to_dict(),
        )

    return make


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
                service=name,
                known=known,
            )
    docker = [s.name for s in config.docker_services if s.name in (request.services or [])]
    if docker:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            f"the services to start are chosen among native services; {', '.join(map(repr, docker))} "
            f"{'is a docker service' if len(docker) == 1 else 'are docker services'}, "
            "which always start with their compose group",
            "leave docker services out of the services to start",
            services=docker,
        )
    for name, port in request.ports.items():
        if not 1 <= port <= 65535:
            raise BerthError(
                ErrorCode.INVALID_ARGUMENT,
                f"port {port} for {name!r} is out of range",
                "use a port between 1 and 65535",
            )
