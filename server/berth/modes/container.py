"""Container mode: compose runs everything, from the session's worktree (its own branch's compose
files, build contexts and bind mounts)."""

from __future__ import annotations

from berth.domain.config import Mode
from berth.modes import common
from berth.modes.compose import down, plan, up
from berth.modes.compose.family import ComposeFamily

CONTAINER = ComposeFamily(
    mode=Mode.CONTAINER,
    up_steps=(
        ("pre_up hook", common.pre_up_hook),
        ("create worktree", common.ensure_worktree),
        ("inherit env files", common.inherit_env_files),
        ("read compose files", plan.plan_compose),
        ("allocate ports", up.allocate_docker_ports),
        ("write .env.berth", common.write_env_file),
        ("start containers", up.start_containers),
        ("pre_spawn hook", common.pre_spawn_hook),
        ("post_up hook", common.post_up_hook),
    ),
    down_steps=(
        ("pre_down hook", common.pre_down_hook),
        ("stop containers", down.stop_containers),
        ("remove worktree", common.remove_worktree),
        ("release ports", common.release_leases),
        ("post_down hook", common.post_down_hook),
    ),
    plan_steps=(down.plan_containers, common.plan_worktree, common.plan_leases),
)
