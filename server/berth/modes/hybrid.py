"""Hybrid mode: data services in compose (from the session's worktree), app services native as in
host mode; `.env.berth` carries the ports of both."""

from __future__ import annotations

from berth import bringup, docker_steps, docker_teardown, teardown
from berth.bringup import Step
from berth.teardown import DownStep

UP_STEPS: list[Step] = [
    ("pre_up hook", bringup.pre_up_hook),
    ("create worktree", bringup.ensure_worktree),
    ("inherit env files", bringup.inherit_env_files),
    ("read compose files", docker_steps.plan_compose),
    ("allocate ports", bringup.allocate_native_ports),
    ("allocate docker ports", docker_steps.allocate_docker_ports),
    ("write .env.berth", bringup.write_env_file),
    ("start containers", docker_steps.start_containers),
    ("pre_spawn hook", bringup.pre_spawn_hook),
    ("start services", bringup.spawn_native_services),
    ("wait until ready", bringup.wait_until_ready),
    ("post_up hook", bringup.post_up_hook),
]

DOWN_STEPS: list[DownStep] = [
    ("pre_down hook", teardown.pre_down_hook),
    ("stop services", teardown.stop_native_processes),
    ("stop containers", docker_teardown.stop_containers),
    ("remove worktree", teardown.remove_worktree),
    ("release ports", teardown.release_leases),
    ("post_down hook", teardown.post_down_hook),
]
