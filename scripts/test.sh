#!/usr/bin/env bash
# The whole test suite: installs what it needs (venv, Docker engine when possible, VS Code tooling),
# then lint + types, the Python tests (unit, e2e over git/processes/docker/RPC) and the extension's
# three tiers. Exit status is non-zero if anything failed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
status=0
step() { printf '\n=== %s ===\n' "$*"; }

step "bootstrap"
bash scripts/bootstrap.sh || exit 1

step "lint and types"
.venv/bin/ruff check server tests bench examples || status=1
.venv/bin/ruff format --check server tests bench examples || status=1
.venv/bin/mypy || status=1
.venv/bin/lint-imports --no-cache || status=1   # the layer contracts in pyproject.toml

step "docker engine"
if out="$(bash scripts/ensure-docker.sh 2>&1)"; then
  echo "$out" | tail -n 5
else
  echo "$out" | tail -n 5
  if [ "${BERTH_REQUIRE_DOCKER:-}" = 1 ]; then
    # CI: the docker tier must run (tests/e2e/docker/conftest.py fails its tests too)
    echo "no Docker engine, and BERTH_REQUIRE_DOCKER=1: failing the run"
    status=1
  else
    export BERTH_DOCKER_UNAVAILABLE="$(echo "$out" | tail -n 1)"
    echo "docker tests will be skipped: $BERTH_DOCKER_UNAVAILABLE"
  fi
fi

step "python tests"
.venv/bin/pytest tests -q -p no:cacheprovider "$@" || status=1

if [ -z "${BERTH_SKIP_VSCODE:-}" ] && [ -f scripts/test-vscode.sh ]; then
  step "vs code extension"
  bash scripts/test-vscode.sh || status=1
fi

step "result"
if [ "$status" = 0 ]; then echo "all checks passed"; else echo "some checks failed"; fi
exit "$status"
