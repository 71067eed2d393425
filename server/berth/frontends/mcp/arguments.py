"""The tools' argument and result models, derived from the JSON-RPC protocol's (frontends/rpc/
protocol.py) so both frontends publish one schema: each tool takes its method's params less what
an agent must not or cannot send (LSP progress tokens, `force`, follow mode)."""

from __future__ import annotations

from typing import Any, cast

from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from pydantic import ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from berth.domain.logs import LogsResult
from berth.domain.models import WireModel
from berth.frontends.rpc.protocol import (
    DownParams,
    EnvParams,
    ListParams,
    LogsParams,
    StatusParams,
    UpParams,
)

MAX_LOG_TAIL = 1000
MAX_LOG_BYTES = 64 * 1024
MAX_EXEC_TIMEOUT_SECONDS = 3600.0


class ToolArguments(ArgModelBase):
    """What the SDK validates a tool call's arguments into: camelCase, unknown arguments refused
    (a mistyped `dryRun` must not turn a plan into a real teardown)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", arbitrary_types_allowed=True
    )


def tool_arguments(
    name: str,
    source: type[WireModel],
    *,
    exclude: frozenset[str] = frozenset(),
    fields: dict[str, tuple[Any, FieldInfo]] | None = None,
) -> type[ToolArguments]:
    """The fields of `source` less `exclude`, then `fields` (added, or replacing one of the same name)."""
    picked: dict[str, Any] = {
        field: (info.annotation, info) for field, info in source.model_fields.items() if field not in exclude
    }
    if "root" in picked:
        picked["root"] = _ROOT
    picked.update(fields or {})
    return create_model(f"{name}Arguments", __base__=ToolArguments, **picked)


_ROOT: tuple[Any, FieldInfo] = (
    str | None,
    cast(
        FieldInfo,
        Field(
            default=None,
            description="Repository root (absolute path or file:// URI). Default: the client's first MCP root, "
            "else the server's working directory. Either way inside a root the client declared.",
        ),
    ),
)
_LSP_ONLY = frozenset({"work_done_token"})

UP_ARGUMENTS = tool_arguments("berth_up", UpParams, exclude=_LSP_ONLY)
DOWN_ARGUMENTS = tool_arguments("berth_down", DownParams, exclude=_LSP_ONLY | {"force"})
STATUS_ARGUMENTS = tool_arguments("berth_status", StatusParams)
LIST_ARGUMENTS = tool_arguments("berth_list", ListParams)
ENV_ARGUMENTS = tool_arguments("berth_env", EnvParams, exclude=frozenset({"shell", "service"}))
LOGS_ARGUMENTS = tool_arguments(
    "berth_logs",
    LogsParams,
    exclude=frozenset({"follow", "token"}),
    fields={
        "tail": (
            int,
            Field(
                default=LogsParams.model_fields["tail"].default,
                ge=0,
                le=MAX_LOG_TAIL,
                description=f"The last N lines of each service (at most {MAX_LOG_TAIL}).",
            ),
        )
    },
)


class ExecCommand(WireModel):
    argv: list[str] = Field(
        min_length=1, description='The program and its arguments, e.g. ["npm", "test"] (no shell).'
    )
    service: str | None = Field(
        default=None,
        description="A docker service whose running container runs it (`docker compose exec`); "
        "default: natively in the session's worktree with the session's environment.",
    )
    timeout_seconds: float = Field(
        default=60,
        gt=0,
        le=MAX_EXEC_TIMEOUT_SECONDS,
        description="Then the command's process group is killed.",
    )


EXEC_ARGUMENTS = tool_arguments(
    "berth_exec",
    EnvParams,
    exclude=frozenset({"shell", "service"}),
    fields={name: (info.annotation, info) for name, info in ExecCommand.model_fields.items()},
)


class ExecResult(WireModel):
    slug: str
    service: str | None = None
    argv: list[str] = Field(description="What ran (for a docker service, the `docker compose exec` line).")
    cwd: str
    exit_code: int = Field(description="The exit status; 128 + N when killed by signal N.")
    stdout: str
    stderr: str
    stdout_truncated: bool = Field(description="stdout was longer than the 64 KiB kept.")
    stderr_truncated: bool = Field(description="stderr was longer than the 64 KiB kept.")
    timed_out: bool = Field(description="The timeout passed and the command's process group was killed.")


class BoundedLogs(LogsResult):
    left_out: int = Field(
        default=0, description=f"Older lines left out to keep the answer under {MAX_LOG_BYTES // 1024} KiB."
    )
