"""protocol/berth-protocol.json is generated from the models; a stale file fails here."""

from __future__ import annotations

import json

from berth.domain.errors import ErrorCode
from berth.frontends.rpc.protocol import ERROR_NUMBERS
from berth.frontends.rpc.schema import PROTOCOL_FILE, build_protocol, render


def test_protocol_file_is_up_to_date() -> None:
    assert PROTOCOL_FILE.read_text(encoding="utf-8") == render(), (
        "protocol/berth-protocol.json is stale: run `.venv/bin/python -m berth.frontends.rpc.schema --write`"
    )


def test_every_error_code_has_a_unique_number() -> None:
    assert set(ERROR_NUMBERS) == set(ErrorCode)
    numbers = list(ERROR_NUMBERS.values())
    assert len(numbers) == len(set(numbers))
    assert all(n >= 1000 for n in numbers), "outside JSON-RPC's and LSP's reserved ranges"


def test_methods_reference_defined_schemas() -> None:
    proto = build_protocol()
    defs = proto["$defs"]
    for spec in [*proto["methods"].values(), *proto["notifications"].values()]:
        for schema in spec.values():
            assert schema["$ref"].removeprefix("#/$defs/") in defs
    up = defs["UpParams"]
    assert up["required"] == ["branch"] and "workDoneToken" in up["properties"]
    json.dumps(proto)
