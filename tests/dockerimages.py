"""Offline test image for docker tests: ``berth-test/busybox:1``.

Built ``FROM scratch`` with Debian's static busybox (every applet linked in, so
``sh``, ``httpd``, ``wget`` for healthchecks, ...), a page at ``/www/index.html``
and a default command ``httpd -f -p 8080 -h /www``. Needs no registry: the
``.deb`` comes from the apt mirror once and is cached (``$BERTH_TEST_CACHE``,
default ``~/.cache/berth-test``); ``$BERTH_BUSYBOX`` may name a static busybox
to use instead. Rebuilt only when the content label differs.

Run ``python tests/dockerimages.py`` to build it by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import docker
import docker.errors

IMAGE = "berth-test/busybox:1"
LABEL = "berth.test.content"
INDEX_HTML = b"berth-test ok\n"
_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"
_DOCKERFILE = """\
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EXPOSE 8080
# busybox as PID 1 ignores SIGTERM: without this every stop/down waits the 10 s grace period
STOPSIGNAL SIGKILL
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
LABEL {label}={digest}
"""


def _cache_dir() -> Path:
    d = Path(os.environ.get("BERTH_TEST_CACHE") or Path.home() / ".cache" / "berth-test")
    d.mkdir(parents=True, exist_ok=True)
    return d


class BusyboxUnavailable(RuntimeError):
    """No package source offers busybox-static: no apt-get, or apt cannot locate or fetch the package.
    The only failure of the image build that a test run may treat as "docker tests unavailable";
    any other error is a bug in this builder or the machine and must surface."""


# what apt says (LC_ALL=C) when no configured source has the package, or none can be reached
_NO_PACKAGE_SOURCE = re.compile(
    r"Unable to locate package|has no installation candidate|Can't select candidate version"
    r"|Failed to fetch|Temporary failure resolving|Could not resolve"
)


def _download_deb(cache: Path) -> Path:
    debs = sorted(cache.glob("busybox-static_*.deb"))
    if debs:
        return debs[-1]
    if shutil.which("apt-get") is None:
        raise BusyboxUnavailable("no apt-get to download busybox-static (set $BERTH_BUSYBOX instead)")
    cmd = ["apt-get", "download", "-q", "busybox-static"]
    env = {**os.environ, "LC_ALL": "C"}  # apt's messages untranslated, for _NO_PACKAGE_SOURCE
    res = subprocess.run(cmd, cwd=cache, capture_output=True, text=True, check=False, env=env)
    if res.returncode != 0 and os.geteuid() == 0:  # package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False, env=env)
        res = subprocess.run(cmd, cwd=cache, capture_output=True, text=True, check=False, env=env)
    debs = sorted(cache.glob("busybox-static_*.deb"))
    if res.returncode != 0 or not debs:
        message = f"cannot get busybox-static via `apt-get download`: {res.stderr.strip()}"
        if res.returncode != 0 and _NO_PACKAGE_SOURCE.search(res.stderr):
            raise BusyboxUnavailable(message)
        raise RuntimeError(message)
    return debs[-1]


def _busybox_binary(cache: Path) -> Path:
    if env := os.environ.get("BERTH_BUSYBOX"):
        return Path(env)
    out = cache / "busybox"
    if out.exists():
        return out
    deb = _download_deb(cache)
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("./bin/busybox")
        if member is None:
            raise RuntimeError(f"{deb} has no ./bin/busybox")
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(member.read())
    tmp.chmod(0o755)
    tmp.replace(out)
    return out


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", mode: int = 0o644, **kw: object) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.size, info.mtime = mode, len(data), 0
    for k, v in kw.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data) if data else None)


def _context(busybox: bytes, applets: list[str], digest: str) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, "Dockerfile", _DOCKERFILE.format(label=LABEL, digest=digest).encode())
        for d, mode in [
            ("bin", 0o755),
            ("sbin", 0o755),
            ("usr/bin", 0o755),
            ("usr/sbin", 0o755),
            ("etc", 0o755),
            ("root", 0o700),
            ("tmp", 0o1777),
            ("www", 0o755),
        ]:
            _add(tar, f"rootfs/{d}", mode=mode, type=tarfile.DIRTYPE)
        _add(tar, "rootfs/bin/busybox", busybox, mode=0o755)
        for path in applets:  # e.g. "usr/bin/wget"
            if path != "bin/busybox":
                _add(tar, f"rootfs/{path}", mode=0o777, type=tarfile.SYMTYPE, linkname="/bin/busybox")
        _add(tar, "rootfs/etc/passwd", _PASSWD)
        _add(tar, "rootfs/etc/group", _GROUP)
        _add(tar, "rootfs/www/index.html", INDEX_HTML)
    buf.seek(0)
    return buf


def ensure_test_images() -> None:
    """Build ``berth-test/busybox:1`` unless an image with the same content label exists."""
    busybox = _busybox_binary(_cache_dir())
    listing = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True)
    applets = sorted(listing.stdout.split())
    blob = busybox.read_bytes()
    digest = hashlib.sha256(blob + _DOCKERFILE.encode() + INDEX_HTML + "\n".join(applets).encode())
    digest_hex = digest.hexdigest()[:16]
    client = docker.from_env()
    try:
        old = None
        try:
            old = client.images.get(IMAGE)
            if old.labels.get(LABEL) == digest_hex:
                return
        except docker.errors.ImageNotFound:
            pass
        # The SDK talks to the classic builder (no BuildKit), which needs no registry for FROM scratch.
        new, _ = client.images.build(
            fileobj=_context(blob, applets, digest_hex),
            custom_context=True,
            tag=IMAGE,
            rm=True,
            forcerm=True,
            pull=False,
        )
        if old is not None and old.id and old.id != new.id:
            # drop the stale build so it doesn't linger as a dangling image
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(old.id)
    finally:
        client.close()


if __name__ == "__main__":
    t = time.monotonic()
    ensure_test_images()
    print(f"{IMAGE} ready in {time.monotonic() - t:.2f}s", file=sys.stderr)
