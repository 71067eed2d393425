"""Offline stand-ins for the images a compose file names, so real compose files run with no registry.

``ensure_standins(config)`` takes a ``docker compose config --format json`` document and builds, for every
image its services use, a ``FROM scratch`` image with Debian's static busybox (see ``dockerimages.py``)
tagged with that very name (``postgres:16-alpine``, ``ghcr.io/x/y:latest``, ...). For a service that
``build:``s, the images its Dockerfile starts ``FROM`` get a stand-in too, so compose can build it offline.

What a stand-in does, whatever ``entrypoint:``/``command:`` the compose file gives it:

* ``ENTRYPOINT ["/standin"]`` ignores its arguments and listens on every container port the image's
  services publish or ``expose`` (baked at build time, the union over those services): TCP with
  ``busybox nc -ll -p PORT -e /usr/lib/standin/http`` (a canned ``HTTP/1.0 200 OK``), UDP with a tiny
  UDP echo program (busybox's ``nc`` has no ``-u``; the program is a hand-assembled x86-64 ELF, below).
* Every program an ``entrypoint:`` or a healthcheck ``CMD`` names (``/bin/bash``, ``/docker-entrypoint.sh``,
  ``pg_isready``, ``redis-cli``, ``curl``, ``nc``...) is a shim: as the container's main process it becomes
  ``/standin``; as a healthcheck it exits 0 once ``/standin`` runs (``redis-cli`` prints ``PONG``...).
  ``/bin/sh`` is a shim too: a ``CMD-SHELL`` healthcheck of the config is answered without running it.
* A one-shot service (one that another service waits on with ``service_completed_successfully``) exits 0
  at once. When an image serves both one-shot and long-running services, ``/standin`` tells them apart by
  its arguments and its environment, both baked per service. ``STANDIN_ONESHOT=1`` (or ``0``) in the
  container's environment overrides the decision.
* A service another waits on with ``service_healthy`` but that has no healthcheck of its own (the real
  image ships a ``HEALTHCHECK``) gets one baked in.

Images are rebuilt only when their content label differs. ``python tests/compose_standins.py config.json``
builds the stand-ins of one config document by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shlex
import struct
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors

from dockerimages import _GROUP, _PASSWD, _add, _busybox_binary, _cache_dir

BASE_IMAGE = "berth-standin/base:1"
LABEL = "berth.standin.content"
REF_LABEL = "berth.standin.ref"
ONESHOT_ENV = "STANDIN_ONESHOT"
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
_COMPLETED = "service_completed_successfully"
_HEALTHY = "service_healthy"

# --- the programs inside a stand-in ------------------------------------------------------------------------

_LIB = r"""# sourced by the stand-in's scripts
B=/bin/busybox
standin_running() {
  for f in /proc/[0-9]*/cmdline; do
    c=$($B tr '\0' ' ' < "$f" 2>/dev/null) || continue
    case "$c" in "/bin/busybox sh /standin "*) return 0 ;; esac
  done
  return 1
}
is_main() {
  [ "$$" = 1 ] && return 0
  [ "$PPID" = 1 ] || return 1
  read -r c < /proc/1/comm 2>/dev/null || return 1
  case "$c" in docker-init|tini|init) return 0 ;; esac
  return 1
}
"""

_STANDIN = r"""#!/bin/busybox sh
# The stand-in's main program: ignores its arguments, listens on the baked ports, or exits 0 if one-shot.
B=/bin/busybox
D=/etc/standin
hex() { $B od -An -tx1 -v | $B tr -d ' \n'; }
identify() {
  args=$(for a in "$@"; do printf '%s\0' "$a"; done | hex)
  envx=" 00$($B od -An -tx1 -v /proc/$$/environ | $B tr -d '\n')"
  best=-1 mode=serve
  for s in "$D"/svc/*; do
    [ -d "$s" ] || continue
    n=0 ok=1
    while IFS= read -r e; do
      [ -n "$e" ] || continue
      case "$envx" in *" 00$e"*) n=$((n + 1)) ;; *) ok=0; break ;; esac
    done < "$s/env"
    [ "$ok" = 1 ] || continue
    [ "$($B cat "$s/argv")" = "$args" ] && n=$((n + 100000))
    m=serve; [ -e "$s/oneshot" ] && m=oneshot
    if [ "$n" -gt "$best" ]; then best=$n mode=$m
    elif [ "$n" -eq "$best" ] && [ "$m" != "$mode" ]; then mode=serve
    fi
  done
  echo "$mode"
}
case "${STANDIN_ONESHOT:-}" in
  1|true|yes) mode=oneshot ;;
  0|false|no) mode=serve ;;
  *) mode=$($B cat "$D/mode") ;;
esac
[ "$mode" = mixed ] && mode=$(identify "$@")
if [ "$mode" = oneshot ]; then
  echo "standin: one-shot service, exiting 0"
  exit 0
fi
trap 'exit 0' TERM INT HUP
for p in $($B cat "$D/tcp"); do $B nc -ll -p "$p" -e /usr/lib/standin/http >/dev/null 2>&1 & done
for p in $($B cat "$D/udp"); do /usr/lib/standin/udp-echo "$p" >/dev/null 2>&1 & done
echo "standin: listening on tcp [$($B cat "$D/tcp")] udp [$($B cat "$D/udp")]"
while :; do $B sleep 3600 & wait $!; done
"""

_SHIM = r"""#!/bin/busybox sh
# Any program the compose file names: the main process becomes the stand-in, a healthcheck succeeds.
. /usr/lib/standin/lib.sh
is_main && exec /standin "$@"
standin_running || exit 1
case "${0##*/}" in
  redis-cli|valkey-cli|keydb-cli) echo PONG ;;
  pg_isready) echo "localhost:5432 - accepting connections" ;;
  mysqladmin) echo "mysqld is alive" ;;
  curl|wget) echo OK ;;
