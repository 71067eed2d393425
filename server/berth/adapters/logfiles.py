"""Reading native services' log files: the last lines already there, and what is appended after
(following a file that the service may truncate when it restarts, or that does not exist yet)."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

_CHUNK = 64 * 1024
MAX_LINE_BYTES = 64 * 1024
"""A line longer than this is cut into pieces of this size (a service printing without newlines)."""


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


@dataclass(frozen=True)
class FileSnapshot:
    lines: list[str]
    written: datetime | None
    """The file's last modification, None when there is no file."""
    offset: int
    """Where the snapshot ended: a follower starts here, so nothing is lost or repeated."""


def read_last_lines(path: Path, limit: int | None) -> FileSnapshot:
    """The last `limit` complete lines (all with None) of the file; a last line without its newline
    yet is left for the follower."""
    try:
        with open(path, "rb") as f:
            stat = os.fstat(f.fileno())
            end = stat.st_size
            written = datetime.fromtimestamp(stat.st_mtime, UTC)
            data = f.read(end) if limit is None else _read_tail_bytes(f, end, limit)
    except FileNotFoundError:
        return FileSnapshot([], None, 0)
    complete, sep, partial = data.rpartition(b"\n")
    if not sep:  # no complete line yet: the follower starts at the partial one
        return FileSnapshot([], written, end - len(data))
    pieces = [p for raw in complete.split(b"\n") for p in _cut(raw)]
    if limit is not None:
        pieces = pieces[-limit:] if limit else []
    return FileSnapshot([_decode(p) for p in pieces], written, end - len(partial))


def _read_tail_bytes(f: BinaryIO, end: int, limit: int) -> bytes:
    """Enough of the file's end to hold `limit` lines (read backwards in chunks)."""
    pos, data = end, b""
    while pos > 0 and data.count(b"\n") <= limit:
        step = min(_CHUNK, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step) + data
    return data


def _cut(raw: bytes) -> list[bytes]:
    if len(raw) <= MAX_LINE_BYTES:
        return [raw]
    return [raw[i : i + MAX_LINE_BYTES] for i in range(0, len(raw), MAX_LINE_BYTES)]


class FileFollower:
    """New complete lines of a file since `offset`, one `poll` at a time. A file that shrinks was
    truncated (the service was restarted: its log is rewritten from the start) and is read again
    from its beginning; a file that does not exist yet is waited for."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        self._partial = b""

    def poll(self, max_bytes: int = 1 << 20) -> list[str]:
        """At most about `max_bytes` per call, so one chatty file cannot starve the others."""
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self.offset:
                    self.offset, self._partial = 0, b""
                if size == self.offset:
                    return []
                f.seek(self.offset)
                data = f.read(min(size - self.offset, max_bytes))
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self._partial + data
        complete, sep, self._partial = data.rpartition(b"\n")
        if not sep:
            complete, self._partial = b"", data
        lines = deque(p for raw in complete.split(b"\n") for p in _cut(raw)) if sep else deque[bytes]()
        if len(self._partial) > MAX_LINE_BYTES:
            lines.append(self._partial[:MAX_LINE_BYTES])
            self._partial = self._partial[MAX_LINE_BYTES:]
        return [_decode(p) for p in lines]

    def flush(self) -> list[str]:
        """A last line the service wrote without its newline (when following ends)."""
        rest, self._partial = self._partial, b""
        return [_decode(rest)] if rest else []
