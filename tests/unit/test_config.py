from __future__ import annotations

import pytest

from berth.domain.config import Mode, parse_config
from berth.domain.errors import BerthError, ErrorCode


def problems_of(text: str) -> list[str]:
    with pytest.raises(BerthError) as info:
        parse_config(text)
    assert info.value.code is ErrorCode.CONFIG_INVALID
    return list(info.value.details["problems"])


def test_defaults() -> None:
    cfg = parse_config('mode = "host"')
    assert cfg.mode is Mode.HOST
    assert (cfg.max_slots, cfg.prefix, cfg.worktree_dir, cfg.slot_stride) == (
        8,
        "berth",
        ".berth/worktrees",
        1,
    )
    assert (cfg.strict_port, cfg.port_search_range) == (False, 10)
    assert [e.file for e in cfg.inherit_entries] == [".env", ".env.local"]


def test_service_keys() -> None:
    cfg = parse_config(
        """
        mode = "host"
        inherit_env = [".env", { file = ".env.local", mode = "copy" }]
        [[services]]
        name = "my-svc.v2"
        base_port = 3000
        port_env = "APP_PORT"
        ready = { type = "http", path = "/health", timeout = 5 }
        [[services]]
        name = "api"
        base_port = 4000
        port_env = ["A", "B"]
        """.replace("my-svc.v2", "my-svc")
    )
    web, api = cfg.services
    assert web.port_env == ["APP_PORT"] and api.port_env == ["A", "B"]
    assert web.ready.type == "http" and web.ready.timeout == 5
    assert api.ready.type == "tcp"
    assert web.env_key == "BERTH_MY_SVC_PORT"
    assert cfg.inherit_entries[1].mode == "copy"


def test_every_problem_is_listed_with_its_key_path() -> None:
    problems = problems_of(
        """
        mode = "hots"
        max_slots = 0
        colour = "blue"
        worktree_dir = "../outside"
        [[services]]
        name = "web"
        base_port = 70000
        [[services]]
        name = "web"
        base_port = 3000
        run = "docker"
        [[services]]
        name = "Bad Name"
        base_port = 3000
        [hooks]
        pre_upp = "true"
        """
    )
    text = "\n".join(problems)
    for expected in (
        "mode",
        "max_slots",
        "colour: unknown key",
        "worktree_dir",
        "services[0].base_port",
        "services[2].name",
        "hooks.pre_upp: unknown key",
        "services[1].name: duplicate",
        "services[2].base_port: 3000 is already used",
    ):
        assert expected in text, f"{expected!r} missing from {problems}"


def test_docker_service_in_host_mode_and_overlap() -> None:
    problems = problems_of(
        """
        mode = "host"
        [[services]]
        name = "db"
        base_port = 5432
        run = "docker"
        [[services]]
        name = "web"
        base_port = 5440
        """
    )
    assert any("services[0].run" in p for p in problems)
    assert any("overlaps services[1]" in p for p in problems)


def test_toml_syntax_error() -> None:
    (problem,) = problems_of('mode = "host"\n[[services]\n')
    assert "not valid TOML" in problem


def test_missing_mode() -> None:
    assert problems_of("max_slots = 2") == ["mode: required key is missing"]
