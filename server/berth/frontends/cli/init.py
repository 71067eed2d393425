"""`berth init`: a commented starter berth.toml and `.berth/` in .gitignore."""

from __future__ import annotations

from pathlib import Path

from berth.domain.config import Mode
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction
from berth.domain.layout import CONFIG_FILE, find_compose_file

_TEMPLATE = """\
# Berth: one isolated environment per git branch. Reference: README.md ("Configuration").
mode = "{mode}"            # container | hybrid | host
max_slots = 8              # sessions that may run at once; slot N gets ports base_port + N * slot_stride
# prefix = "berth"         # compose project <prefix>_<slug>
# worktree_dir = ".berth/worktrees"
# slot_stride = 1
# strict_port = false      # true: fail when a port is taken instead of searching for another
# port_search_range = 10
# inherit_env = [".env", {{ file = ".env.local", mode = "copy" }}]

# [[services]]
# name = "web"
# base_port = 3000
# command = "python3 -m http.server $PORT"   # native services get PORT and BERTH_WEB_PORT
# port_env = ["WEB_PORT"]
# ready = {{ type = "tcp", timeout = 30 }}     # or {{ type = "http", path = "/health" }}
{docker_example}
# [hooks]                  # shell strings; non-zero exit fails the step (pre_down/post_down only warn)
# pre_up = ""
# pre_spawn = ""
# post_up = ""
# pre_down = ""
# post_down = ""
"""

_DOCKER_EXAMPLE = """
# [[services]]
# name = "db"
# base_port = 5432
# run = "docker"            # a service of {compose}
"""


def detect_mode(root: Path) -> tuple[Mode, str | None]:
    compose = find_compose_file(root)
    return (Mode.HYBRID if compose else Mode.HOST), compose.name if compose else None


def write_starter(root: Path, *, force: bool = False) -> tuple[Path, Mode]:
    path = root / CONFIG_FILE
    if path.exists() and not force:
        raise BerthError(
            ErrorCode.CONFIG_EXISTS,
            f"{path} already exists",
            "edit it, or overwrite it with a fresh starter file",
            remedies=(Remedy(RemedyAction.OVERWRITE_CONFIG, {"root": str(root)}),),
        )
    mode, compose = detect_mode(root)
    docker = _DOCKER_EXAMPLE.format(compose=compose) if compose else ""
    path.write_text(_TEMPLATE.format(mode=mode.value, docker_example=docker), encoding="utf-8")
    _ignore_state_dir(root)
    return path, mode


def _ignore_state_dir(root: Path) -> None:
    gitignore = root / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    if ".berth/" in (line.strip() for line in lines):
        return
    prefix = "" if not lines or gitignore.read_text(encoding="utf-8").endswith("\n") else "\n"
    with gitignore.open("a", encoding="utf-8") as f:
        f.write(f"{prefix}.berth/\n")
