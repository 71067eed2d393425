"""Names bound at import time whose modules load on first use, for the frontends' start-up paths:
`berth --version`, `berth ls --json` and the server's `initialize` answer import none of the
engine, git, docker, compose or pydantic modules. Type checkers see the real names (each use sits
under `if TYPE_CHECKING:` with the proxy in the `else:` branch)."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # no typing import at start-up
if TYPE_CHECKING:
    from typing import Any


class _Lazy:
    """`module.attr` (or the module itself when `attr` is None), imported on first use: calling it,
    or reading one of its attributes."""

    __slots__ = ("_attr", "_module", "_target")

    def __init__(self, module: str, attr: str | None) -> None:
        self._module = module
        self._attr = attr
        self._target: Any = None

    def _resolve(self) -> Any:
        if self._target is None:
            __import__(self._module)  # importlib itself would be one more import at start-up
            found = sys.modules[self._module]
            self._target = found if self._attr is None else getattr(found, self._attr)
        return self._target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolve(), name)


def lazy_module(name: str) -> Any:
    return _Lazy(name, None)


def lazy_attr(module: str, attr: str) -> Any:
    return _Lazy(module, attr)
