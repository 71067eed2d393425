"""The compose corpus (tests/fixtures/compose) is what its README says it is: every fixture has its
SOURCE.md, a manifest and a parsable config.json, and every feature of the coverage check-list is found,
in exactly the fixtures the check-list names, by looking at config.json (and, for what `compose config`
resolves away, such as anchors, `extends` or `include`, at the source files it came from)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT
from docker_tier import docker_unavailable

CORPUS = REPO_ROOT / "tests" / "fixtures" / "compose"
FIXTURES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


@cache
def _manifest(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / name / "fixture.json").read_text())


@cache
def _config(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / name / "config.json").read_text())


def _files(name: str) -> list[Path]:
    """The compose files of a fixture: its -f files (or the default pair), and the files they include or
    extend."""
    d = CORPUS / name
    files = [d / f for f in _manifest(name)["files"]] or [
        p for p in (d / "docker-compose.yml", d / "docker-compose.override.yml") if p.exists()
    ]
    seen: list[Path] = []
    while files:
        f = files.pop(0)
        if f in seen:
            continue
        seen.append(f)
        doc = _raw(f)
        for inc in doc.get("include") or []:
            files += [f.parent / p for p in ([inc] if isinstance(inc, str) else _paths(inc))]
        for svc in (doc.get("services") or {}).values():
            ext = svc.get("extends") if isinstance(svc, dict) else None
            if isinstance(ext, dict) and ext.get("file"):
                files.append(f.parent / ext["file"])
    return seen


def _paths(inc: dict[str, Any]) -> list[str]:
    path = inc.get("path")
    return [path] if isinstance(path, str) else list(path or [])


@cache
def _raw(path: Path) -> dict[str, Any]:
    """A compose file as text, every scalar a string (YAML 1.1's base-60 and booleans never apply)."""
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader) or {}


@cache
def _yaml11(path: Path) -> dict[str, Any]:
    """A compose file as a YAML 1.1 reader (PyYAML's SafeLoader) sees it: `22:22` is the integer 1342."""
    return yaml.safe_load(path.read_text()) or {}


def _services(name: str) -> dict[str, dict[str, Any]]:
    return _config(name)["services"]


def _port_items(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (svc_name, item)
        for svc_name, svc in (doc.get("services") or {}).items()
        if isinstance(svc, dict)
        for item in svc.get("ports") or []
    ]


# --- the features, each derived from the fixture itself --------------------------------------------------


def _port_range(name: str) -> bool:
    """A short-syntax `A-B:C-D` entry, that compose expanded into consecutive published ports."""
    for f in _files(name):
        for svc, item in _port_items(_raw(f)):
            m = re.fullmatch(r"(?:[\d.]+:)?(\d+)-(\d+):(\d+)-(\d+)(?:/\w+)?", str(item))
            if not m or svc not in _services(name):
                continue
            lo, hi = int(m.group(3)), int(m.group(4))
            targets = {p["target"] for p in _services(name)[svc].get("ports") or []}
            if hi > lo and set(range(lo, hi + 1)) <= targets:
                return True
    return False


def _udp(name: str) -> bool:
    return any(p.get("protocol") == "udp" for s in _services(name).values() for p in s.get("ports") or [])


def _interpolated_container_port(name: str) -> bool:
    """A port entry whose container side is a `${VAR}` that config.json shows resolved."""
    for f in _files(name):
        for svc, item in _port_items(_raw(f)):
            container = _colon_parts(item)[-1] if isinstance(item, str) else ""
            if "${" in container and svc in _services(name) and _services(name)[svc].get("ports"):
                return True
    return False


def _colon_parts(item: str) -> list[str]:
    """`${A:-1}:${B:-2}/udp` split on the colons outside `${...}`."""
    return re.findall(r"(?:\$\{[^}]*\}|\$(?!\{)|[^:$])+", item)


