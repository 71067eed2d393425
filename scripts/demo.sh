#!/usr/bin/env bash
# The main job, end to end: make a sample repository, bring a branch's session up, show its
# status, prove the service answers on its own port, and tear it down.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bash "$repo/scripts/bootstrap.sh"
berth="$repo/.venv/bin/berth"

sample="$(mktemp -d /tmp/berth-demo.XXXXXX)"
trap 'rm -rf "$sample"' EXIT
cd "$sample"
git init -q -b main
git config user.email demo@example.com
git config user.name "Berth demo"
echo "hello from the main checkout" >index.html
"$berth" init
cat >berth.toml <<'TOML'
mode = "host"
[[services]]
name = "web"
base_port = 18700
command = "exec python3 -m http.server $PORT --bind 127.0.0.1"
[hooks]
post_up = "echo \"web is on port $PORT\""
TOML
git add -A && git commit -q -m "sample project"

echo "--- berth up feat/demo"
"$berth" up feat/demo
port="$("$berth" ls --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessions"][0]["ports"]["web"])')"
echo "--- curl http://127.0.0.1:$port/"
python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/').read().decode().strip())"
echo "--- berth status"
"$berth" status
echo "--- berth down feat-demo"
"$berth" down feat-demo
"$berth" ls
