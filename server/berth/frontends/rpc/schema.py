"""Generate `protocol/berth-protocol.json` from the pydantic models (the single source of truth).

python -m berth.frontends.rpc.schema            # print
python -m berth.frontends.rpc.schema --write    # update protocol/berth-protocol.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from berth.domain.errors import ERROR_DESCRIPTIONS
from berth.frontends.rpc.protocol import ERROR_NUMBERS, METHODS, NOTIFICATIONS, PROTOCOL_VERSION, ErrorData

PROTOCOL_FILE = Path(__file__).resolve().parents[4] / "protocol" / "berth-protocol.json"
_REF_TEMPLATE = "#/$defs/{model}"


def build_protocol() -> dict[str, Any]:
    models: list[type[BaseModel]] = [ErrorData]
    for params, result in METHODS.values():
        models += [params, result]
    models += list(NOTIFICATIONS.values())
    keys: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation") for m in dict.fromkeys(models)
    ]
    refs, schema = models_json_schema(keys, by_alias=True, ref_template=_REF_TEMPLATE)

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return dict(refs[(model, "validation")])

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Berth JSON-RPC protocol",
        "description": "LSP base protocol framing and lifecycle (initialize/shutdown/exit) plus these methods. "
        "Generated from server/berth/rpc/protocol.py by `python -m berth.frontends.rpc.schema --write`; do not edit.",
        "protocolVersion": PROTOCOL_VERSION,
        "methods": {name: {"params": ref(p), "result": ref(r)} for name, (p, r) in sorted(METHODS.items())},
        "notifications": {name: {"params": ref(m)} for name, m in sorted(NOTIFICATIONS.items())},
        "errorCodes": {
            code.value: {"code": number, "description": ERROR_DESCRIPTIONS[code]}
            for code, number in ERROR_NUMBERS.items()
        },
        "errorData": ref(ErrorData),
        "$defs": schema.get("$defs", {}),
    }


def render() -> str:
    return json.dumps(build_protocol(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--write" in argv:
        PROTOCOL_FILE.parent.mkdir(parents=True, exist_ok=True)
        PROTOCOL_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {PROTOCOL_FILE}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