def _unquoted_short_port(name: str) -> bool:
    """An unquoted `H:C` with C < 60, which a YAML 1.1 reader turns into the integer H*60+C."""
    for f in _files(name):
        for svc, item in _port_items(_yaml11(f)):
            if isinstance(item, int) and not isinstance(item, bool):
                published, target = divmod(item, 60)
                ports = _services(name).get(svc, {}).get("ports") or []
                if any(p["target"] == target and str(p.get("published")) == str(published) for p in ports):
                    return True
    return False


def _profiles(name: str) -> bool:
    return any(s.get("profiles") for s in _services(name).values())


def _anchors_and_merge_keys(name: str) -> bool:
    """`&anchor` and `<<: *anchor`: composed away in config.json, so read from the source."""
    for f in _files(name):
        events = list(yaml.parse(f.read_text(), Loader=yaml.BaseLoader))
        anchors = {
            e.anchor for e in events if getattr(e, "anchor", None) and not isinstance(e, yaml.AliasEvent)
        }
        if anchors and re.search(r"^\s*<<:\s*(\*|\[\s*\*)", f.read_text(), re.M):
            return True
    return False


def _extends(name: str) -> bool:
    for f in _files(name):
        for svc_name, svc in (_raw(f).get("services") or {}).items():
            if isinstance(svc, dict) and svc.get("extends") and svc_name in _services(name):
                return True
    return False


def _include(name: str) -> bool:
    """A top-level `include:` whose services config.json has, though no -f file defines them."""
    first = [CORPUS / name / f for f in _manifest(name)["files"]]
    if not any(_raw(f).get("include") for f in first):
        return False
    own = {s for f in first for s in (_raw(f).get("services") or {})}
    return bool(set(_services(name)) - own)


def _override_file(name: str) -> bool:
    """A docker-compose.override.yml that compose loads by itself (no -f), and whose ports show."""
    override = CORPUS / name / "docker-compose.override.yml"
    if _manifest(name)["files"] or not override.exists():
        return False
    for svc, item in _port_items(_raw(override)):
        target = int(_colon_parts(str(item))[-1].split("/")[0])
        if any(p["target"] == target for p in _services(name)[svc].get("ports") or []):
            return True
    return False


def _several_files(name: str) -> bool:
    files = [CORPUS / name / f for f in _manifest(name)["files"]]
    return len(files) >= 2 and all(set(_raw(f).get("services") or {}) <= set(_services(name)) for f in files)


def _internal_network(name: str) -> bool:
    return any(n.get("internal") for n in (_config(name).get("networks") or {}).values())


def _fixed_subnet_static_ip(name: str) -> bool:
    subnets = any((n.get("ipam") or {}).get("config") for n in (_config(name).get("networks") or {}).values())
    static = any(
        (attach or {}).get("ipv4_address")
        for s in _services(name).values()
        for attach in (s.get("networks") or {}).values()
    )
    return subnets and static


def _network_mode_service(name: str) -> bool:
    return any(str(s.get("network_mode", "")).startswith("service:") for s in _services(name).values())


def _container_name_reached(name: str) -> bool:
    """Service A has `container_name: C`, C is no service's name, and another service talks to host C."""
    services = _services(name)
    for a, svc in services.items():
        c = svc.get("container_name")
        if not c or c in services:
            continue
        host = re.compile(rf"(?<![\w.-]){re.escape(c)}(?=[:/]|$)")
        for b, other in services.items():
            if b == a:
                continue
            texts = [str(v) for v in (other.get("environment") or {}).values()]
            texts += [str(v) for v in (other.get("command") or []) + (other.get("entrypoint") or [])]
            if any(host.search(t) for t in texts):
                return True
    return False


def _build(name: str) -> bool:
    return any(s.get("build") for s in _services(name).values())


def _oneshot_init(name: str) -> bool:
    return any(
        (how or {}).get("condition") == "service_completed_successfully"
        for s in _services(name).values()
        for how in (s.get("depends_on") or {}).values()
    )


def _default_interval_healthcheck(name: str) -> bool:
    return any(
        (s.get("healthcheck") or {}).get("test") and "interval" not in s["healthcheck"]
        for s in _services(name).values()
    )


