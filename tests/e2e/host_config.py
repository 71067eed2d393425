"""berth.toml text for host-mode tests."""

from __future__ import annotations

import json

HTTP_SERVER = "exec python3 -m http.server {var} --bind 127.0.0.1"


def host_toml(
    base: int,
    *,
    max_slots: int = 8,
    strict: bool = False,
    timeout: float = 10,
    web_command: str | None = None,
    **hooks: str,
) -> str:
    web = web_command or HTTP_SERVER.format(var="$PORT")
    lines = [
        'mode = "host"',
        f"max_slots = {max_slots}",
        f"strict_port = {'true' if strict else 'false'}",
        "port_search_range = 2",
        "[[services]]",
        'name = "web"',
        f"base_port = {base}",
        f"command = {json.dumps(web)}",
        f"ready = {{ timeout = {timeout} }}",
        "[[services]]",
        'name = "api"',
        f"base_port = {base + 50}",
        f"command = {json.dumps(HTTP_SERVER.format(var='$BERTH_API_PORT'))}",
        'port_env = ["API_PORT", "BACKEND_PORT"]',
    ]
    if hooks:
        lines.append("[hooks]")
        lines += [f"{name} = {json.dumps(cmd)}" for name, cmd in hooks.items()]
    return "\n".join(lines) + "\n"
