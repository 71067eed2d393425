"""``berth-test/git:1``: the offline busybox test image plus this machine's own git and the shared
libraries it links (Debian's busybox has no git and no image can be pulled). Rebuilt only when git
or its libraries change."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import docker
import docker.errors

from dockerimages import IMAGE as BUSYBOX_IMAGE

GIT_IMAGE = "berth-test/git:1"
_LABEL = "berth.test.git-content"
_LIB = re.compile(r"(/\S+\.so[.\d]*)")


def _files() -> list[Path]:
    git = Path(shutil.which("git") or "/usr/bin/git").resolve()
    ldd = subprocess.run(["ldd", str(git)], capture_output=True, text=True, check=True).stdout
    return [git, *sorted({Path(m) for m in _LIB.findall(ldd)})]  # the paths the loader asks for


def ensure_git_image() -> str:
    files = _files()
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]  # follows links
    client = docker.from_env()
    try:
        try:
            if client.images.get(GIT_IMAGE).labels.get(_LABEL) == digest:
                return GIT_IMAGE
        except docker.errors.ImageNotFound:
            pass
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            lines = [f"FROM {BUSYBOX_IMAGE}", f"LABEL {_LABEL}={digest}"]
            for index, path in enumerate(files):
                tar.add(path.resolve(), arcname=f"f{index}")
                lines.append(f"COPY f{index} {path}")
            lines.append("COPY f0 /usr/bin/git")
            dockerfile = ("\n".join(lines) + "\n").encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            tar.addfile(info, io.BytesIO(dockerfile))
        buf.seek(0)
        client.images.build(
            fileobj=buf, custom_context=True, tag=GIT_IMAGE, rm=True, forcerm=True, pull=False
        )
    finally:
        client.close()
    return GIT_IMAGE
