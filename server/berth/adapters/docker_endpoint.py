"""Which Docker engine, resolved the way the docker CLI does it, and how to talk to that one engine:
the environment for compose and docker subprocesses, and the docker SDK client.

Precedence (the CLI's): `--context NAME` (or berth.toml `engine`) > DOCKER_HOST > DOCKER_CONTEXT >
the docker config's `currentContext` > the local socket. Contexts are read from the CLI's own store
($DOCKER_CONFIG/contexts/meta/<sha256(name)>/meta.json, TLS material under contexts/tls/<sha256>/docker/).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.domain.engine_endpoint import LOCAL_SOCKET, Endpoint, EndpointRule
from berth.domain.errors import BerthError, ErrorCode

if TYPE_CHECKING:
    from docker import DockerClient

DEFAULT_CONTEXT = "default"
_ENDPOINT_VARS = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS", "DOCKER_CONTEXT")
_TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


def config_dir(env: Mapping[str, str]) -> Path:
    """The docker CLI's configuration directory."""
    return Path(env.get("DOCKER_CONFIG") or Path(env.get("HOME") or Path.home()) / ".docker")


def resolve(
    *, flag: str | None = None, configured: str | None = None, env: Mapping[str, str] | None = None
) -> Endpoint:
    """The engine the docker CLI would use given `--context flag` (or berth.toml's `engine`) and the
    environment; DOCKER_UNAVAILABLE for a context that does not exist."""
    env = os.environ if env is None else env
    if flag:
        return _from_context(flag, EndpointRule.FLAG, env)
    if configured:
        return _from_context(configured, EndpointRule.CONFIG, env)
    if env.get("DOCKER_HOST"):
        return _from_env(env)
    if env.get("DOCKER_CONTEXT"):
        return _from_context(env["DOCKER_CONTEXT"], EndpointRule.DOCKER_CONTEXT, env)
    current = _current_context(env)
    if current:
        return _from_context(current, EndpointRule.CURRENT_CONTEXT, env)
    return Endpoint(LOCAL_SOCKET, EndpointRule.DEFAULT)


def _current_context(env: Mapping[str, str]) -> str | None:
    path = config_dir(env) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BerthError(
            ErrorCode.DOCKER_UNAVAILABLE,
            f"the docker configuration {path} cannot be read ({exc}), so the engine to use is unknown",
            "fix or remove that file, or name the engine with DOCKER_HOST; nothing was created",
        ) from exc
    current = data.get("currentContext") if isinstance(data, dict) else None
    return str(current) if current else None


def _from_env(env: Mapping[str, str], rule: EndpointRule = EndpointRule.DOCKER_HOST) -> Endpoint:
    host = env.get("DOCKER_HOST") or LOCAL_SOCKET
    # the CLI and the SDK both treat any non-empty DOCKER_TLS_VERIFY as "verify"
    verify = bool(env.get("DOCKER_TLS_VERIFY"))
    tls = verify or bool(env.get("DOCKER_TLS"))
    if not tls or not host.startswith("tcp://"):
        return Endpoint(host, rule)
    cert_dir = Path(env.get("DOCKER_CERT_PATH") or config_dir(env))
    ca, cert, key = (cert_dir / name for name in _TLS_FILES)
    return Endpoint(
        host,
        rule,
        tls=True,
        tls_verify=verify,
        ca=str(ca) if ca.is_file() else None,
        cert=str(cert) if cert.is_file() else None,
        key=str(key) if key.is_file() else None,
    )


