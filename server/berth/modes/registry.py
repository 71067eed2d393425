"""Which step lists each mode runs, and what it checks before anything is created."""

from __future__ import annotations

from berth.bringup import Step
from berth.config import BerthConfig, Mode
from berth.errors import BerthError, ErrorCode
from berth.modes import host
from berth.teardown import HOST_DOWN_STEPS, DownStep

# The docker modes are imported when used: their adapters (docker SDK, PyYAML) cost host mode nothing.


def up_steps(mode: Mode) -> list[Step]:
    if mode is Mode.HOST:
        return host.UP_STEPS
    if mode is Mode.CONTAINER:
        from berth.modes import container

        return container.UP_STEPS
    from berth.modes import hybrid

    return hybrid.UP_STEPS


def down_steps(recorded_mode: str) -> list[DownStep]:
    """Teardown follows the mode the session was brought up in, whatever berth.toml says now."""
    try:
        mode = Mode(recorded_mode)
    except ValueError as exc:
        raise BerthError(
            ErrorCode.STATE_CORRUPT,
            f"the session was recorded with an unknown mode {recorded_mode!r}",
            "upgrade berth, or remove the session's resources by hand and its row from .berth/state.db",
        ) from exc
    if mode is Mode.HOST:
        return HOST_DOWN_STEPS
    if mode is Mode.CONTAINER:
        from berth.modes import container

        return container.DOWN_STEPS
    from berth.modes import hybrid

    return hybrid.DOWN_STEPS


def preflight(config: BerthConfig) -> None:
    """Checks that must pass before a reservation: a docker mode needs an engine and compose v2."""
    if config.mode is not Mode.HOST:
        from berth import docker_steps

        docker_steps.preflight(config)
