"""The engine adapter's removal of a session's networks, on a fake API client: the engine's endpoint
cleanup lag is waited out, a network really in use is not."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from berth.adapters import docker_engine


class FakeApi:
    def __init__(self, *, lagging: int, attached: dict[str, Any] | None = None) -> None:
        self.lagging = lagging
        self.attached = attached or {}
        self.removed: list[str] = []
        self.attempts = 0

    def remove_network(self, name: str) -> None:
        self.attempts += 1
        if self.attached or self.attempts <= self.lagging:
            raise docker.errors.APIError(f"error while removing network: network {name} has active endpoints")
        self.removed.append(name)

    def inspect_network(self, name: str) -> dict[str, Any]:
        return {"Name": name, "Containers": self.attached}

    def networks(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"Name": "p_default"}]


class FakeClient:
    def __init__(self, api: FakeApi) -> None:
        self.api = api


def test_a_network_whose_endpoints_lag_behind_its_removed_containers_is_removed_on_retry() -> None:
    api = FakeApi(lagging=3)
    docker_engine.remove_unused(FakeClient(api), ["berth.session=x"], volumes_too=False, spare=[])  # type: ignore[arg-type]
    assert api.removed == ["p_default"]
    assert api.attempts == 4


def test_a_network_with_a_container_attached_is_left_alone_at_once() -> None:
    api = FakeApi(lagging=0, attached={"abc": {"Name": "other"}})
    with pytest.raises(docker.errors.APIError):
        docker_engine._remove_network(FakeClient(api), "p_default")  # type: ignore[arg-type]
    assert api.attempts == 1
    docker_engine.remove_unused(FakeClient(api), ["berth.session=x"], volumes_too=False, spare=[])  # type: ignore[arg-type]
    assert api.removed == []
