"""The modules the server imports only after `initialize` is answered: on the first request that
needs them, or in the warm-up that `initialize` starts on the worker pool."""

from __future__ import annotations

import importlib
from types import ModuleType

ENGINE_MODULES = (
    "berth.lifecycle.engine",
    "berth.lifecycle.session_env",
    "berth.lifecycle.logs",
    "berth.lifecycle.doctor",
    "berth.lifecycle.prune",
)


def warm_up(*modules: str) -> list[ModuleType]:
    """Import `modules` now (on a worker thread, after `initialize` was answered)."""
    return [importlib.import_module(m) for m in modules]
