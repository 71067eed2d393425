"""Facts derived once: env-var names, the session's generated env, the RPC method table."""

from __future__ import annotations

from berth.domain.config import parse_config
from berth.domain.envnames import (
    host_env_name,
    port_env_name,
    service_url,
    session_identity_env,
    url_env_name,
)
from berth.domain.models import SessionStatus
from berth.domain.records import SessionRecord
from berth.frontends.rpc.handlers import HANDLERS
from berth.frontends.rpc.protocol import METHODS
from berth.modes.context import generated_env


def test_port_env_name_maps_every_non_alphanumeric_to_underscore() -> None:
    assert port_env_name("my-api") == "BERTH_MY_API_PORT"
    assert port_env_name("db_2") == "BERTH_DB_2_PORT"


def _session(ports: dict[str, int]) -> SessionRecord:
    return SessionRecord(
        slug="feat-x",
        branch="feat/x",
        mode="hybrid",
        slot=2,
        status=SessionStatus.ACTIVE,
        worktree_path="/w",
        worktree_owned=True,
        env_file="/w/.env.berth",
        ports=ports,
    )


def test_generated_env_with_and_without_a_config() -> None:
    config = parse_config(
        'mode = "hybrid"\n[[services]]\nname = "my-api"\nbase_port = 4000\ncommand = "x"\n'
        'port_env = "API_PORT"\n[[services]]\nname = "db"\nbase_port = 5432\nrun = "docker"\n'
    )
    session = _session({"my-api": 4002, "db": 5434, "cache-1": 6381})
    assert generated_env(session, config) == {
        **session_identity_env("feat-x", 2, "hybrid"),
        "BERTH_MY_API_PORT": "4002",
        "BERTH_MY_API_HOST": "127.0.0.1",
        "BERTH_MY_API_URL": "http://127.0.0.1:4002",
        "API_PORT": "4002",
        "PORT": "4002",
        "BERTH_DB_PORT": "5434",
        "BERTH_DB_HOST": "127.0.0.1",
        "BERTH_DB_URL": "http://127.0.0.1:5434",
        "BERTH_CACHE_1_PORT": "6381",
        "BERTH_CACHE_1_HOST": "127.0.0.1",
        "BERTH_CACHE_1_URL": "http://127.0.0.1:6381",
    }
    broken_config = generated_env(session, None)
    assert broken_config["BERTH_MY_API_PORT"] == "4002" and "API_PORT" not in broken_config


def test_host_and_url_names_derive_like_the_port_name() -> None:
    assert host_env_name("my-api") == "BERTH_MY_API_HOST"
    assert url_env_name("web.2") == "BERTH_WEB_2_URL"
    assert service_url("127.0.0.1", 3001) == "http://127.0.0.1:3001"
    assert service_url("::1", 3001) == "http://[::1]:3001"


def test_a_udp_port_gets_a_host_but_no_url() -> None:
    session = _session({"dns-udp": 5354, "web": 8081})
    session.resources["compose"] = {
        "ports": {
            "dns-udp": {"service": "dns", "target": 53, "base": 5353, "protocol": "udp"},
            "web": {"service": "web", "target": 80, "base": 8080},
        }
    }
    env = generated_env(session, None)
    assert env["BERTH_DNS_UDP_HOST"] == "127.0.0.1" and "BERTH_DNS_UDP_URL" not in env
    assert env["BERTH_WEB_URL"] == "http://127.0.0.1:8081"


def test_every_protocol_method_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == set(METHODS)
