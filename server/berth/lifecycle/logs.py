"""A session's logs: native services' from their log files, docker services' from the engine,
interleaved by time; read once, or followed until cancelled or until the session goes down.

Times: a docker line carries the engine's timestamp. A native log file has no timestamps, so a line
already in the file is dated by the file's last write (an upper bound; `since` keeps or drops a
native file as a whole by it), and a line that appears while following is dated when the follower
reads it (it polls every 0.1 s). Lines read at once are sorted by time (stable: one file's lines
keep their order); followed lines go out as they are read.

Following is bounded: readers (a thread polling the files, a thread per container stream) put
lines into a `BoundedLineQueue`; the caller's thread takes them and hands them to `emit`. When
`emit` is slower than the services write, the queue fills, lines are dropped, and the consumer gets
one "… N lines skipped" marker where they were."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from berth.adapters import docker_engine, logfiles
from berth.domain.cancel import NEVER_CANCELLED, CancelToken
from berth.domain.engine_endpoint import LOCAL_ENGINE, Endpoint
from berth.domain.errors import BerthError, ErrorCode, session_not_found
from berth.domain.logs import DEFAULT_QUEUE_LINES, BoundedLineQueue, FollowEnd, LogLine
from berth.domain.models import SessionStatus
from berth.domain.records import SessionRecord
from berth.domain.slug import resolve_session_ref
from berth.lifecycle.workspace import Workspace
from berth.modes.compose.project import compose_record
from berth.modes.registry import mode_family

if TYPE_CHECKING:
    from docker import DockerClient

_JOIN_SECONDS = 2.0


@dataclass(frozen=True)
class LogRequest:
    slug: str
    """The session's slug (or its branch name)."""
    services: Sequence[str] = ()
    """Only these services (default: every service of the session)."""
    tail: int | None = None
    """The last N lines of each service (default: all)."""
    since: timedelta | None = None
    """Only lines from this long ago on."""


@dataclass(frozen=True)
class FollowOutcome:
    ended: FollowEnd
    message: str
    skipped: int


@dataclass(frozen=True)
class NativeLog:
    service: str
    path: Path


@dataclass(frozen=True)
class DockerLog:
    service: str
    selector: list[str]
    """Label filters of the session's containers."""


@dataclass
class _Sources:
    slug: str
    native: list[NativeLog]
    docker: list[DockerLog]
    engine: Endpoint = LOCAL_ENGINE
    """The engine the session's containers are on."""

    @property
    def several(self) -> bool:
        return len(self.native) + len(self.docker) > 1


def resolve_sources(ws: Workspace, request: LogRequest) -> _Sources:
    slug = resolve_session_ref(request.slug)
    record = ws.store.get_session(slug)
    if record is None:
        raise session_not_found(slug)
    views = mode_family(record.mode).service_views(record, None)
    known = [v.name for v in views]
    unknown = [name for name in request.services if name not in known]
    if unknown:
        raise BerthError(
            ErrorCode.UNKNOWN_SERVICE,
            f"session {slug!r} has no service {unknown[0]!r}; its services: {', '.join(known) or 'none'}",
            "name one of the session's services, or none for all of them",
            service=unknown[0],
            known=known,
        )
    wanted = set(request.services) or set(known)
    compose = compose_record(record)
    native = [
        NativeLog(v.name, Path(v.log_path) if v.log_path else ws.layout.log_path(slug, v.name))
        for v in views
        if v.kind == "native" and v.name in wanted
    ]
    docker = [
        DockerLog(v.name, compose.selector)
        for v in views
        if v.kind == "docker" and v.name in wanted and compose is not None
    ]
    return _Sources(slug, native, docker, record.endpoint)


def _cutoff(since: timedelta | None) -> datetime | None:
    return None if since is None else datetime.now(UTC) - since


@dataclass
class _ContainerCursor:
    """Where a container's log was read up to: a follow resumes after it."""

    service: str
    last: datetime | None = None
    after: float | None = None
    """Without a last line: the UNIX time the snapshot was taken (what came before was left out)."""
    reader: threading.Thread | None = None
    stream: docker_engine.ContainerLogs | None = None


