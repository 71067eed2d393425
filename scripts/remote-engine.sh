#!/usr/bin/env bash
# A second Docker engine standing in for a remote machine (the remote-engine tests use it).
#
#   remote-engine.sh start DIR [SLOT]   start it (idempotent), print its env lines
#   remote-engine.sh env DIR            DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH lines
#   remote-engine.sh stop DIR           stop it, delete its network namespace, veth and DIR
#
# The engine runs in its own network namespace (berth-rd<SLOT>) behind a veth pair on
# 10.231.<SLOT>.0/30 (host side .1, engine side .2), with its own --data-root, --exec-root, --pidfile,
# cgroup parent and bridge subnet (172.30.<100+SLOT>.0/24), listening on tcp://10.231.<SLOT>.2:2376 with
# TLS (a CA, a server certificate for that IP and a client certificate, made here with openssl). None of
# these overlap the main engine (172.17/16 and the compose pools live in the host's namespace, and
# 10.231/16 is not used by it). SLOT (0-63) lets two test runs on one machine have one engine each.
# `nsenter --net`, not `ip netns exec`: the latter remounts /sys and hides the cgroup mounts dockerd needs.
set -euo pipefail

die() { echo "remote-engine: $*" >&2; exit 1; }
[[ $# -ge 2 ]] || die "usage: $0 start|stop|env DIR [SLOT]"
action=$1
dir=$2
[[ $EUID -eq 0 ]] || die "needs root (network namespaces and a second dockerd)"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

slot_file=$dir/slot
if [[ -f $slot_file ]]; then
  slot=$(cat "$slot_file")
else
  slot=${3:-0}
fi
[[ $slot =~ ^[0-9]+$ && $slot -le 63 ]] || die "SLOT must be 0-63, not $slot"
ns=berth-rd$slot
veth_host=brd${slot}h
veth_ns=brd${slot}n
host_ip=10.231.$slot.1
engine_ip=10.231.$slot.2
port=2376
tls=$dir/tls
sock=$dir/docker.sock

env_lines() {
  echo "DOCKER_HOST=tcp://$engine_ip:$port"
  echo "DOCKER_TLS_VERIFY=1"
  echo "DOCKER_CERT_PATH=$tls/client"
}

answers() {
  # The unix socket inside the namespace's roots: no TLS, no CA-bundle variables involved.
  timeout 10 docker -H "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1 &&
    timeout 10 env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE -u DOCKER_CONTEXT -u DOCKER_HOST \
      docker --tlsverify --tlscacert "$tls/client/ca.pem" --tlscert "$tls/client/cert.pem" \
      --tlskey "$tls/client/key.pem" -H "tcp://$engine_ip:$port" version >/dev/null 2>&1
}

running_pid() {
  local pid
  [[ -f $dir/docker.pid ]] || return 1
  pid=$(cat "$dir/docker.pid")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

make_certs() {
  [[ -f $tls/client/key.pem && -f $tls/server/key.pem ]] && return
  rm -rf "$tls"
  mkdir -p "$tls/ca" "$tls/server" "$tls/client"
  openssl genrsa -out "$tls/ca/key.pem" 2048 2>/dev/null
  openssl req -x509 -new -key "$tls/ca/key.pem" -sha256 -days 2 -subj "/CN=berth-test-remote-ca" \
    -out "$tls/ca/ca.pem"
  openssl genrsa -out "$tls/server/key.pem" 2048 2>/dev/null
  openssl req -new -key "$tls/server/key.pem" -subj "/CN=$engine_ip" -out "$tls/server/req.csr"
  printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$engine_ip" >"$tls/server/ext.cnf"
  openssl x509 -req -in "$tls/server/req.csr" -CA "$tls/ca/ca.pem" -CAkey "$tls/ca/key.pem" \
    -CAcreateserial -days 2 -sha256 -extfile "$tls/server/ext.cnf" -out "$tls/server/cert.pem" 2>/dev/null
  openssl genrsa -out "$tls/client/key.pem" 2048 2>/dev/null
  openssl req -new -key "$tls/client/key.pem" -subj "/CN=berth-test-client" -out "$tls/client/req.csr"
  printf 'extendedKeyUsage=clientAuth\n' >"$tls/client/ext.cnf"
  openssl x509 -req -in "$tls/client/req.csr" -CA "$tls/ca/ca.pem" -CAkey "$tls/ca/key.pem" \
    -CAcreateserial -days 2 -sha256 -extfile "$tls/client/ext.cnf" -out "$tls/client/cert.pem" 2>/dev/null
  cp "$tls/ca/ca.pem" "$tls/client/ca.pem"
  cp "$tls/ca/ca.pem" "$tls/server/ca.pem"
}

make_netns() {
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  if ! ip link show "$veth_host" >/dev/null 2>&1; then
    ip link add "$veth_host" type veth peer name "$veth_ns"
    ip link set "$veth_ns" netns "$ns"
    ip addr add "$host_ip/30" dev "$veth_host"
    ip -n "$ns" addr add "$engine_ip/30" dev "$veth_ns"
  fi
  ip link set "$veth_host" up
  ip -n "$ns" link set "$veth_ns" up
  ip -n "$ns" link set lo up
}

start() {
  if running_pid >/dev/null && answers; then
    env_lines
    return
  fi
  echo "$slot" >"$slot_file"
  make_certs
  make_netns
  mkdir -p "$dir/data" "$dir/exec"
  if ! running_pid >/dev/null; then
    rm -f "$sock" "$dir/docker.pid"
    mkdir -p "$dir/etc-docker" /etc/docker
    # A private mount namespace with its own /etc/docker: dockerd 20.10 keeps its engine ID in
    # /etc/docker/key.json, and a remote machine must not share the local engine's ID.
    setsid nohup nsenter --net="/run/netns/$ns" unshare --mount --propagation slave \
      sh -c 'mount --bind "$0" /etc/docker && exec "$@"' "$dir/etc-docker" dockerd \
      --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
      --cgroup-parent "/berth-remote-$slot" --bip "172.30.$((100 + slot)).1/24" \
      -H "unix://$sock" -H "tcp://$engine_ip:$port" \
      --tlsverify --tlscacert "$tls/server/ca.pem" --tlscert "$tls/server/cert.pem" \
      --tlskey "$tls/server/key.pem" >"$dir/dockerd.log" 2>&1 </dev/null &
    echo $! >"$dir/launcher.pid"
  fi
  local deadline=$((SECONDS + 90))
  until answers; do
    if ! kill -0 "$(cat "$dir/launcher.pid")" 2>/dev/null && ! running_pid >/dev/null; then
      tail -n 8 "$dir/dockerd.log" >&2
      die "the second dockerd exited (log: $dir/dockerd.log)"
    fi
    ((SECONDS < deadline)) || die "the second dockerd does not answer after 90 s (log: $dir/dockerd.log)"
    sleep 0.2
  done
  env_lines
}

stop() {
  local pid deadline
  if pid=$(running_pid); then
    # its containers first, so none outlives the engine's own shutdown grace
    timeout 30 docker -H "unix://$sock" ps -aq 2>/dev/null | xargs -r timeout 60 docker -H "unix://$sock" rm -f \
      >/dev/null 2>&1 || true
    kill "$pid"
    deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then kill -9 "$pid" 2>/dev/null || true; fi
      sleep 0.2
    done
  fi
  ip link del "$veth_host" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  # overlay mounts (and the netns bind mounts) the engine may have left under its roots
  { grep -o " $dir/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
}

case $action in
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  *) die "unknown action $action (start|stop|env)" ;;
esac
