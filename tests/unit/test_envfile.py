from __future__ import annotations

from pathlib import Path

from berth.adapters import envfile
from berth.domain.config import InheritEnvEntry


def test_render_is_sorted_and_parse_strips_quotes() -> None:
    assert envfile.render({"B": "2", "A": "1"}) == "A=1\nB=2\n"
    parsed = envfile.parse(
        "# c\nexport X=\"dev\"\nY='q'\nURL=postgres://a:b@h/db?x=1\n\nbad line\n"
        'NOTE=bar # a comment\nHASH="a # b"\nREF=${X}-ref\nLINES="one\\ntwo"\n'
    )
    assert parsed == {
        "X": "dev",
        "Y": "q",
        "URL": "postgres://a:b@h/db?x=1",
        "NOTE": "bar",
        "HASH": "a # b",
        "REF": "dev-ref",
        "LINES": "one\ntwo",
    }


def test_merged_env_later_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("X=dev\nPORT=1\n")
    env = envfile.merged_env(
        {"X": "os", "KEEP": "1"}, [tmp_path / ".env", tmp_path / "missing"], {"PORT": "2"}
    )
    assert env == {"X": "dev", "KEEP": "1", "PORT": "2"}


def test_inherit_symlink_and_copy_never_clobber(tmp_path: Path) -> None:
    root, wt = tmp_path / "root", tmp_path / "wt"
    root.mkdir()
    wt.mkdir()
    (root / ".env").write_text("A=1\n")
    (root / ".env.local").write_text("B=1\n")
    (wt / ".env").write_text("MINE=1\n")
    entries = [
        InheritEnvEntry(file=".env"),
        InheritEnvEntry(file=".env.local", mode="copy"),
        InheritEnvEntry(file=".missing"),
    ]
    assert envfile.inherit(root, wt, entries) == [".env.local"]
    assert (wt / ".env").read_text() == "MINE=1\n", "a real file in the worktree is never replaced"
    (wt / ".env.local").write_text("EDITED=1\n")
    envfile.inherit(root, wt, entries)
    assert (wt / ".env.local").read_text() == "EDITED=1\n", "copy mode keeps worktree edits"
    (wt / ".env").unlink()
    (wt / ".env").symlink_to(tmp_path / "stale")
    envfile.inherit(root, wt, entries)
    assert (wt / ".env").resolve() == (root / ".env").resolve(), "a stale symlink is replaced"
