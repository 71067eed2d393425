"""Which family object runs each mode. Adding a mode: a module with its family, one line here.

The docker modes are imported when first used: their adapters (docker SDK, PyYAML) cost host mode
nothing."""

from __future__ import annotations

from collections.abc import Callable

from berth.domain.config import Mode
from berth.modes.protocol import SessionMode


def _host() -> SessionMode:
    from berth.modes.host import HOST

    return HOST


def _container() -> SessionMode:
    from berth.modes.container import CONTAINER

    return CONTAINER


def _hybrid() -> SessionMode:
    from berth.modes.hybrid import HYBRID

    return HYBRID


_FAMILIES: dict[Mode, Callable[[], SessionMode]] = {
    Mode.HOST: _host,
    Mode.CONTAINER: _container,
    Mode.HYBRID: _hybrid,
}


def mode_family(mode: Mode) -> SessionMode:
    return _FAMILIES[mode]()
