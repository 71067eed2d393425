"""Whether the docker tier may be missing: on a developer's machine a test that needs docker is
skipped with the reason; under BERTH_REQUIRE_DOCKER=1 (CI, `.ci/run`) it fails, so a run cannot pass
with the docker tier silently skipped."""

from __future__ import annotations

import os

import pytest


def docker_required() -> bool:
    return os.environ.get("BERTH_REQUIRE_DOCKER") == "1"


def docker_unavailable(reason: str) -> None:
    """Skip the test for `reason`, or fail it when the docker tier is required."""
    if docker_required():
        pytest.fail(f"{reason} (BERTH_REQUIRE_DOCKER=1: the docker tests must run)", pytrace=False)
    pytest.skip(reason)
