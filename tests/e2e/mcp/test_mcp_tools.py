"""The tool list and schemas, progress, Berth errors as tool errors, and hostile input."""

from __future__ import annotations

import re
from pathlib import Path

from berth.domain.logs import LogsResult
from berth.domain.models import SessionView
from berth.frontends.mcp.arguments import UP_ARGUMENTS
from e2e.mcp.conftest import Recorder, call_error, call_ok, in_memory, over_stdio, structured, text
from world import assert_nothing_left

TOOLS = {
    "berth_up": (False, False, True),
    "berth_down": (False, True, False),
    "berth_status": (True, False, True),
    "berth_list": (True, False, True),
    "berth_logs": (True, False, True),
    "berth_exec": (False, True, False),
    "berth_env": (True, False, True),
}


async def test_tools_are_listed_with_schemas_and_annotations(mcp_repo: Path, recorder: Recorder) -> None:
    async with over_stdio(mcp_repo, recorder) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == set(TOOLS)
    for name, (read_only, destructive, idempotent) in TOOLS.items():
        tool = listed[name]
        assert tool.annotations is not None
        hints = (
            tool.annotations.read_only_hint,
            tool.annotations.destructive_hint,
            tool.annotations.idempotent_hint,
        )
        assert hints == (read_only, destructive, idempotent), name
        assert tool.input_schema["type"] == "object" and tool.input_schema["additionalProperties"] is False
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", name
        assert "root" in tool.input_schema["properties"], name
    up = listed["berth_up"]
    assert up.input_schema["required"] == ["branch"]
    assert {"root", "branch", "reuseWorktree", "ports", "services"} <= set(up.input_schema["properties"])
    assert "workDoneToken" not in up.input_schema["properties"], "LSP-only fields are left out"
    assert up.input_schema == UP_ARGUMENTS.model_json_schema(by_alias=True), "the protocol's model, as is"
    assert up.output_schema["properties"] == SessionView.model_json_schema(by_alias=True)["properties"]
    down = set(listed["berth_down"].input_schema["properties"])
    assert down == {"root", "slug", "keepWorktree", "keepVolumes", "keepImages", "dryRun"}, "no force"
    assert {"TeardownReceipt", "DownPlan"} <= set(listed["berth_down"].output_schema["$defs"])
    assert listed["berth_logs"].input_schema["properties"]["tail"]["maximum"] == 1000
    logs_out = set(listed["berth_logs"].output_schema["properties"])
    assert set(LogsResult.model_json_schema(by_alias=True)["properties"]) < logs_out
    exec_in = listed["berth_exec"].input_schema
    assert exec_in["required"] == ["slug", "argv"]
    assert set(listed["berth_exec"].output_schema["required"]) >= {"exitCode", "stdout", "stderr"}


async def test_progress_notifications_in_order(mcp_repo: Path, recorder: Recorder) -> None:
    async with in_memory(mcp_repo, recorder) as client:
        await call_ok(client, "berth_up", {"branch": "progress"}, progress_callback=recorder.on_progress)
        await call_ok(client, "berth_down", {"slug": "progress"})
    values = [p for p, _total, _message in recorder.progress]
    assert values == sorted(set(values)) and len(values) >= 5, recorder.progress
    steps = [re.fullmatch(r"progress: (.+) \((\d+)/(\d+)\)", m or "") for _p, _t, m in recorder.progress]
    assert all(steps), recorder.progress
    indices = [int(s.group(2)) for s in steps if s]
    totals = {int(s.group(3)) for s in steps if s}
    assert len(totals) == 1 and indices == list(range(1, totals.pop() + 1)), "every step, in order"
    assert steps[0] is not None and steps[0].group(1) == "reserve slot"


async def test_berth_error_is_a_tool_error_with_code_message_and_hint(
    mcp_repo: Path, recorder: Recorder
) -> None:
    async with in_memory(mcp_repo, recorder) as client:
        result = await call_error(client, "berth_status", {"slug": "nosuch"})
    data = structured(result)
    assert data["code"] == "SESSION_NOT_FOUND"
    assert text(result) == f"{data['message']}; {data['hint']}"
    assert data["remedies"] == [{"action": "listSessions", "args": {}}]


