"""Host mode: everything runs natively."""

from __future__ import annotations

from berth import bringup
from berth.bringup import Step

UP_STEPS: list[Step] = [
    ("pre_up hook", bringup.pre_up_hook),
    ("allocate ports", bringup.allocate_native_ports),
    ("create worktree", bringup.ensure_worktree),
    ("inherit env files", bringup.inherit_env_files),
    ("write .env.berth", bringup.write_env_file),
    ("pre_spawn hook", bringup.pre_spawn_hook),
    ("start services", bringup.spawn_native_services),
    ("wait until ready", bringup.wait_until_ready),
    ("post_up hook", bringup.post_up_hook),
]