@dataclass
class _Snapshot:
    lines: list[LogLine]
    offsets: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, _ContainerCursor] = field(default_factory=dict)


class SessionLogs:
    """Reads and follows one repository's session logs; knows nothing of the CLI or JSON-RPC."""

    def __init__(
        self,
        ws: Workspace,
        *,
        queue_lines: int = DEFAULT_QUEUE_LINES,
        poll_seconds: float = 0.1,
        state_seconds: float = 0.25,
        rescan_seconds: float = 1.0,
    ) -> None:
        self.ws = ws
        self.queue_lines = queue_lines
        self.poll_seconds = poll_seconds
        self.state_seconds = state_seconds
        self.rescan_seconds = rescan_seconds

    def several_services(self, request: LogRequest) -> bool:
        """Whether the lines come from more than one service (a frontend then prefixes them)."""
        return resolve_sources(self.ws, request).several

    # -- read -----------------------------------------------------------------------------------
    def read(self, request: LogRequest) -> list[LogLine]:
        """The last lines of the session's services, interleaved by time."""
        return self._snapshot(resolve_sources(self.ws, request), request).lines

    def _snapshot(self, sources: _Sources, request: LogRequest) -> _Snapshot:
        cutoff = _cutoff(request.since)
        snap = _Snapshot(lines=[])
        for log in sources.native:
            found = logfiles.read_last_lines(log.path, request.tail)
            snap.offsets[log.service] = found.offset
            if found.written is None or (cutoff is not None and found.written < cutoff):
                continue
            snap.lines += [LogLine(log.service, found.written, text) for text in found.lines]
        if sources.docker:
            with docker_engine.connect(sources.engine) as client:
                for docker_log in sources.docker:
                    for container in _service_containers(client, docker_log):
                        cursor = _ContainerCursor(docker_log.service, after=time.time())
                        snap.cursors[container.id] = cursor
                        stream = docker_engine.container_logs(
                            client,
                            container.id,
                            tail=request.tail,
                            since=cutoff.timestamp() if cutoff else None,
                            follow=False,
                        )
                        for when, text in stream:
                            snap.lines.append(LogLine(docker_log.service, when, text))
                            cursor.last = when
        snap.lines.sort(key=lambda line: line.time)
        return snap

    # -- follow ---------------------------------------------------------------------------------
    def follow(
        self,
        request: LogRequest,
        emit: Callable[[list[LogLine]], None],
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> FollowOutcome:
        """Emit the last lines, then every new one, until `cancel` fires or the session goes down
        (its row leaves the state file or it is stopped). `emit` runs on the calling thread; while
        it is slow, at most `queue_lines` lines wait and the rest are dropped (and counted)."""
        sources = resolve_sources(self.ws, request)
        snap = self._snapshot(sources, request)
        follower = _Follower(self, sources, snap)
        try:
            if snap.lines:
                emit(snap.lines)
            follower.start()
            return follower.run(emit, cancel)
        finally:
            follower.stop()


def _service_containers(client: DockerClient, log: DockerLog) -> list[docker_engine.Container]:
    return [c for c in docker_engine.containers(client, log.selector) if c.service == log.service]


class _Follower:
    def __init__(self, logs: SessionLogs, sources: _Sources, snap: _Snapshot) -> None:
        self.logs = logs
        self.sources = sources
        self.queue = BoundedLineQueue(logs.queue_lines)
        self.cursors = snap.cursors
        self.files = {
            log.service: logfiles.FileFollower(log.path, snap.offsets.get(log.service, 0))
            for log in sources.native
        }
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._lock = threading.Lock()

    # readers ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.files:
            self._poller = threading.Thread(target=self._poll_files, name="berth-logs-files", daemon=True)
            self._poller.start()
        self._rescan()

    def _poll_files(self) -> None:
        while True:
            stopping = self._stop.wait(self.logs.poll_seconds)
            self._read_files(final=stopping)
            if stopping:
                return

    def _read_files(self, *, final: bool) -> None:
        for service, follower in self.files.items():
            texts = follower.poll()
            if final:
                texts += follower.flush()
            now = datetime.now(UTC)
            for text in texts:
                self.queue.put(LogLine(service, now, text))

    def _rescan(self) -> None:
        """Follow every running container of the session that no reader follows yet (a container
        that started, or restarted, since the last look)."""
        if not self.sources.docker:
            return
        try:
            with docker_engine.connect(self.sources.engine) as client:
                found = [(d, c) for d in self.sources.docker for c in _service_containers(client, d)]
        except BerthError:
            return  # the engine is away for a moment: look again next time
        for docker_log, container in found:
            cursor = self.cursors.setdefault(container.id, _ContainerCursor(docker_log.service))
            alive = cursor.reader is not None and cursor.reader.is_alive()
            if alive or container.state != "running" or self._stop.is_set():
                continue
            since = cursor.last.timestamp() if cursor.last else cursor.after
            cursor.reader = threading.Thread(
                target=self._read_container,
                args=(container.id, cursor, since),
                name=f"berth-logs-{container.name}",
                daemon=True,
            )
            cursor.reader.start()

    def _read_container(self, container_id: str, cursor: _ContainerCursor, since: float | None) -> None:
        try:
            with docker_engine.connect(self.sources.engine, timeout=None) as client:
                stream = docker_engine.container_logs(
                    client, container_id, tail=None, since=since, follow=True
                )
                with self._lock:
                    if self._stop.is_set():
                        stream.close()
                        return
                    cursor.stream = stream
                for when, text in stream:
                    if cursor.last is not None and when <= cursor.last:
                        continue  # already read (the engine's `since` is inclusive)
                    cursor.last = when
                    self.queue.put(LogLine(cursor.service, when, text))
        except Exception:  # the container went away, or the stream was closed: this reader ends
            return
        finally:
            cursor.stream = None

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            streams = [c.stream for c in self.cursors.values() if c.stream is not None]
        for stream in streams:
            stream.close()
        if self._poller is not None:
            self._poller.join(_JOIN_SECONDS)
        for cursor in self.cursors.values():
            if cursor.reader is not None:
                cursor.reader.join(_JOIN_SECONDS)

    # the consumer -------------------------------------------------------------------------------
    def run(self, emit: Callable[[list[LogLine]], None], cancel: CancelToken) -> FollowOutcome:
        logs = self.logs
        next_state = next_scan = time.monotonic()
        while True:
            batch = self.queue.take(timeout=logs.poll_seconds)
            if batch:
                emit(batch)
            if cancel.cancelled:
                return self._outcome("cancelled", "stopped following: cancelled")
            now = time.monotonic()
            if now >= next_state:
                next_state = now + logs.state_seconds
                gone = self._session_gone()
                if gone is not None:
                    self._drain(emit)
                    return self._outcome("sessionDown", gone)
            if now >= next_scan:
                next_scan = now + logs.rescan_seconds
                self._rescan()

    def _session_gone(self) -> str | None:
        slug = self.sources.slug
        record: SessionRecord | None = self.logs.ws.store.get_session(slug)
        if record is None:
            return f"session {slug} went down; stopped following its logs"
        if record.status is SessionStatus.STOPPED:
            return f"session {slug} is stopped; stopped following its logs"
        return None

    def _drain(self, emit: Callable[[list[LogLine]], None]) -> None:
        """The session is down: its containers' streams end by themselves; take the last lines."""
        deadline = time.monotonic() + _JOIN_SECONDS
        for cursor in list(self.cursors.values()):
            if cursor.reader is not None:
                cursor.reader.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        if self._poller is not None:
            self._poller.join(_JOIN_SECONDS)
        while batch := self.queue.take(timeout=0):
            emit(batch)

    def _outcome(self, ended: FollowEnd, message: str) -> FollowOutcome:
        return FollowOutcome(ended=ended, message=message, skipped=self.queue.skipped_total)
