"""Hybrid mode: data services in compose (from the session's worktree), app services native as in
host mode; `.env.berth` carries the ports of both."""

from __future__ import annotations

from berth.domain.config import Mode
from berth.modes import common
from berth.modes.compose import down, plan, up
from berth.modes.compose.family import ComposeFamily
from berth.modes.host import down as host_down
from berth.modes.host import up as host_up

HYBRID = ComposeFamily(
    mode=Mode.HYBRID,
    up_steps=(
        ("pre_up hook", common.pre_up_hook),
        ("create worktree", common.ensure_worktree),
        ("inherit env files", common.inherit_env_files),
        ("read compose files", plan.plan_compose),
        ("allocate ports", host_up.allocate_native_ports),
        ("allocate docker ports", up.allocate_docker_ports),
        ("write .env.berth", common.write_env_file),
        ("start containers", up.start_containers),
        ("pre_spawn hook", common.pre_spawn_hook),
        ("start services", host_up.spawn_native_services),
        ("wait until ready", host_up.wait_until_ready),
        ("post_up hook", common.post_up_hook),
    ),
    down_steps=(
        ("pre_down hook", common.pre_down_hook),
        ("stop services", host_down.stop_native_processes),
        ("stop containers", down.stop_containers),
        ("remove worktree", common.remove_worktree),
        ("release ports", common.release_leases),
        ("post_down hook", common.post_down_hook),
    ),
    plan_steps=(
        host_down.plan_native_processes,
        down.plan_containers,
        common.plan_worktree,
        common.plan_leases,
    ),
)
