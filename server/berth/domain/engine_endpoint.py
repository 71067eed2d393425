"""Which Docker engine a session runs on: the endpoint resolved once at `up` (with the docker CLI's
own precedence) and recorded in the session, so every later command talks to the same engine.

Pure data: resolving it from the environment and the docker config is adapters/docker_endpoint.py."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from berth.domain.envnames import LOCAL_HOST

LOCAL_SOCKET = "unix:///var/run/docker.sock"


class EndpointRule(StrEnum):
    """Why this engine: the first rule of the docker CLI's precedence that applied."""

    FLAG = "--context"
    CONFIG = "berth.toml engine"
    DOCKER_HOST = "DOCKER_HOST"
    DOCKER_CONTEXT = "DOCKER_CONTEXT"
    CURRENT_CONTEXT = "docker config currentContext"
    DEFAULT = "local socket"
    RECORDED = "recorded at up"


@dataclass(frozen=True)
class Endpoint:
    host: str
    """The engine's URL: unix://…, tcp://host:port, ssh://user@host."""
    rule: EndpointRule = EndpointRule.DEFAULT
    context: str | None = None
    """The docker context it came from, if any."""
    tls: bool = False
    tls_verify: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @property
    def scheme(self) -> str:
        return urlsplit(self.host).scheme

    @property
    def hostname(self) -> str | None:
        return urlsplit(self.host).hostname

    @property
    def local(self) -> bool:
        """On this machine: a unix socket (or Windows pipe), or TCP to a loopback address."""
        if self.scheme in ("unix", "npipe", ""):
            return True
        name = self.hostname or ""
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    @property
    def reach_host(self) -> str:
        """Where the engine's published ports are reached from this machine."""
        return LOCAL_HOST if self.local else (self.hostname or LOCAL_HOST)

    @property
    def lease_key(self) -> str:
        """A stable name of the engine for leases: '' for every local engine (they share this
        machine's ports), the URL (without a path) for a remote one."""
        if self.local:
            return ""
        parts = urlsplit(self.host)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def cert_dir(self) -> str | None:
        """The directory of ca.pem/cert.pem/key.pem (what DOCKER_CERT_PATH names)."""
        for path in (self.ca, self.cert, self.key):
            if path:
                return path.rsplit("/", 1)[0]
        return None

    def describe(self) -> str:
        via = f"context {self.context}, " if self.context else ""
        return f"{self.host} ({via}chosen by {self.rule.value})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "rule": self.rule.value,
            "context": self.context,
            "tls": self.tls,
            "tls_verify": self.tls_verify,
            "ca": self.ca,
            "cert": self.cert,
            "key": self.key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Endpoint:
        try:
            rule = EndpointRule(data.get("rule") or EndpointRule.DEFAULT.value)
        except ValueError:
            rule = EndpointRule.RECORDED
        return cls(
            host=str(data.get("host") or LOCAL_SOCKET),
            rule=rule,
            context=data.get("context") or None,
            tls=bool(data.get("tls")),
            tls_verify=bool(data.get("tls_verify")),
            ca=data.get("ca") or None,
            cert=data.get("cert") or None,
            key=data.get("key") or None,
        )


LOCAL_ENGINE = Endpoint(LOCAL_SOCKET)
"""The engine of a session recorded before engines were recorded, and the default."""
