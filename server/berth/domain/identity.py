"""Which process a record means: a pid plus its start time (pure data, no pydantic: the CLI's fast
paths import this)."""

from __future__ import annotations

from dataclasses import dataclass

START_TIME_TOLERANCE = 0.01
"""Seconds two readings of one process's start time may differ by (the kernel's clock ticks)."""


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid plus its start time: a recycled pid never matches."""

    pid: int
    start_time: float

    def started_at(self, start_time: float) -> bool:
        """Whether a process that started at `start_time` is this one."""
        return abs(start_time - self.start_time) < START_TIME_TOLERANCE

    def started_no_earlier_than_me(self, start_time: float) -> bool:
        """A process that started at `start_time` can be this leader's child (not an older pid's)."""
        return start_time + START_TIME_TOLERANCE >= self.start_time


__all__ = ["START_TIME_TOLERANCE", "ProcessIdentity"]
