"""The compose adapter's pure parts: reading `--progress json` lines and choosing the progress mode."""

from __future__ import annotations

import pytest

from berth.adapters.compose_cli import ComposeCli, describe_event


@pytest.mark.parametrize(
    ("line", "described"),
    [
        ('{"id":"Container x-web-1","status":"Healthy"}', ("Container x-web-1 Healthy", False)),
        ('{"id":"Image a","status":"Pulling","text":"50%"}', ("Image a Pulling 50%", False)),
        ('{"error":true,"message":"container x exited (3)"}', ("container x exited (3)", True)),
        ("time=... level=warning msg=orphans", ("time=... level=warning msg=orphans", False)),
        ("[1, 2]", ("[1, 2]", False)),
        ("   ", None),
    ],
)
def test_describe_event(line: str, described: tuple[str, bool] | None) -> None:
    assert describe_event(line) == described


def test_json_progress_only_where_compose_has_it() -> None:
    assert ComposeCli(("docker", "compose"), "2.40.3").progress_mode == "json"
    assert ComposeCli(("docker-compose",), "2.12.2").progress_mode == "plain"
