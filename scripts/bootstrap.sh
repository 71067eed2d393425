#!/usr/bin/env bash
# Create .venv with Berth and its pinned dependencies (constraints.txt). Idempotent and quick when
# nothing changed.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: Berth needs Python >= 3.11 ($python is $("$python" --version 2>&1))." >&2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing python3 from Debian" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    python=python3
  else
    exit 1
  fi
fi

# Berth's own modules as bytecode, as a regular (non-editable) install has them: with
# PYTHONDONTWRITEBYTECODE set (as on these machines) every `berth` command would otherwise compile
# its ~100 modules from source (about 100 ms). Stale files are simply recompiled in memory.
compile_berth() { "${1:-.venv/bin/python}" -m compileall -q -j 0 server/berth >/dev/null; }

stamp=".venv/.berth-stamp"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  compile_berth
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv || {
    echo "bootstrap: python venv is missing; on Debian: apt-get install python3-venv" >&2
    exit 1
  }
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e '.[dev,docker,mcp]'
compile_berth
echo "$want" >"$stamp"
echo "bootstrap: .venv ready ($(.venv/bin/python --version))"
