"""Polling until something becomes true: the one deadline loop the tests share.

``wait_until`` for plain tests and ``wait_until_async`` for the RPC tests (it sleeps with
``asyncio.sleep``, so the event loop keeps serving the client meanwhile). Both return the predicate's
first truthy value, so a wait can also fetch what it waited for, and raise AssertionError naming
``what`` and the timeout when it never comes; ``detail``, when given, is called then and its output
added to the message (a process's stderr, the containers found, ...). A predicate may itself raise
(an AssertionError when the process it waits on died, say): that ends the wait at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _timed_out(what: str, timeout: float, detail: Callable[[], object] | None) -> AssertionError:
    message = f"timed out after {timeout:g} s waiting for {what}"
    if detail is not None:
        try:
            extra = detail()
        except Exception as exc:  # diagnosis must not hide the timeout itself
            extra = f"(detail failed: {exc!r})"
        message += f"\n{extra}"
    return AssertionError(message)


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
    detail: Callable[[], object] | None = None,
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, detail)
        time.sleep(interval)


async def wait_until_async(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
    detail: Callable[[], object] | None = None,
) -> T:
    """``wait_until`` for coroutines: sleeps with ``asyncio.sleep`` between calls."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, detail)
        await asyncio.sleep(interval)
