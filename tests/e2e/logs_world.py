"""Shared by the `berth logs` tests: ports from 41000-41999 and native services that print lines."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

from free_ports import free_block
from waiting import wait_until


def logs_port_base() -> int:
    """A base port in 41000-41999 (the logs tests' range) whose 100 neighbours are free."""
    return free_block(range(41000, 41900, 100), 100)


def ticker(word: str, pause: float = 0.2) -> str:
    """A native service command printing `<word> 1`, `<word> 2`, … forever (sh builtins only)."""
    return f'i=0; while :; do i=$((i+1)); echo "{word} $i"; sleep {pause}; done'


def host_logs_toml(base: int, services: dict[str, str]) -> str:
    lines = ['mode = "host"', "max_slots = 4", "port_search_range = 1"]
    for index, (name, command) in enumerate(services.items()):
        lines += [
            "[[services]]",
            f'name = "{name}"',
            f"base_port = {base + 20 * index}",
            f"command = {json.dumps(command)}",
            'ready = { type = "command", command = "true", timeout = 10 }',
        ]
    return "\n".join(lines) + "\n"


def log_lines(repo: Path, slug: str, service: str) -> list[str]:
    path = repo / ".berth" / "logs" / slug / f"{service}.log"
    return path.read_text().splitlines() if path.exists() else []


def wait_for_lines(repo: Path, slug: str, service: str, count: int) -> list[str]:
    def enough() -> list[str] | None:
        found = log_lines(repo, slug, service)
        return found if len(found) >= count else None

    return wait_until(enough, timeout=20, what=f"{count} lines in {service}'s log")


class OutputLines:
    """Collects a subprocess's stdout lines on a thread, so a test can wait for them with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(proc.stdout, self.lines), daemon=True)
        self._thread.start()
        self._err_thread: threading.Thread | None = None
        if proc.stderr is not None:
            self._err_thread = threading.Thread(
                target=self._pump, args=(proc.stderr, self.errors), daemon=True
            )
            self._err_thread.start()

    @staticmethod
    def _pump(stream: IO[str], into: list[str]) -> None:
        for text in stream:
            into.append(text.rstrip("\n"))

    def wait_for(self, count: int, timeout: float = 20) -> list[str]:
        wait_until(
            lambda: len(self.lines) >= count,
            timeout=timeout,
            what=f"{count} lines from {self.proc.args!r}",
            detail=lambda: f"got {self.lines!r}",
        )
        return list(self.lines)

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.lines]

    def finish(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout)
        self._thread.join(timeout)
        if self._err_thread is not None:
            self._err_thread.join(timeout)
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.errors)