async def test_failed_up_says_what_was_rolled_back(
    mcp_repo: Path, port_base: int, recorder: Recorder
) -> None:
    from e2e.host_config import host_toml

    (mcp_repo / "berth.toml").write_text(host_toml(port_base, post_up="echo broken >&2; exit 3"))
    async with in_memory(mcp_repo, recorder) as client:
        result = await call_error(client, "berth_up", {"branch": "broken"})
    data = structured(result)
    assert data["code"] == "HOOK_FAILED"
    kinds = [step["kind"] for step in data["rolledBack"]]
    assert "remove_worktree" in kinds and kinds[-1] == "forget_session"
    assert "rolled back: " in text(result) and "remove worktree" in text(result)
    assert_nothing_left(mcp_repo, "broken", branch_created="broken")


HOSTILE: list[tuple[str, dict[str, object], str | None]] = [
    ("berth_up", {"branch": "../x"}, "INVALID_BRANCH"),
    ("berth_up", {"branch": "$(rm -rf /)"}, "INVALID_BRANCH"),
    ("berth_up", {"branch": "x" * 100_000}, "INVALID_BRANCH"),
    ("berth_up", {"branch": "ok", "ports": {"web": 70000}}, "INVALID_ARGUMENT"),
    ("berth_up", {"branch": "ok", "services": ["nope"]}, "UNKNOWN_SERVICE"),
    ("berth_up", {"branch": "ok", "root": "/etc"}, "ROOT_INVALID"),
    ("berth_up", {"branch": "ok", "root": "/" + "a" * 100_000}, "ROOT_INVALID"),
    ("berth_down", {"slug": "../../etc"}, "INVALID_SLUG"),
    ("berth_status", {"slug": "$(reboot)"}, "INVALID_SLUG"),
    ("berth_logs", {"slug": "../x"}, "INVALID_SLUG"),
    ("berth_env", {"slug": "x\u0000y"}, "INVALID_SLUG"),
    ("berth_exec", {"slug": "../x", "argv": ["id"]}, "INVALID_SLUG"),
    # wrong types, unknown or missing arguments: refused by the schema before anything runs
    ("berth_up", {"branch": 5}, None),
    ("berth_up", {}, None),
    ("berth_down", {"slug": "ok", "dry_run": True}, None),
    ("berth_down", {"slug": "ok", "force": True}, None),
    ("berth_exec", {"slug": "ok", "argv": []}, None),
    ("berth_exec", {"slug": "ok", "argv": ["id"], "timeoutSeconds": -1}, None),
    ("berth_logs", {"slug": "ok", "tail": 10**9}, None),
    ("berth_list", {"root": ["a"]}, None),
]


async def _assert_hostile_refused(client: object, repo: Path) -> None:
    from mcp import Client

    assert isinstance(client, Client)
    for name, arguments, code in HOSTILE:
        result = await call_error(client, name, arguments)
        if code is not None:
            assert structured(result)["code"] == code, (name, arguments, text(result))
        assert len(text(result)) < 4000, "an error never echoes a huge argument back whole"
    assert structured(await client.call_tool("berth_list", {})) == {"sessions": []}, "still serving"
    assert_nothing_left(repo, "ok")


async def test_hostile_input_in_memory(mcp_repo: Path, recorder: Recorder) -> None:
    async with in_memory(mcp_repo, recorder) as client:
        await _assert_hostile_refused(client, mcp_repo)


async def test_hostile_input_over_stdio(mcp_repo: Path, recorder: Recorder) -> None:
    async with over_stdio(mcp_repo, recorder) as client:
        await _assert_hostile_refused(client, mcp_repo)


async def test_root_argument_beats_client_roots_and_must_be_inside_them(
    make_repo: object, port_base: int, tmp_path: Path, recorder: Recorder
) -> None:
    from conftest import RepoFactory
    from e2e.host_config import host_toml

    assert callable(make_repo)
    factory: RepoFactory = make_repo
    first = factory(host_toml(port_base), name="first")
    second = factory(host_toml(port_base + 5), name="second")
    async with in_memory(first, recorder, roots=(first, second)) as client:
        assert structured(await client.call_tool("berth_list", {"root": str(second)})) == {"sessions": []}
        await call_ok(client, "berth_up", {"branch": "rooted", "root": second.as_uri()})
        assert [
            s["slug"]
            for s in structured(await client.call_tool("berth_list", {"root": str(second)}))["sessions"]
        ] == ["rooted"]
        assert structured(await client.call_tool("berth_list", {}))["sessions"] == [], (
            "default: the first root"
        )
        await call_ok(client, "berth_down", {"slug": "rooted", "root": str(second)})
    async with in_memory(first, recorder, roots=(first,)) as client:
        refused = await call_error(client, "berth_list", {"root": str(second)})
        assert structured(refused)["code"] == "ROOT_INVALID" and "outside" in text(refused)
