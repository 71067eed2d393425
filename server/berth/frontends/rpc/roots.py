"""Which repository a request is about, and whether this connection may touch it: the given root
(a path or file:// URI) or the first workspace folder, inside a declared workspace folder, a git
repository with a berth.toml. Checked before anything is written."""

from __future__ import annotations

from pathlib import Path

from pygls.uris import to_fs_path

from berth.adapters.gitroot import find_main_root
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction
from berth.domain.layout import CONFIG_FILE


def uri_to_path(uri: str) -> Path | None:
    fs = to_fs_path(uri)
    return Path(fs) if fs else None


def _shown(root: str | None, limit: int = 200) -> str:
    """`root` for an error message, cut so that a hostile value is never echoed back whole."""
    text = repr(root)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(root or '')} characters)"


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name longer than the file system allows
        return False


def resolve_root(root: str | None, folders: list[Path]) -> Path:
    """The main worktree of the repository `root` names (blocking: asks git)."""
    if root is None:
        if not folders:
            raise BerthError(
                ErrorCode.ROOT_INVALID,
                "no root given and the client declared no workspace folder",
                "pass params.root (a path or file:// URI of the repository)",
            )
        path: Path | None = folders[0]
    else:
        path = uri_to_path(root) if root.startswith("file:") else Path(root)
    if path is None or not path.is_absolute() or not _is_dir(path):
        raise BerthError(
            ErrorCode.ROOT_INVALID,
            f"root {_shown(root)} is not an existing absolute directory",
            "pass the absolute path of a git repository that has a berth.toml",
        )
    path = path.resolve()
    if folders and not any(path == f or path.is_relative_to(f) for f in folders):
        raise BerthError(
            ErrorCode.ROOT_INVALID,
            f"root {path} is outside the workspace folders",
            "pass one of the workspace folders declared in initialize",
        )
    try:
        main = find_main_root(path)
    except BerthError as exc:
        raise BerthError(ErrorCode.ROOT_INVALID, exc.message, "pass the root of a git repository") from exc
    if not (main / CONFIG_FILE).is_file():
        raise BerthError(
            ErrorCode.ROOT_INVALID,
            f"{main} has no {CONFIG_FILE}",
            "write a starter berth.toml there first, or pass another root",
            remedies=(Remedy(RemedyAction.INIT, {"root": str(main)}),),
        )
    return main


class RootCache:
    """Resolved roots per requested value; an entry is dropped once its berth.toml disappears."""

    def __init__(self) -> None:
        self._roots: dict[tuple[str | None, tuple[Path, ...]], Path] = {}

    def get(self, root: str | None, folders: list[Path]) -> Path | None:
        cached = self._roots.get((root, tuple(folders)))
        return cached if cached is not None and (cached / CONFIG_FILE).is_file() else None

    def put(self, root: str | None, folders: list[Path], main: Path) -> None:
        self._roots[(root, tuple(folders))] = main
