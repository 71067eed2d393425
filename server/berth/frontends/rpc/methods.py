"""The server for one connection: every `berth/*` method registered by name, its handler module
(and with it pydantic, the wire models and the engine) imported on the first request, so that
`initialize` is answered before any of them loads."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from berth.frontends.rpc.app import BerthApp
from berth.frontends.rpc.catalog import METHOD_NAMES
from berth.frontends.rpc.connection import BerthServer
from berth.frontends.rpc.glue import register_method

if TYPE_CHECKING:
    from pydantic import BaseModel

    from berth.frontends.rpc.glue import Handler


def _resolve(name: str) -> tuple[type[BaseModel], Handler]:
    handlers = importlib.import_module("berth.frontends.rpc.handlers")
    return handlers.resolve(name)  # type: ignore[no-any-return]


def build_server(app: BerthApp) -> BerthServer:
    server = BerthServer(app)
    for name in METHOD_NAMES:
        register_method(server, name, _resolve)
    app.connections.add(server)
    return server
