"""pygls glue: keep custom params as plain JSON, validate them with pydantic, map errors.

Nothing here imports pydantic, the wire models or the handlers at module level: every method is
registered by name at start-up and its handler and params model are loaded on its first request,
so `initialize` is answered first.

pygls structures params of methods lsprotocol does not know into lossy namedtuples and drops a
request that has no `params` at all; the hooks below keep raw dicts (and default `params` to None)
so every request reaches a handler and gets an answer."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from cattrs import Converter
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.lsp.server import LanguageServer
from pygls.protocol import default_converter
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage

from berth.domain import errors
from berth.domain.errors import BerthError, ErrorCode, OperationCancelled
from berth.frontends.rpc.catalog import ERROR_NUMBERS

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

logger = logging.getLogger(__name__)
ParamsT = TypeVar("ParamsT", bound="BaseModel")


def _is_pydantic_model(t: Any) -> bool:
    """A wire model class, recognised without importing pydantic (loaded after `initialize`)."""
    return isinstance(t, type) and hasattr(t, "model_dump") and hasattr(t, "model_fields")


def _keep_raw(obj: dict[str, Any], cls: type[Any]) -> Any:
    if cls is JsonRPCResponseMessage:
        return cls(**{"result": None, **obj})
    return cls(**{"params": None, **obj})


def converter_factory() -> Converter:
    conv: Converter = default_converter()  # type: ignore[no-untyped-call]
    for cls in (JsonRPCRequestMessage, JsonRPCNotification, JsonRPCResponseMessage):
        conv.register_structure_hook(cls, _keep_raw)
    conv.register_unstructure_hook_func(
        _is_pydantic_model, lambda m: m.model_dump(mode="json", by_alias=True, exclude_none=True)
    )
    conv.register_unstructure_hook(Prebuilt, lambda m: m.wire)
    return conv


class Prebuilt:
    """A result already in wire shape (e.g. a cached `berth/list`): sent as is, not re-serialised.
    Only for results whose shape the method's result model defines."""

    __slots__ = ("wire",)

    def __init__(self, wire: dict[str, Any]) -> None:
        self.wire = wire

    @classmethod
    def of(cls, wire: dict[str, Any]) -> Prebuilt:
        return cls(wire)


def describe_validation_error(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in err["loc"]) or "(params)",
            "problem": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def validate_params(method: str, model: type[ParamsT], raw: Any) -> ParamsT:
    from pydantic import ValidationError

    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise JsonRpcInvalidParams(
            message=f"Invalid params for {method}: params must be a JSON object, got {type(raw).__name__}",
            data=[{"field": "(params)", "problem": "expected an object", "type": "model_type"}],
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        listing = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise JsonRpcInvalidParams(message=f"Invalid params for {method}: {listing}", data=problems) from exc


def to_jsonrpc_error(exc: BerthError) -> JsonRpcException:
    if isinstance(exc, OperationCancelled):
        return JsonRpcRequestCancelled(message=str(exc), data=_error_data(exc))
    return JsonRpcException(
        message=f"{exc.message}; {exc.hint}", code=ERROR_NUMBERS[exc.code], data=_error_data(exc)
    )


def _error_data(exc: BerthError) -> dict[str, Any]:
    data: dict[str, Any] = {"code": exc.code.value, "hint": exc.hint}
    if exc.remedies:
        data["remedies"] = [r.to_dict() for r in exc.remedies]
    if exc.details:
        data["details"] = exc.details
    return data


def report_internal_error(ls: LanguageServer, method: str, exc: Exception) -> None:
    """A bug must be diagnosable: its traceback goes to stderr (the server log) and to the client
    as an error-level `window/logMessage` (VS Code shows it in the server's output channel)."""
    trace = "".join(traceback.format_exception(exc)).rstrip()
    logger.error("%s failed with an internal error:\n%s", method, trace)
    with contextlib.suppress(Exception):  # a closing connection must not hide the original error
        ls.window_log_message(
            types.LogMessageParams(type=types.MessageType.Error, message=f"berth: {method} failed:\n{trace}")
        )


def internal_error(exc: Exception) -> JsonRpcException:
    error = errors.internal_error(
        exc,
        f"internal error: {type(exc).__name__}: {exc}; this is a bug in berth, please report it",
        "the traceback is in the server log (stderr) and was sent as a window/logMessage",
    )
    return JsonRpcException(
        message=error.message, code=ERROR_NUMBERS[ErrorCode.INTERNAL], data=_error_data(error)
    )


Handler = Callable[[Any, Any], Awaitable[Any]]
"""`fn(server, params)`: the params arrive validated as the method's params model."""

Resolver = Callable[[str], "tuple[type[BaseModel], Handler]"]
"""The params model and the handler of a method, imported on its first request."""


def register_method(server: LanguageServer, name: str, resolve: Resolver) -> None:
    """Register `name`; on each request, validate its params with the model `resolve` gives, run
    its handler and map Berth errors."""

    async def handler(ls: LanguageServer, raw: Any) -> Any:
        model, fn = resolve(name)
        params = validate_params(name, model, raw)
        try:
            return await fn(ls, params)
        except BerthError as exc:
            raise to_jsonrpc_error(exc) from exc
        except JsonRpcException:
            raise
        except Exception as exc:
            report_internal_error(ls, name, exc)
            raise internal_error(exc) from exc

    handler.__name__ = handler.__qualname__ = f"handle {name}"
    server.feature(name)(handler)
