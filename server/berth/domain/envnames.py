"""The names of the environment variables Berth gives a session, derived in one place."""

from __future__ import annotations

import re

_NOT_ENV_CHAR = re.compile(r"[^A-Z0-9]")
MARKER_ENV = "BERTH_PROCESS_MARKER"
"""Set in every process Berth starts, so a crashed operation's children can still be found."""


def port_env_name(service: str) -> str:
    """`my-api` -> `BERTH_MY_API_PORT`: the variable holding a service's allocated port."""
    return f"BERTH_{_NOT_ENV_CHAR.sub('_', service.upper())}_PORT"


def session_identity_env(slug: str, slot: int, mode: str) -> dict[str, str]:
    """What every hook and service learns about its session."""
    return {"BERTH_SLUG": slug, "BERTH_SLOT": str(slot), "BERTH_MODE": mode}