def _context_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _from_context(name: str, rule: EndpointRule, env: Mapping[str, str]) -> Endpoint:
    if name == DEFAULT_CONTEXT:  # the CLI's built-in context: DOCKER_HOST, else the local socket
        found = _from_env(env, rule)
        return Endpoint(found.host, rule, DEFAULT_CONTEXT, found.tls, found.tls_verify, *_tls(found))
    store = config_dir(env) / "contexts"
    meta_path = store / "meta" / _context_id(name) / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        docker = meta["Endpoints"]["docker"]
        host = str(docker["Host"])
    except FileNotFoundError:
        raise BerthError(
            ErrorCode.DOCKER_UNAVAILABLE,
            f"docker context {name!r} ({rule.value}) does not exist in {config_dir(env)}",
            "create it (`docker context create`), pick an existing one (`docker context ls`), or fix "
            f"{rule.value}; nothing was created",
            context=name,
            rule=rule.value,
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BerthError(
            ErrorCode.DOCKER_UNAVAILABLE,
            f"docker context {name!r} ({rule.value}) cannot be read from {meta_path}: {exc!r}",
            "recreate the context (`docker context rm` then `docker context create`); nothing was created",
            context=name,
            rule=rule.value,
        ) from exc
    tls_dir = store / "tls" / _context_id(name) / "docker"
    ca, cert, key = (tls_dir / f for f in _TLS_FILES)
    has_tls = any(p.is_file() for p in (ca, cert, key))
    return Endpoint(
        host,
        rule,
        name,
        tls=has_tls,
        tls_verify=has_tls and not bool(docker.get("SkipTLSVerify")),
        ca=str(ca) if ca.is_file() else None,
        cert=str(cert) if cert.is_file() else None,
        key=str(key) if key.is_file() else None,
    )


def _tls(endpoint: Endpoint) -> tuple[str | None, str | None, str | None]:
    return endpoint.ca, endpoint.cert, endpoint.key


def subprocess_env(endpoint: Endpoint, base: Mapping[str, str]) -> dict[str, str]:
    """`base` with the engine set explicitly for a docker or compose subprocess: DOCKER_HOST (and its
    TLS variables), DOCKER_CONTEXT removed, so neither the shell's variables nor the docker config's
    current context can send it to another engine."""
    env = {k: v for k, v in base.items() if k not in _ENDPOINT_VARS}
    env["DOCKER_HOST"] = endpoint.host
    if endpoint.tls:
        if endpoint.tls_verify:
            env["DOCKER_TLS_VERIFY"] = "1"
        else:
            env["DOCKER_TLS"] = "1"
        if endpoint.cert_dir:
            env["DOCKER_CERT_PATH"] = endpoint.cert_dir
    return env


def client(endpoint: Endpoint, *, timeout: int | None, version: str) -> DockerClient:
    """An SDK client for exactly this engine. Built from the endpoint's URL and TLS material, never
    from the environment: `requests` would let REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the
    engine's CA (a private CA then fails verification), so the client does not trust the env."""
    import docker
    from docker.tls import TLSConfig

    tls: TLSConfig | bool = False
    if endpoint.tls:
        tls = TLSConfig(
            client_cert=(endpoint.cert, endpoint.key) if endpoint.cert and endpoint.key else None,
            ca_cert=endpoint.ca,
            verify=(endpoint.ca or True) if endpoint.tls_verify else False,
        )
    made = docker.DockerClient(
        base_url=endpoint.host,
        tls=tls,
        # None (no read timeout) is passed on to requests as is; the stubs only allow an int
        timeout=timeout,  # type: ignore[arg-type]
        version=version,
        use_ssh_client=endpoint.scheme == "ssh",  # the ssh binary, as the CLI does; no paramiko
    )
    made.api.trust_env = False
    return made


def negotiated_version(endpoint: Endpoint, *, timeout: int) -> str:
    """The API version to speak with the engine: its own, capped at what the SDK knows. Asked
    through a client that ignores the environment (the SDK's "auto" would ask before it can be told)."""
    import docker.constants
    from docker.utils import version_lt

    probe = client(endpoint, timeout=timeout, version=docker.constants.MINIMUM_DOCKER_API_VERSION)
    try:
        info: dict[str, Any] = probe.api.version(api_version=False)
    finally:
        probe.close()
    theirs = str(info.get("ApiVersion") or docker.constants.DEFAULT_DOCKER_API_VERSION)
    ours = docker.constants.DEFAULT_DOCKER_API_VERSION
    return theirs if version_lt(theirs, ours) else ours


def cli_engine_id(endpoint: Endpoint, *, timeout: float) -> str | None:
    """The ID of the engine the docker CLI reaches with the environment compose gets for `endpoint`
    (`docker info`); None when it reaches none."""
    from berth.adapters.tool_query import query

    found = query(
        ["docker", "info", "--format", "{{.ID}}"], timeout=timeout, env=subprocess_env(endpoint, os.environ)
    )
    return found or None
