"""Which engine: the docker CLI's precedence over fake docker config dirs, and the endpoint's record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from berth.adapters.docker_endpoint import resolve, subprocess_env
from berth.domain.engine_endpoint import LOCAL_ENGINE, LOCAL_SOCKET, Endpoint, EndpointRule
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.records import SessionRecord


def add_context(config: Path, name: str, host: str, *, tls: bool = True, skip_verify: bool = False) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip_verify}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    tls_dir = config / "contexts" / "tls" / digest / "docker"
    if tls:
        tls_dir.mkdir(parents=True)
        for f in ("ca.pem", "cert.pem", "key.pem"):
            (tls_dir / f).write_text(f)
    return tls_dir


@pytest.fixture
def config(tmp_path: Path) -> Path:
    d = tmp_path / "docker-config"
    d.mkdir()
    add_context(d, "flagged", "tcp://10.0.0.1:2376")
    add_context(d, "configured", "tcp://10.0.0.2:2376")
    add_context(d, "from-env", "tcp://10.0.0.3:2376")
    add_context(d, "current", "ssh://me@build-box", tls=False)
    (d / "config.json").write_text(json.dumps({"currentContext": "current"}))
    return d


def test_the_cli_precedence_flag_config_docker_host_docker_context_current_context(config: Path) -> None:
    env = {"DOCKER_CONFIG": str(config), "DOCKER_HOST": "tcp://10.9.9.9:2375", "DOCKER_CONTEXT": "from-env"}

    flagged = resolve(flag="flagged", configured="configured", env=env)
    configured = resolve(configured="configured", env=env)
    by_host = resolve(env=env)
    by_context = resolve(env={k: v for k, v in env.items() if k != "DOCKER_HOST"})
    current = resolve(env={"DOCKER_CONFIG": str(config)})

    assert (flagged.host, flagged.rule, flagged.context) == (
        "tcp://10.0.0.1:2376",
        EndpointRule.FLAG,
        "flagged",
    )
    assert (configured.host, configured.rule) == ("tcp://10.0.0.2:2376", EndpointRule.CONFIG)
    assert (by_host.host, by_host.rule, by_host.context, by_host.tls) == (
        "tcp://10.9.9.9:2375",
        EndpointRule.DOCKER_HOST,
        None,
        False,
    )
    assert (by_context.host, by_context.rule) == ("tcp://10.0.0.3:2376", EndpointRule.DOCKER_CONTEXT)
    assert (current.host, current.rule, current.tls) == (
        "ssh://me@build-box",
        EndpointRule.CURRENT_CONTEXT,
        False,
    )
    assert current.reach_host == "build-box" and not current.local


def test_no_setting_at_all_is_the_local_socket(tmp_path: Path) -> None:
    found = resolve(env={"DOCKER_CONFIG": str(tmp_path / "none")})

    assert (found.host, found.rule, found.local, found.reach_host, found.lease_key) == (
        LOCAL_SOCKET,
        EndpointRule.DEFAULT,
        True,
        "127.0.0.1",
        "",
    )


def test_a_context_carries_its_tls_material_and_the_default_context_is_docker_host(config: Path) -> None:
    tls_dir = config / "contexts" / "tls" / hashlib.sha256(b"flagged").hexdigest() / "docker"

    found = resolve(flag="flagged", env={"DOCKER_CONFIG": str(config)})
    default = resolve(flag="default", env={"DOCKER_CONFIG": str(config), "DOCKER_HOST": "unix:///run/x.sock"})

    assert (found.tls, found.tls_verify) == (True, True)
    assert (found.ca, found.cert, found.key) == tuple(
        str(tls_dir / f) for f in ("ca.pem", "cert.pem", "key.pem")
    )
    assert found.cert_dir == str(tls_dir)
    assert (default.host, default.context, default.rule) == (
        "unix:///run/x.sock",
        "default",
        EndpointRule.FLAG,
    )


def test_docker_host_with_tls_verify_reads_the_cert_path(tmp_path: Path) -> None:
    for f in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / f).write_text(f)
    env = {"DOCKER_HOST": "tcp://10.1.2.3:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}

    found = resolve(env=env)

    assert (found.tls, found.tls_verify, found.ca) == (True, True, str(tmp_path / "ca.pem"))
    assert found.lease_key == "tcp://10.1.2.3:2376" and found.reach_host == "10.1.2.3"


def test_an_unknown_context_is_docker_unavailable_naming_it_and_the_rule(config: Path) -> None:
    with pytest.raises(BerthError) as caught:
        resolve(configured="nope", env={"DOCKER_CONFIG": str(config)})

    assert caught.value.code is ErrorCode.DOCKER_UNAVAILABLE
    assert "'nope'" in caught.value.message and "berth.toml engine" in caught.value.message
    assert "nothing was created" in caught.value.hint


def test_the_subprocess_env_names_the_engine_and_drops_the_shells_choice(config: Path) -> None:
    endpoint = resolve(flag="flagged", env={"DOCKER_CONFIG": str(config)})
    shell = {
        "PATH": "/bin",
        "DOCKER_CONTEXT": "current",
        "DOCKER_HOST": "tcp://elsewhere:2375",
        "DOCKER_TLS": "1",
    }

    env = subprocess_env(endpoint, shell)

    assert env == {
        "PATH": "/bin",
        "DOCKER_HOST": "tcp://10.0.0.1:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": endpoint.cert_dir,
    }
    assert subprocess_env(LOCAL_ENGINE, shell) == {"PATH": "/bin", "DOCKER_HOST": LOCAL_SOCKET}


def test_the_endpoint_round_trips_through_a_plain_dict_and_old_records_are_local() -> None:
    endpoint = Endpoint(
        "tcp://10.231.0.2:2376",
        EndpointRule.CURRENT_CONTEXT,
        "box",
        tls=True,
        tls_verify=True,
        ca="/c/ca.pem",
        cert="/c/cert.pem",
        key="/c/key.pem",
    )

    assert Endpoint.from_dict(json.loads(json.dumps(endpoint.to_dict()))) == endpoint
    old = {
        "slug": "a",
        "branch": "a",
        "mode": "container",
        "slot": 0,
        "status": "active",
        "worktree_path": "/w",
        "worktree_owned": True,
        "env_file": "/w/.env.berth",
    }
    assert SessionRecord.model_validate(old).endpoint == LOCAL_ENGINE
    recorded = SessionRecord.model_validate({**old, "engine": endpoint.to_dict()})
    assert SessionRecord.model_validate_json(recorded.model_dump_json()).endpoint == endpoint


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("unix:///var/run/docker.sock", True),
        ("tcp://127.0.0.1:2375", True),
        ("tcp://localhost:2375", True),
        ("tcp://[::1]:2375", True),
        ("tcp://10.231.0.2:2376", False),
        ("ssh://me@build-box", False),
    ],
)
def test_local_is_a_socket_or_loopback(host: str, local: bool) -> None:
    assert Endpoint(host).local is local
