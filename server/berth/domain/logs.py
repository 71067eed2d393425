"""Log lines as clients see them (CLI `--json`, `berth/logs`), the `--since` duration syntax, and the
bounded queue between log readers and a sender that may be slower than they are."""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field

from berth.domain.errors import BerthError, ErrorCode
from berth.domain.models import WireModel

DEFAULT_QUEUE_LINES = 1000
"""How many lines a follower buffers between its readers and its sender before it drops lines."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> timedelta:
    """`10s`, `5m`, `2h`, `1d`, `1h30m`, `500ms`: a duration back from now. INVALID_ARGUMENT otherwise."""
    spec = text.strip().lower()
    pos, seconds = 0, 0.0
    for match in _DURATION.finditer(spec):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not spec or pos != len(spec) or seconds <= 0:
        raise BerthError(
            ErrorCode.INVALID_ARGUMENT,
            f"invalid duration {text!r} for since",
            "give a positive number with a unit: 10s, 5m, 2h, 1d (or combined, like 1h30m)",
            since=text,
        )
    return timedelta(seconds=seconds)


def format_time(when: datetime) -> str:
    """ISO 8601 in UTC with microseconds: `2026-05-01T12:00:00.123456Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LogLine:
    service: str
    """The berth.toml / compose service the line came from; "" for a skipped-lines marker."""
    time: datetime
    """Docker: the engine's timestamp. Native: the file's last write (a snapshot) or the moment the
    follower read the line (within its 0.1 s poll of the write)."""
    text: str
    skipped: int = 0
    """A marker, not a line: this many lines were dropped here because the sender fell behind."""

    def to_view(self) -> LogLineView:
        return LogLineView(
            service=self.service, time=format_time(self.time), text=self.text, skipped=self.skipped or None
        )


def skipped_marker(count: int) -> LogLine:
    noun = "line" if count == 1 else "lines"
    return LogLine(
        service="",
        time=datetime.now(UTC),
        text=f"… {count} {noun} skipped (the reader of these logs fell behind)",
        skipped=count,
    )


class LogLineView(WireModel):
    service: str = Field(description='The service the line came from; "" for a skipped-lines marker.')
    time: str = Field(
        description="ISO 8601 UTC. Docker: the engine's timestamp. Native: the log file's last write "
        "(when reading what is already there) or when the follower read the line (following)."
    )
    text: str = Field(description="The line, without its newline.")
    skipped: int | None = Field(
        default=None,
        description="Present on a marker: this many lines were dropped here because the client read "
        "more slowly than the services wrote.",
    )


FollowEnd = Literal["sessionDown", "cancelled"]


class LogsResult(WireModel):
    lines: list[LogLineView] = Field(
        description="The last lines, interleaved by time (with follow: empty, the lines went as berth/logLine)."
    )
    ended: FollowEnd | None = Field(
        default=None, description="With follow: why following ended (the session went down, or cancelled)."
    )
    message: str | None = Field(default=None, description="With follow: the same, in words.")
    skipped: int | None = Field(
        default=None, description="With follow: how many lines were dropped because the client fell behind."
    )


class BoundedLineQueue:
    """Readers `put` lines from their threads and never block; one consumer takes them in order.

    At most `capacity` lines wait. A line put while the queue is full is dropped and counted; the
    count goes out as one skipped-lines marker in the place of the dropped lines (before the next
    line that fits, or when the consumer has taken everything), so the consumer sees the gap."""

    def __init__(self, capacity: int = DEFAULT_QUEUE_LINES) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: deque[LogLine] = deque()
        self._pending_skip = 0
        self.skipped_total = 0
        self._cond = threading.Condition()

    def put(self, line: LogLine) -> bool:
        """False when the line was dropped."""
        with self._cond:
            if len(self._items) >= self.capacity:
                self._pending_skip += 1
                self.skipped_total += 1
                return False
            if self._pending_skip:
                self._items.append(skipped_marker(self._pending_skip))
                self._pending_skip = 0
            self._items.append(line)
            self._cond.notify()
            return True

    def take(self, timeout: float, limit: int = 500) -> list[LogLine]:
        """Up to `limit` lines (and markers) in order, waiting up to `timeout` for the first."""
        with self._cond:
            if not self._items and not self._pending_skip:
                self._cond.wait(timeout)
            out: list[LogLine] = []
            while self._items and len(out) < limit:
                out.append(self._items.popleft())
            if not self._items and self._pending_skip:
                out.append(skipped_marker(self._pending_skip))
                self._pending_skip = 0
            return out

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
