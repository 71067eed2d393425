"""The pure parts of env / exec / shell: the three env formats, the compose exec command line, and
how the CLI reads `berth exec SLUG [options] -- CMD ARGS…`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from berth.adapters.compose_cli import ComposeCli, exec_argv
from berth.frontends.cli.main import _parse
from berth.lifecycle.session_env import EnvFormat, render_env

TRICKY = {"PLAIN": "3001", "QUOTE": "it's", "DOLLAR": "$HOME `id` $(x)", "SPACE": "a b"}


def test_dotenv_and_json_formats() -> None:
    assert render_env({"B": "2", "A": "1"}, EnvFormat.DOTENV) == "A=1\nB=2\n"
    assert json.loads(render_env(TRICKY, EnvFormat.JSON)) == TRICKY


def test_shell_format_is_single_quoted_and_a_real_sh_reads_it_back_verbatim() -> None:
    text = render_env(TRICKY, EnvFormat.SHELL)
    assert "export PLAIN='3001'\n" in text
    script = text + 'printf "%s|%s|%s|%s" "$PLAIN" "$QUOTE" "$DOLLAR" "$SPACE"'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out == "3001|it's|$HOME `id` $(x)|a b"


def test_compose_exec_argv_has_the_project_the_session_files_and_a_tty_only_when_asked() -> None:
    cli = ComposeCli(("docker", "compose"), "2.30.0")
    files = [Path("/r/.berth/compose/feat-x-1.json")]
    assert exec_argv(cli, "berth_feat-x", files, "db", ["psql", "-c", "select 1"], tty=False) == [
        "docker", "compose", "-p", "berth_feat-x", "-f", "/r/.berth/compose/feat-x-1.json",
        "exec", "-T", "db", "psql", "-c", "select 1",
    ]  # fmt: skip
    assert exec_argv(cli, "p", files, "db", ["sh"], tty=True)[-3:] == ["exec", "db", "sh"]


def test_the_cli_takes_everything_after_the_first_double_dash_as_the_command() -> None:
    args = _parse(["exec", "feat-x", "--service", "db", "--json", "--", "ls", "--json", "--", "-l"])
    assert (args.slug, args.service, args.json, args.cmd) == (
        "feat-x",
        "db",
        True,
        ["ls", "--json", "--", "-l"],
    )
    assert _parse(["exec", "feat-x", "env"]).cmd == ["env"]
    assert _parse(["env", "feat-x", "--format", "shell"]).format == "shell"
