"""Which step list each mode runs."""

from __future__ import annotations

from berth.bringup import Step
from berth.config import Mode
from berth.errors import BerthError, ErrorCode
from berth.modes import host


def up_steps(mode: Mode) -> list[Step]:
    if mode is Mode.HOST:
        return host.UP_STEPS
    raise BerthError(
        ErrorCode.CONFIG_INVALID,
        f"mode {mode.value!r} is not available in this version of berth",
        'set mode = "host" in berth.toml',
    )
