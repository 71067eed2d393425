"""pygls glue: keep custom params as plain JSON, validate them with pydantic, map errors.

pygls structures params of methods lsprotocol does not know into lossy namedtuples and drops a
request that has no `params` at all; the hooks below keep raw dicts (and default `params` to None)
so every request reaches a handler and gets an answer."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cattrs import Converter
from lsprotocol import types
from pydantic import BaseModel, ValidationError
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.lsp.server import LanguageServer
from pygls.protocol import default_converter
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage

from berth.domain.errors import BerthError, ErrorCode, OperationCancelled
from berth.frontends.rpc.protocol import ERROR_NUMBERS

logger = logging.getLogger(__name__)
ParamsT = TypeVar("ParamsT", bound=BaseModel)


def _keep_raw(obj: dict[str, Any], cls: type[Any]) -> Any:
    if cls is JsonRPCResponseMessage:
        return cls(**{"result": None, **obj})
    return cls(**{"params": None, **obj})


def converter_factory() -> Converter:
    conv: Converter = default_converter()  # type: ignore[no-untyped-call]
    for cls in (JsonRPCRequestMessage, JsonRPCNotification, JsonRPCResponseMessage):
        conv.register_structure_hook(cls, _keep_raw)
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, BaseModel),
        lambda m: m.model_dump(mode="json", by_alias=True, exclude_none=True),
    )
    conv.register_unstructure_hook(Prebuilt, lambda m: m.wire)  # registered last: wins over BaseModel's
    return conv


class Prebuilt(BaseModel):
    """A result already in wire shape (e.g. a cached `berth/list`): sent as is, not re-serialised.
    Only for results whose shape the method's result model defines."""

    wire: dict[str, Any]

    @classmethod
    def of(cls, wire: dict[str, Any]) -> Prebuilt:
        return cls.model_construct(wire=wire)


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
    return JsonRpcException(
        message=f"internal error: {type(exc).__name__}: {exc}; this is a bug in berth, please report it",
        code=ERROR_NUMBERS[ErrorCode.INTERNAL],
        data={
            "code": ErrorCode.INTERNAL.value,
            "hint": "the traceback is in the server log (stderr) and was sent as a window/logMessage",
        },
    )


Handler = Callable[[Any, Any], Awaitable[BaseModel]]
"""`fn(server, params)`: the params arrive validated as the method's params model."""


def register_method(server: LanguageServer, name: str, model: type[BaseModel], fn: Handler) -> None:
    """Register `fn(ls, params)` for `name`, with pydantic validation and Berth error mapping."""

    @functools.wraps(fn)
    async def handler(ls: LanguageServer, raw: Any) -> Any:
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

    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("ls", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("raw", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ]
    )
    server.feature(name)(handler)
