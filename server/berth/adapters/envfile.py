"""The generated `.env.berth` and the env files a worktree inherits from the main checkout."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from berth.domain.config import InheritEnvEntry


def render(variables: Mapping[str, str]) -> str:
    return "".join(f"{key}={variables[key]}\n" for key in sorted(variables))


def parse(text: str) -> dict[str, str]:
    """An env file with the semantics of the tools that read them (python-dotenv, as compose and
    most frameworks): quotes, `export `, inline `# comments`, escapes, `${VAR}` expansion."""
    from dotenv import dotenv_values  # only when an env file is read: `up` writes one, `down` none

    values = dotenv_values(stream=io.StringIO(text), interpolate=True)
    return {key: value for key, value in values.items() if value is not None}


def read(path: Path) -> dict[str, str]:
    try:
        return parse(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}


def merged_env(
    base: Mapping[str, str], files: Iterable[Path], generated: Mapping[str, str]
) -> dict[str, str]:
    """os env, then each env file, then Berth's own variables: later wins."""
    env = dict(base)
    for path in files:
        env.update(read(path))
    env.update(generated)
    return env


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def inherit(root: Path, worktree: Path, entries: Iterable[InheritEnvEntry]) -> list[str]:
    """Materialise env files from the main checkout. Never clobbers a real file in the worktree."""
    done: list[str] = []
    for entry in entries:
        source = (root / entry.file).resolve()
        target = worktree / entry.file
        if not source.is_file() or not source.is_relative_to(root):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.mode == "symlink":
            if target.is_symlink():
                if target.resolve() == source:
                    continue
                target.unlink()
            elif target.exists():
                continue
            target.symlink_to(source)
        else:
            if target.is_symlink():
                target.unlink()
            elif target.exists():
                continue
            shutil.copyfile(source, target)
        done.append(entry.file)
    return done