esac
exit 0
"""

_SHELL = r"""#!/bin/busybox sh
# /bin/sh, bash...: the main process becomes the stand-in; a CMD-SHELL healthcheck of the config is
# answered (0 once the stand-in runs); anything else runs in busybox sh.
. /usr/lib/standin/lib.sh
is_main && exec /standin "$@"
if [ "$1" = -c ] && [ "$#" -ge 2 ] && [ -s /etc/standin/healthchecks ]; then
  h=$(printf %s "$2" | $B od -An -tx1 -v | $B tr -d ' \n')
  if $B grep -qxF "$h" /etc/standin/healthchecks; then
    standin_running && exit 0
    exit 1
  fi
fi
exec $B sh "$@"
"""

_HTTP = r"""#!/bin/busybox sh
read -r _ 2>/dev/null
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n'
"""

_HEALTHY_SH = """#!/bin/busybox sh
. /usr/lib/standin/lib.sh
standin_running
"""

_NO_UDP = """#!/bin/busybox sh
# no UDP listener for this architecture: only x86-64 has one (see compose_standins.py)
exec /bin/busybox sleep 2147483647
"""

# A UDP echo server, `udp-echo PORT`: socket(AF_INET, SOCK_DGRAM), bind 0.0.0.0:PORT, then forever
# recvfrom + sendto back; exits 1 if it cannot bind. Machine code for x86-64 Linux, assembled from:
#   mov rsi,[rsp+16]; xor eax,eax; xor ecx,ecx            ; rsi = argv[1]
#   parse: mov cl,[rsi]; test cl,cl; jz parsed; sub cl,'0'; imul eax,eax,10; add eax,ecx; inc rsi; jmp parse
#   parsed: xchg al,ah; sub rsp,4096                       ; htons; [rsp]=sockaddr_in, [rsp+16]=peer,
#   mov dword [rsp],2; mov [rsp+2],ax; xor edx,edx         ; [rsp+32]=peer length, [rsp+64]=buffer
#   mov [rsp+4],rdx; mov [rsp+12],edx
#   mov eax,41; mov edi,2; mov esi,2; syscall; test eax,eax; js fail; mov r12d,eax   ; socket
#   mov edi,r12d; mov rsi,rsp; mov edx,16; mov eax,49; syscall; test eax,eax; jnz fail ; bind
#   loop: mov dword [rsp+32],16; mov edi,r12d; lea rsi,[rsp+64]; mov edx,2048; xor r10d,r10d
#   lea r8,[rsp+16]; lea r9,[rsp+32]; mov eax,45; syscall; test rax,rax; js loop        ; recvfrom
#   mov edx,eax; mov edi,r12d; lea rsi,[rsp+64]; xor r10d,r10d; lea r8,[rsp+16]
#   mov r9d,[rsp+32]; mov eax,44; syscall; jmp loop                                       ; sendto
#   fail: mov edi,1; mov eax,60; syscall                                                  ; exit(1)
_UDP_ECHO_X86_64 = bytes.fromhex(
    "488b74241031c031c98a0e84c9740d80e9306bc00a01c848ffc6ebed86e04881ec00100000c704240200000066894424"
    "0231d248895424048954240cb829000000bf02000000be020000000f0585c078674189c44489e74889e6ba10000000b8"
    "310000000f0585c0754ec7442420100000004489e7488d742440ba000800004531d24c8d4424104c8d4c2420b82d0000"
    "000f054885c078d289c24489e7488d7424404531d24c8d442410448b4c2420b82c0000000f05ebb2bf01000000b83c00"
    "00000f05"
)


def _elf(code: bytes) -> bytes:
    """A static ELF64 executable: one read+execute segment holding the headers and ``code``."""
    base, headers = 0x400000, 64 + 56
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, base + headers, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    size = headers + len(code)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return ehdr + phdr + code


_BASE_DOCKERFILE = """\
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# busybox as PID 1 ignores SIGTERM: without this every stop/down waits the grace period
STOPSIGNAL SIGKILL
ENTRYPOINT ["/standin"]
LABEL {label}={digest}
"""

_IMAGE_DOCKERFILE = """\
FROM {base}
COPY rootfs/ /
LABEL {label}={digest} {ref_label}={ref}
"""

_HEALTHCHECK = 'HEALTHCHECK --interval=2s --timeout=5s --retries=30 CMD ["/usr/lib/standin/healthy"]\n'

# --- what each image needs, from the config document -------------------------------------------------------


@dataclass
class _Service:
    name: str
    oneshot: bool
    args: list[str]  # what /standin receives: the service's argv without its program
    env: list[str]  # KEY=VALUE


@dataclass
class Spec:
    """One stand-in image: what its services need from it."""

    ref: str
    tcp: set[int] = field(default_factory=set)
    udp: set[int] = field(default_factory=set)
    services: list[_Service] = field(default_factory=list)
    shims: set[str] = field(default_factory=set)  # program names, or absolute paths
    healthchecks: set[str] = field(default_factory=set)  # CMD-SHELL scripts to answer
    healthcheck: bool = False  # bake a HEALTHCHECK: someone waits for it to be healthy

    @property
    def mode(self) -> str:
        kinds = {s.oneshot for s in self.services}
        if kinds == {True}:
            return "oneshot"
        return "mixed" if len(kinds) == 2 else "serve"


def _unescape(value: str) -> str:
    """`compose config` keeps ``$$`` escaped; the container gets ``$``."""
    return value.replace("$$", "$")


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(_unescape(value))
    return [_unescape(str(v)) for v in value]


def _argv(svc: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The program the container runs (None: the image's /standin) and the arguments it gets."""
    entrypoint, command = _as_list(svc.get("entrypoint")), _as_list(svc.get("command")) or []
    if entrypoint is None:
        return None, command
    argv = entrypoint + command
    if not argv:
        return None, []
    return argv[0], argv[1:]


