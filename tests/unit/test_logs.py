"""The pieces of `berth logs`: the bounded queue, durations, docker timestamps, log-file reading."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from berth.adapters.docker_engine import split_timestamp
from berth.adapters.logfiles import FileFollower, read_last_lines
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.logs import BoundedLineQueue, LogLine, parse_duration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def line(n: int, service: str = "web") -> LogLine:
    return LogLine(service, NOW, f"line {n}")


def texts(lines: list[LogLine]) -> list[str]:
    return [x.text if not x.skipped else f"<skipped {x.skipped}>" for x in lines]


def test_queue_passes_lines_in_order_when_the_consumer_keeps_up() -> None:
    q = BoundedLineQueue(capacity=3)
    for n in range(3):
        assert q.put(line(n))
    assert texts(q.take(timeout=0)) == ["line 0", "line 1", "line 2"]
    assert q.take(timeout=0) == [] and q.skipped_total == 0


def test_a_full_queue_drops_and_marks_the_gap_before_the_next_line() -> None:
    q = BoundedLineQueue(capacity=2)
    results = [q.put(line(n)) for n in range(5)]
    assert results == [True, True, False, False, False]
    assert len(q) == 2, "never more than capacity lines wait"
    assert texts(q.take(timeout=0, limit=1)) == ["line 0"]
    q.put(line(5))  # there is room again: the marker goes first, where the dropped lines were
    assert texts(q.take(timeout=0)) == ["line 1", "<skipped 3>", "line 5"]
    assert q.skipped_total == 3


def test_a_gap_at_the_end_is_marked_when_the_consumer_catches_up() -> None:
    q = BoundedLineQueue(capacity=1)
    for n in range(4):
        q.put(line(n))
    taken = q.take(timeout=0)
    assert texts(taken) == ["line 0", "<skipped 3>"]
    assert taken[-1].service == "" and "3 lines skipped" in taken[-1].text
    assert q.take(timeout=0) == []


def test_a_slow_consumer_sees_every_line_or_a_count_of_the_missing_ones() -> None:
    q = BoundedLineQueue(capacity=50)
    produced = 20_000

    def produce() -> None:
        for n in range(produced):
            q.put(line(n))

    writer = threading.Thread(target=produce)
    writer.start()
    seen: list[LogLine] = []
    while writer.is_alive() or len(q):
        seen += q.take(timeout=0.01, limit=5)
        assert len(q) <= 50
    writer.join()
    seen += q.take(timeout=0)
    real = [x for x in seen if not x.skipped]
    assert len(real) + sum(x.skipped for x in seen) == produced, "each line is delivered or counted"
    numbers = [int(x.text.split()[1]) for x in real]
    assert numbers == sorted(numbers), "what is delivered keeps its order"


def test_take_waits_for_a_line() -> None:
    q = BoundedLineQueue()
    threading.Timer(0.05, lambda: q.put(line(1))).start()
    assert texts(q.take(timeout=5)) == ["line 1"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("500ms", 0.5), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "5x", "-5m", "0s", "5m junk", "m5"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(BerthError) as info:
        parse_duration(text)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT and "10s, 5m, 2h" in info.value.hint


def test_docker_timestamps_keep_microseconds_and_the_text() -> None:
    when, text = split_timestamp("2026-05-01T12:00:01.123456789Z hello world \r")
    assert when == datetime(2026, 5, 1, 12, 0, 1, 123456, tzinfo=UTC)
    assert text == "hello world "
    when, text = split_timestamp("2026-05-01T14:00:01+02:00 x")
    assert when == datetime(2026, 5, 1, 12, 0, 1, tzinfo=UTC) and text == "x"


def test_last_lines_leave_a_partial_line_for_the_follower(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    log.write_bytes(b"".join(b"line %d\n" % n for n in range(10_000)) + b"part")
    snap = read_last_lines(log, 3)
    assert snap.lines == ["line 9997", "line 9998", "line 9999"]
    assert snap.written is not None
    follower = FileFollower(log, snap.offset)
    with log.open("ab") as f:
        f.write(b"ial\nnext\n")
    assert follower.poll() == ["partial", "next"]
    assert read_last_lines(log, None).lines[:2] == ["line 0", "line 1"]
    assert read_last_lines(log, 0).lines == []
    assert read_last_lines(tmp_path / "missing.log", 5) == read_last_lines(tmp_path / "missing.log", None)


def test_follower_rereads_a_truncated_file_and_waits_for_a_missing_one(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    follower = FileFollower(log, 0)
    assert follower.poll() == []
    log.write_bytes(b"first run\nsecond line\n")
    assert follower.poll() == ["first run", "second line"]
    log.write_bytes(b"restarted\n")  # the service restarted: its log was rewritten
    assert follower.poll() == ["restarted"]
    with log.open("ab") as f:
        f.write(b"no newline yet")
    assert follower.poll() == []
    assert follower.flush() == ["no newline yet"]
