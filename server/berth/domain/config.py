"""`berth.toml`: typed configuration, validated all at once so users see every problem together."""

from __future__ import annotations

import itertools
import tomllib
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from berth.domain.envnames import port_env_name
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction
from berth.domain.layout import CONFIG_FILE

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
CONTEXT_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$"
"""A docker context name, as `docker context create` accepts it."""


class Mode(StrEnum):
    CONTAINER = "container"
    HYBRID = "hybrid"
    HOST = "host"


class RunKind(StrEnum):
    NATIVE = "native"
    DOCKER = "docker"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InheritEnvEntry(_Strict):
    file: Annotated[str, Field(min_length=1)]
    mode: Literal["symlink", "copy"] = "symlink"


class ReadyProbe(_Strict):
    """How to tell a service is up. Default: its allocated port accepts TCP connections."""

    type: Literal["tcp", "http", "command"] = "tcp"
    path: str = "/"
    command: str | None = None
    timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0


class ServiceConfig(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=40)]
    base_port: Annotated[int, Field(ge=1, le=65535)]
    run: RunKind = RunKind.NATIVE
    command: str | None = None
    compose: str | list[str] | None = None
    port_env: list[Annotated[str, Field(pattern=ENV_NAME_PATTERN)]] = Field(default_factory=list)
    ready: ReadyProbe = Field(default_factory=ReadyProbe)

    @field_validator("port_env", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def env_key(self) -> str:
        return port_env_name(self.name)

    @property
    def compose_files(self) -> tuple[str, ...] | None:
        """The compose files (-f, in order) this docker service is in; None: the project's."""
        return _files(self.compose)


class Hooks(_Strict):
    pre_up: str | None = None
    pre_spawn: str | None = None
    post_up: str | None = None
    pre_down: str | None = None
    post_down: str | None = None


class BerthConfig(_Strict):
    mode: Mode
    max_slots: Annotated[int, Field(ge=1, le=64)] = 8
    prefix: Annotated[str, Field(pattern=NAME_PATTERN, max_length=30)] = "berth"
    worktree_dir: str = ".berth/worktrees"
    slot_stride: Annotated[int, Field(ge=1, le=1000)] = 1
    strict_port: bool = False
    port_search_range: Annotated[int, Field(ge=0, le=100)] = 10
    compose: str | list[str] | None = None
    """The project's compose files (-f, in order); None: compose's own discovery in the root."""
    profiles: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    inherit_env: list[str | InheritEnvEntry] = Field(default_factory=lambda: [".env", ".env.local"])  # type: ignore[arg-type]
    services: list[ServiceConfig] = Field(default_factory=list)
    hooks: Hooks = Field(default_factory=Hooks)
    engine: Annotated[str, Field(pattern=CONTEXT_NAME_PATTERN, max_length=200)] | None = None
    """The docker context the sessions run on (beats DOCKER_HOST); None: the docker CLI's choice."""

    @field_validator("worktree_dir")
    @classmethod
    def _relative_inside_root(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a relative path inside the repository (no '..', not absolute)")
        return value

    @property
    def compose_files(self) -> tuple[str, ...]:
        return _files(self.compose) or ()

    @property
    def inherit_entries(self) -> list[InheritEnvEntry]:
        return [InheritEnvEntry(file=e) if isinstance(e, str) else e for e in self.inherit_env]

    @property
    def native_services(self) -> list[ServiceConfig]:
        return [s for s in self.services if s.run is RunKind.NATIVE]

    @property
    def docker_services(self) -> list[ServiceConfig]:
        return [s for s in self.services if s.run is RunKind.DOCKER]

    def service(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)


def _files(value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def load_config(root: Path) -> BerthConfig:
    path = root / CONFIG_FILE
    if not path.is_file():
        raise BerthError(
            ErrorCode.CONFIG_MISSING,
            f"no {CONFIG_FILE} at {root}",
            "write a starter file there with berth init",
            remedies=(Remedy(RemedyAction.INIT, {"root": str(root)}),),
        )
    return parse_config(path.read_text(encoding="utf-8", errors="replace"), source=str(path))


def parse_config(text: str, *, source: str = CONFIG_FILE) -> BerthConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _invalid(source, [f"not valid TOML: {exc}"]) from exc
    problems: list[str] = []
    config: BerthConfig | None = None
    try:
        config = BerthConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_describe(err) for err in exc.errors(include_url=False))
    problems.extend(_cross_field_problems(raw))
    if problems or config is None:
        raise _invalid(source, problems)
    return config


def _invalid(source: str, problems: list[str]) -> BerthError:
    listing = "; ".join(problems)
    return BerthError(
        ErrorCode.CONFIG_INVALID,
        f"{source} is invalid ({len(problems)} problem{'s' if len(problems) != 1 else ''}): {listing}",
        "fix every listed key and run the command again; nothing was created",
        remedies=(Remedy(RemedyAction.EDIT_CONFIG),),
        problems=problems,
    )


def _describe(err: Any) -> str:
    path = _key_path(err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key"
    if err["type"] == "missing":
        return f"{path}: required key is missing"
    return f"{path}: {err['msg']} (got {err.get('input')!r})"


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"str", "InheritEnvEntry"} or part.startswith("function-"):
            continue  # union branch names pydantic adds to the location
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _cross_field_problems(raw: dict[str, Any]) -> list[str]:
    """Checks spanning several keys; tolerant of values that already failed field validation."""
    problems: list[str] = []
    if raw.get("mode") == "host" and raw.get("engine") is not None:
        problems.append("engine: a docker context only applies to modes 'hybrid' and 'container', not 'host'")
    services = raw.get("services")
    if not isinstance(services, list):
        return problems
    seen_names: dict[str, int] = {}
    seen_ports: dict[int, int] = {}
    mode = raw.get("mode")
    max_slots = raw.get("max_slots", 8)
    stride = raw.get("slot_stride", 1)
    search = raw.get("port_search_range", 10)
    for i, svc in enumerate(services):
        if not isinstance(svc, dict):
            continue
        name, port = svc.get("name"), svc.get("base_port")
        if isinstance(name, str):
            if name in seen_names:
                problems.append(f"services[{i}].name: duplicate of services[{seen_names[name]}] ({name!r})")
            seen_names.setdefault(name, i)
        if isinstance(port, int):
            if port in seen_ports:
                problems.append(
                    f"services[{i}].base_port: {port} is already used by services[{seen_ports[port]}]"
                )
            seen_ports.setdefault(port, i)
        if mode == "host" and svc.get("run") == "docker":
            problems.append(
                f"services[{i}].run: 'docker' services need mode 'hybrid' or 'container', not 'host'"
            )
        if svc.get("run", "native") == "native" and svc.get("compose") is not None:
            problems.append(f"services[{i}].compose: only docker services take a compose file")
    if all(isinstance(v, int) and v > 0 for v in (max_slots, stride)) and isinstance(search, int):
        problems.extend(_overlap_problems(seen_ports, max_slots, stride, search))
    return problems


def _overlap_problems(ports: dict[int, int], max_slots: int, stride: int, search: int) -> list[str]:
    """Each service's search space must stay below the next service's first slot port."""
    problems: list[str] = []
    ordered = sorted(ports.items())
    for (low, low_i), (high, high_i) in itertools.pairwise(ordered):
        reach = low + max_slots * stride + search * max_slots * stride
        if reach >= high + stride:
            problems.append(
                f"services[{low_i}].base_port: its port search space reaches {reach}, which overlaps "
                f"services[{high_i}] (base_port {high}); space the base ports further apart "
                f"or lower max_slots / port_search_range"
            )
    return problems