def _ports(spec: str, proto: str = "tcp") -> tuple[str, list[int]]:
    """``"8000"``, ``"53/udp"``, ``"8000-8010"`` (expose syntax) to (protocol, ports)."""
    spec, _, p = str(spec).partition("/")
    lo, _, hi = spec.partition("-")
    return (p or proto).lower(), list(range(int(lo), int(hi or lo) + 1))


def _healthcheck_test(svc: Mapping[str, Any]) -> list[str] | None:
    hc = svc.get("healthcheck") or {}
    test = hc.get("test")
    if hc.get("disable") or not test or test == ["NONE"]:
        return None
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return [_unescape(str(t)) for t in test]


_ARG = re.compile(r"\$(?:\{(\w+)(?::?([-+])([^}]*))?\}|(\w+))")


def _substitute(text: str, args: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        value, op, word = args.get(name), m.group(2), m.group(3) or ""
        if op == "-":
            return value if value else word
        if op == "+":
            return word if value else ""
        return value or ""

    return _ARG.sub(one, text)


def dockerfile_bases(dockerfile: Path, build_args: Mapping[str, str], target: str | None) -> list[str]:
    """The external images a Dockerfile builds ``FROM``, the target stage's own base first."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    args: dict[str, str] = {}
    stages: list[tuple[str | None, str]] = []  # (stage name, base)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ARG" and not stages:
            name, eq, default = rest.strip().partition("=")
            name = name.strip()
            args[name] = build_args.get(name) or (default.strip().strip("\"'") if eq else "")
        elif word == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            base = _substitute(parts[0], args)
            name = parts[2].lower() if len(parts) >= 3 and parts[1].lower() == "as" else None
            stages.append((name, base))
    if not stages:
        return []
    names = {n: b for n, b in stages if n}
    index = len(stages) - 1
    if target:
        index = next((i for i, (n, _) in enumerate(stages) if n == target.lower()), index)
    chain, base = [], stages[index][1]
    while base.lower() in names and base.lower() not in chain:
        chain.append(base.lower())
        base = names[base.lower()]
    bases = [base] if base.lower() != "scratch" else []
    for n, b in stages:
        if b.lower() not in names and b.lower() != "scratch" and b not in bases and n not in chain:
            bases.append(b)
    return bases


def plan(config: Mapping[str, Any]) -> dict[str, Spec]:
    """What each image of ``config`` must do, by image reference."""
    services: Mapping[str, Any] = config.get("services") or {}
    oneshot, healthy = set(), set()
    for svc in services.values():
        for dep, how in (svc.get("depends_on") or {}).items():
            condition = (how or {}).get("condition")
            if condition == _COMPLETED:
                oneshot.add(dep)
            elif condition == _HEALTHY:
                healthy.add(dep)
    specs: dict[str, Spec] = {}
    for name, svc in services.items():
        refs = []
        if svc.get("image"):
            refs.append(str(svc["image"]))
        build = svc.get("build")
        if build:
            context = Path(build.get("context") or ".")
            dockerfile = context / (build.get("dockerfile") or "Dockerfile")
            if dockerfile.is_file():
                build_args = {k: str(v) for k, v in (build.get("args") or {}).items() if v is not None}
                refs += [b for b in dockerfile_bases(dockerfile, build_args, build.get("target")) if b]
        program, args = _argv(svc)
        env = [f"{k}={_unescape(str(v))}" for k, v in (svc.get("environment") or {}).items() if v is not None]
        test = _healthcheck_test(svc)
        for ref in dict.fromkeys(refs):
            spec = specs.setdefault(ref, Spec(ref))
            spec.services.append(_Service(name, name in oneshot, args, env))
            if svc.get("network_mode") != "host":
                for p in svc.get("ports") or []:
                    (spec.udp if p.get("protocol") == "udp" else spec.tcp).add(int(p["target"]))
                for e in svc.get("expose") or []:
                    proto, ports = _ports(e)
                    (spec.udp if proto == "udp" else spec.tcp).update(ports)
            if program:
                spec.shims.add(program)
            if test and test[0] == "CMD-SHELL" and len(test) > 1:
                spec.healthchecks.add(test[1])
            elif test and test[0] == "CMD" and len(test) > 1:
                spec.shims.add(test[1])
                if PurePosixPath(test[1]).name in SHELLS and len(test) > 3 and test[2] == "-c":
                    spec.healthchecks.add(test[3])
            if name in healthy and not test:
                spec.healthcheck = True
    return specs


def merge(plans: Iterable[Mapping[str, Spec]]) -> dict[str, Spec]:
    """One spec per reference that serves every plan (so configs can share images run side by side)."""
    merged: dict[str, Spec] = {}
    for p in plans:
        for ref, spec in p.items():
            into = merged.setdefault(ref, Spec(ref))
            into.tcp |= spec.tcp
            into.udp |= spec.udp
            into.services += spec.services
            into.shims |= spec.shims
            into.healthchecks |= spec.healthchecks
            into.healthcheck |= spec.healthcheck
    return merged


# --- building ------------------------------------------------------------------------------------------------


def _hex(data: bytes) -> str:
    return data.hex()


def _spaced_hex(data: bytes) -> str:
    return "".join(f" {b:02x}" for b in data)


@dataclass
class _Busybox:
    blob: bytes
    applets: dict[str, str]  # applet name -> its path in the rootfs ("usr/bin/wget")
    x86_64: bool


_busybox_lock = threading.Lock()
_busybox_cached: _Busybox | None = None


def _busybox() -> _Busybox:
    global _busybox_cached
    with _busybox_lock:
        if _busybox_cached is None:
            path = _busybox_binary(_cache_dir())
            listing = subprocess.run([str(path), "--list-full"], capture_output=True, text=True, check=True)
            applets = {PurePosixPath(p).name: p for p in sorted(listing.stdout.split())}
            blob = path.read_bytes()
            _busybox_cached = _Busybox(blob, applets, blob[18:20] == b"\x3e\x00")
        return _busybox_cached


class _Tree:
    """The files of a build context, and the digest of them."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, bytes, int, str | None]] = []  # path, data, mode, symlink target

    def file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        self.entries.append((path, data.encode() if isinstance(data, str) else data, mode, None))

    def link(self, path: str, target: str) -> None:
        self.entries.append((path, b"", 0o777, target))

    def digest(self, *extra: str) -> str:
        h = hashlib.sha256()
        for path, data, mode, target in sorted(self.entries):
            h.update(f"{path}\0{mode}\0{target}\0".encode())
            h.update(hashlib.sha256(data).digest())
        for e in extra:
            h.update(e.encode())
        return h.hexdigest()[:16]

    def tar(self, dockerfile: str) -> io.BytesIO:
        buf = io.BytesIO()
        dirs: set[str] = set()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            _add(tar, "Dockerfile", dockerfile.encode())
            for path, data, mode, target in sorted(self.entries):
                parts = PurePosixPath(path).parts
                for i in range(1, len(parts)):
                    d = "/".join(parts[:i])
                    if d not in dirs:
                        dirs.add(d)
                        _add(tar, f"rootfs/{d}", mode=0o1777 if d == "tmp" else 0o755, type=tarfile.DIRTYPE)
                if target is None:
                    _add(tar, f"rootfs/{path}", data, mode=mode)
                else:
                    _add(tar, f"rootfs/{path}", mode=mode, type=tarfile.SYMTYPE, linkname=target)
        buf.seek(0)
        return buf


def _base_tree(bb: _Busybox) -> _Tree:
    t = _Tree()
    t.file("bin/busybox", bb.blob, 0o755)
    for name, path in bb.applets.items():
        if path != "bin/busybox" and name != "sh":
            t.link(path, "/bin/busybox")
    for d in ("root", "tmp", "etc/standin/svc", "usr/local/bin"):
        t.file(f"{d}/.keep", b"")
    t.file("etc/passwd", _PASSWD)
    t.file("etc/group", _GROUP)
    t.file("standin", _STANDIN, 0o755)
    t.file("usr/lib/standin/lib.sh", _LIB)
    t.file("usr/lib/standin/shim", _SHIM, 0o755)
    t.file("usr/lib/standin/shell", _SHELL, 0o755)
    t.file("usr/lib/standin/http", _HTTP, 0o755)
    t.file("usr/lib/standin/healthy", _HEALTHY_SH, 0o755)
    t.file("usr/lib/standin/udp-echo", _elf(_UDP_ECHO_X86_64) if bb.x86_64 else _NO_UDP.encode(), 0o755)
    t.link("bin/sh", "/usr/lib/standin/shell")
    return t


def _shim_paths(program: str, bb: _Busybox) -> list[str]:
    """Where a program name must resolve to a shim: its own path if absolute (or relative), else
    /usr/local/bin and the busybox applet of that name (so /usr/bin/wget is the shim too)."""
    p = PurePosixPath(program)
    if "/" in program:
        rel = str(p).lstrip("/").removeprefix("./")
        return [rel] if rel and not rel.startswith("..") else []
    paths = [f"usr/local/bin/{program}"]
    if program in bb.applets and bb.applets[program] != "bin/busybox":
        paths.append(bb.applets[program])
    return paths


def _image_tree(spec: Spec, bb: _Busybox) -> _Tree:
    t = _Tree()
    t.file("etc/standin/tcp", " ".join(map(str, sorted(spec.tcp))) + "\n")
    t.file("etc/standin/udp", " ".join(map(str, sorted(spec.udp))) + "\n")
    t.file("etc/standin/mode", spec.mode + "\n")
    hcs = sorted(_hex(s.encode()) for s in spec.healthchecks)
    t.file("etc/standin/healthchecks", "".join(h + "\n" for h in hcs))
    if spec.mode == "mixed":
        for i, svc in enumerate(sorted(spec.services, key=lambda s: s.name)):
            d = f"etc/standin/svc/{i:03d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', svc.name)}"
            t.file(f"{d}/argv", _hex(b"".join(a.encode() + b"\0" for a in svc.args)) + "\n")
            t.file(f"{d}/env", "".join(_spaced_hex(e.encode() + b"\0") + "\n" for e in sorted(svc.env)))
            if svc.oneshot:
                t.file(f"{d}/oneshot", b"")
    seen: set[str] = set()
    for program in sorted(spec.shims):
        target = (
            "/usr/lib/standin/shell" if PurePosixPath(program).name in SHELLS else "/usr/lib/standin/shim"
        )
        for path in _shim_paths(program, bb):
            if (
                path not in seen
                and path not in {"standin", "bin/busybox"}
                and not path.startswith("usr/lib/")
            ):
                seen.add(path)
                t.link(path, target)
    return t


def _tag(image: Any, ref: str) -> None:
    repo, tag = _split(ref)
    image.tag(repo, tag)


def _split(ref: str) -> tuple[str, str]:
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return name, tag


def _labelled(client: docker.DockerClient, ref: str, digest: str) -> Any | None:
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    return image if image.labels.get(LABEL) == digest else None


def _build(client: docker.DockerClient, tree: _Tree, dockerfile: str, refs: list[str], digest: str) -> None:
    """Build the context once under the first reference, tag the others; drop what it replaces."""
    old = []
    for ref in refs:
        with contextlib.suppress(docker.errors.ImageNotFound):
            old.append(client.images.get(ref).id)
    new, _ = client.images.build(
        fileobj=tree.tar(dockerfile), custom_context=True, tag=refs[0], rm=True, forcerm=True, pull=False
    )
    for ref in refs[1:]:
        _tag(new, ref)
    for image_id in set(old) - {new.id}:
        # removing an image by ID also drops its last tag: an old build another reference still
        # names (a stand-in that did not change) must stay
        with contextlib.suppress(docker.errors.APIError):
            if not client.images.get(image_id).tags:
                client.images.remove(image_id)


_base_lock = threading.Lock()


def _ensure_base(client: docker.DockerClient, bb: _Busybox) -> str:
    with _base_lock:
        tree = _base_tree(bb)
        digest = tree.digest(_BASE_DOCKERFILE)
        if _labelled(client, BASE_IMAGE, digest) is None:
            dockerfile = _BASE_DOCKERFILE.format(label=LABEL, digest=digest)
            _build(client, tree, dockerfile, [BASE_IMAGE], digest)
        return digest


def _is_taggable(ref: str) -> bool:
    return "@" not in ref


def build_specs(specs: Mapping[str, Spec], workers: int = 6) -> list[str]:
    """Build (or find) the stand-in of every spec; return the references now present."""
    bb = _busybox()
    client = docker.from_env()
    try:
        base_digest = _ensure_base(client, bb)
        groups: dict[str, tuple[_Tree, str, list[str]]] = {}  # digest -> (tree, dockerfile, refs)
        present: list[str] = []
        for ref, spec in sorted(specs.items()):
            if not _is_taggable(ref):  # pinned by digest: a stand-in cannot carry that digest
                with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
                    client.images.get(ref)
                    present.append(ref)
                continue
            tree = _image_tree(spec, bb)
            extra = _HEALTHCHECK if spec.healthcheck else ""
            digest = tree.digest(_IMAGE_DOCKERFILE, extra, base_digest)
            if _labelled(client, ref, digest) is not None:
                present.append(ref)
                continue
            groups.setdefault(digest, (tree, extra, []))[2].append(ref)

        def one(item: tuple[str, tuple[_Tree, str, list[str]]]) -> list[str]:
            digest, (tree, extra, refs) = item
            dockerfile = _IMAGE_DOCKERFILE.format(
                base=BASE_IMAGE, label=LABEL, digest=digest, ref_label=REF_LABEL, ref=refs[0]
            )
            c = docker.from_env()
            try:
                _build(c, tree, dockerfile + extra, refs, digest)
            finally:
                c.close()
            return refs

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for refs in pool.map(one, groups.items()):
                present += refs
        return sorted(present)
    finally:
        client.close()


def ensure_standins(config: Mapping[str, Any]) -> list[str]:
    """Build the stand-in of every image ``config`` (a ``compose config --format json`` document) uses,
    unless one with the same content label exists; return the image references built or found."""
    return build_specs(plan(config))


def ensure_standins_for(configs: Iterable[Mapping[str, Any]]) -> list[str]:
    """``ensure_standins`` for several config documents at once: an image several of them use gets what
    each needs, so their projects can run side by side."""
    return build_specs(merge(plan(c) for c in configs))


if __name__ == "__main__":
    t = time.monotonic()
    docs = [json.loads(Path(p).read_text()) for p in sys.argv[1:]]
    refs = ensure_standins_for(docs)
    print("\n".join(refs))
    print(f"{len(refs)} stand-ins ready in {time.monotonic() - t:.2f}s", file=sys.stderr)
