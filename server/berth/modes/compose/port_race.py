"""A docker service's leased host port taken before `compose up` publishes it.

When compose's `up` of a group fails because a host port is taken ("port is already allocated" from
the engine, or "address already in use" from its proxy's bind), the conflicting port(s) of that
group are leased anew (each old lease released in the same transaction, the new one under this
operation, whose journalled release undoes it), `.env.berth` and the group's session compose file
are rewritten (their journalled restores still put back what was there before the operation), and
`up` is run again: at most `MAX_PORT_TRIES` times in all. A fixed port (`--port`) or `strict_port`
is never moved."""

from __future__ import annotations

import dataclasses
import re

from berth.adapters import envfile
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.layout import env_file
from berth.domain.ports import port_request
from berth.modes.common import port_probe
from berth.modes.compose.project import ComposeGroup, ComposeRecord
from berth.modes.context import BringUp

MAX_PORT_TRIES = 3
"""`compose up` runs per group in one bring-up, the first included."""

_CONFLICT = re.compile(r":(\d+)(?: failed: port is already allocated|: bind: address already in use)")


def conflicting_ports(exc: BerthError) -> set[int]:
    """The host ports a failed `compose up` names as taken."""
    if exc.code is not ErrorCode.COMPOSE_FAILED:
        return set()
    output = exc.details.get("output")
    lines = [exc.message, *(output if isinstance(output, list) else [])]
    return {int(m) for line in lines for m in _CONFLICT.findall(str(line))}


def names_to_move(ctx: BringUp, record: ComposeRecord, group: ComposeGroup, taken: set[int]) -> list[str]:
    """The group's port names whose leased block holds a taken port (none when one may not move)."""
    names = []
    for name, need in record.ports.items():
        first = ctx.session.ports.get(name)
        if need.service not in group.services or first is None:
            continue
        if any(first <= port < first + need.width for port in taken):
            if ctx.config.strict_port or name in ctx.request.ports:
                return []
            names.append(name)
    return names


def move_ports(
    ctx: BringUp, record: ComposeRecord, names: list[str], tried: dict[str, list[int]], attempt: int
) -> None:
    """Lease another port (block) for each of `names` and rewrite `.env.berth`; the caller rewrites
    the session compose file and runs `up` again."""
    own: dict[str, set[int]] = {}
    for need in record.ports.values():
        own.setdefault(need.protocol, set()).update(range(need.base, need.base + need.width))
    probe, engine = port_probe(ctx, on_engine=True)
    moves = []
    for name in names:
        need = record.ports[name]
        old = ctx.session.ports[name]
        tried.setdefault(name, []).append(old)
        base = port_request(
            name,
            need.base,
            ctx.port_policy,
            override=None,
            recorded=None,
            protocol=need.protocol,  # type: ignore[arg-type]
            width=need.width,
            avoid=own.get(need.protocol, set()),
        )
        candidates = [p for p in base.candidates if p not in tried[name]]
        if not candidates:
            raise BerthError(
                ErrorCode.PORT_EXHAUSTED,
                f"no free port left for {name!r} after the ports {', '.join(map(str, tried[name]))} were "
                "taken before compose could publish them",
                "free a port, or increase port_search_range",
                service=name,
            )
        request = dataclasses.replace(base, nominal=candidates[0], candidates=candidates, strict=False)
        new = ctx.store.move_lease(ctx.slug, ctx.op_id, request, old, probe, engine=engine)
        ctx.session.ports[name] = new
        moves.append(f"{name} {old} -> {new}")
    envfile.write_atomically(env_file(ctx.worktree), envfile.render(ctx.generated_env()))
    ctx.log(
        f"compose could not publish {', '.join(n for n in names)}: the port was taken after it was leased; "
        f"leased {', '.join(moves)}, rewrote .env.berth and the session compose file, running up again "
        f"(try {attempt + 1} of at most {MAX_PORT_TRIES})"
    )
    ctx.progress_note(f"moved {', '.join(moves)}")
