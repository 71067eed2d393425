"""The names of the environment variables Berth gives a session, derived in one place."""

from __future__ import annotations

import re

_NOT_ENV_CHAR = re.compile(r"[^A-Z0-9]")
MARKER_ENV = "BERTH_PROCESS_MARKER"
"""Set in every process Berth starts, so a crashed operation's children can still be found."""
_MARKER_ROOT = "@"


def process_marker(root: object, op_id: str, role: str) -> str:
    """`<op_id>/<role>@<root>`: the value of MARKER_ENV in what an operation starts (`role`:
    `service/web`, `hook/pre_up`, `compose/0`). The repository root in it lets `prune` find a
    repository's processes even after its state file was lost, and never another repository's."""
    return f"{op_id}/{role}{_MARKER_ROOT}{root}"


def marker_root(marker: str) -> str | None:
    """The repository root a marker names (None: a marker of an older berth, without one)."""
    _, sep, root = marker.partition(_MARKER_ROOT)  # op ids and roles never contain "@"
    return root if sep else None


def marker_op(marker: str) -> str:
    """The operation id a marker names."""
    return marker.partition("/")[0]


LOCAL_HOST = "127.0.0.1"
"""Where a session's services are reached from this machine: a native service's port, or a port a
local Docker engine publishes."""


def _service_env_name(service: str, what: str) -> str:
    return f"BERTH_{_NOT_ENV_CHAR.sub('_', service.upper())}_{what}"


def port_env_name(service: str) -> str:
    """`my-api` -> `BERTH_MY_API_PORT`: the variable holding a service's allocated port."""
    return _service_env_name(service, "PORT")


def host_env_name(service: str) -> str:
    """`my-api` -> `BERTH_MY_API_HOST`: the host a service's port is reached on."""
    return _service_env_name(service, "HOST")


def url_env_name(service: str) -> str:
    """`my-api` -> `BERTH_MY_API_URL`: `http://HOST:PORT` for a service's (TCP) port."""
    return _service_env_name(service, "URL")


def service_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


SLUG_ENV, SLOT_ENV, MODE_ENV = "BERTH_SLUG", "BERTH_SLOT", "BERTH_MODE"


def session_identity_env(slug: str, slot: int, mode: str) -> dict[str, str]:
    """What every hook and service learns about its session."""
    return {SLUG_ENV: slug, SLOT_ENV: str(slot), MODE_ENV: mode}