FEATURES: dict[str, Callable[[str], bool]] = {
    "port-range": _port_range,
    "udp-ports": _udp,
    "interpolated-container-port": _interpolated_container_port,
    "unquoted-short-port-below-60": _unquoted_short_port,
    "profiles": _profiles,
    "anchors-and-merge-keys": _anchors_and_merge_keys,
    "extends": _extends,
    "include": _include,
    "override-file": _override_file,
    "several-f-files": _several_files,
    "internal-network": _internal_network,
    "fixed-subnet-static-ipv4": _fixed_subnet_static_ip,
    "network-mode-service": _network_mode_service,
    "container-name-reached-by-name": _container_name_reached,
    "build": _build,
    "one-shot-init-completed-successfully": _oneshot_init,
    "healthcheck-default-intervals": _default_interval_healthcheck,
}


def _checklist() -> dict[str, list[str]]:
    """README's coverage check-list: lines `- [x] feature: fixture, fixture`."""
    text = (CORPUS / "README.md").read_text()
    return {
        m.group(1): [f.strip() for f in m.group(2).split(",") if f.strip()]
        for m in re.finditer(r"^- \[x\] `([\w-]+)`: (.+)$", text, re.M)
    }


def test_corpus_has_at_least_twelve_fixtures() -> None:
    assert len(FIXTURES) >= 12


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_has_source_manifest_and_config(name: str) -> None:
    d = CORPUS / name
    source = (d / "SOURCE.md").read_text()
    for heading in ("Repository", "Commit", "License", "Command", "Exercises"):
        assert heading in source, f"{name}/SOURCE.md says nothing under {heading!r}"
    manifest = _manifest(name)
    for f in manifest["files"]:
        assert (d / f).is_file(), f"{name}: no {f}"
    config = _config(name)
    assert config["name"] == "corpus"
    assert config["services"]
    for svc in config["services"].values():
        assert svc.get("image") or svc.get("build")


def test_checklist_names_every_required_feature() -> None:
    assert set(_checklist()) == set(FEATURES)


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_checklist_tells_which_fixtures_have_each_feature(feature: str) -> None:
    have = sorted(name for name in FIXTURES if FEATURES[feature](name))
    assert have, f"no fixture has {feature}"
    assert sorted(_checklist()[feature]) == have


@pytest.mark.parametrize("name", FIXTURES)
def test_config_json_is_what_compose_says_today(name: str) -> None:
    """config.json is `docker compose -p corpus ... config --format json` of the fixture (no engine needed),
    paths aside, so it cannot drift from the files beside it."""
    if shutil.which("docker") is None:
        docker_unavailable("needs the docker CLI with compose v2")
    d, m = CORPUS / name, _manifest(name)
    cmd = ["docker", "compose", "-p", "corpus"]
    for f in m["files"]:
        cmd += ["-f", f]
    for p in m["profiles"]:
        cmd += ["--profile", p]
    keep = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT")
    env = {k: os.environ[k] for k in keep if k in os.environ} | {"PWD": str(d)}
    res = subprocess.run([*cmd, "config", "--format", "json"], cwd=d, env=env, capture_output=True, text=True)
    if res.returncode != 0 and "is not a docker command" in res.stderr:
        docker_unavailable("no compose v2 plugin")
    assert res.returncode == 0, res.stderr
    recorded = (d / "config.json").read_text()
    # paths are absolute: move the recorded checkout's root (the fixture's ../ too) to this one's
    recorded_root = _recorded_dir(recorded, name).removesuffix(f"/tests/fixtures/compose/{name}")
    here_root = str(d).removesuffix(f"/tests/fixtures/compose/{name}")
    assert json.loads(res.stdout) == json.loads(recorded.replace(recorded_root + "/", here_root + "/"))


def _recorded_dir(text: str, name: str) -> str:
    """The absolute fixture directory config.json was generated in (the repository may have moved)."""
    m = re.search(rf'"(/[^"]*?/tests/fixtures/compose/{re.escape(name)})[/"]', text)
    return m.group(1) if m else str(CORPUS / name)
