#!/usr/bin/env bash
# The owner's pages' time to first byte over 10,000 notes (scripts/bench/gen_notes.py), on the
# given binary: one note edited five times (six versions, so its page shows history and a
# diff), then scripts/bench/web_ttfb.py signs in and times each page RUNS times, one request
# at a time on one keep-alive connection. Prints one markdown table.
#
#   scripts/bench/web.sh BIN [RUNS]      (RUNS: 200 by default; bench.sh --quick passes 20)
#
# Called by scripts/bench.sh; needs python3 and curl. Stops by itself and cleans up.
set -euo pipefail

BIN=${1:?usage: web.sh BIN [RUNS]}
RUNS=${2:-200}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOKEN=bench_static_token_0123456789abcdefghijklmnop
PASSWORD=bench-owner-password-0123

log() { printf '%s\n' "bench/web: $*" >&2; }
die() { log "$*"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/brain-bench-web.XXXXXX")
PID=
cleanup() {
  [[ -n $PID ]] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  rm -rf "$TMP"
}
trap cleanup EXIT

python3 "$ROOT/scripts/bench/gen_notes.py" 10000 "$TMP/data" >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env BRAIN_MCP_TOKEN="$TOKEN" BRAIN_OWNER_PASSWORD="$PASSWORD" LISTEN_ADDR="127.0.0.1:$PORT" \
  BRAIN_DATA_DIR="$TMP/data" "$BIN" serve >"$TMP/server.log" 2>&1 &
PID=$!
for ((i = 0; i < 300; i++)); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
  kill -0 "$PID" 2>/dev/null || die "the server exited: $(cat "$TMP/server.log")"
  sleep 0.1
done

mcp() {
  curl -sf "http://127.0.0.1:$PORT/mcp" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d "$1"
}
# The newest note, edited five times.
ID=$(mcp '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_notes","arguments":{"limit":1}}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["structuredContent"]["notes"][0]["id"])')
for v in 2 3 4 5 6; do
  mcp '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"update","arguments":{"id":"'"$ID"'","text":"Budget meeting notes, version '"$v"': the quarterly roadmap review moved to Thursday; bring the invoice numbers and the hiring plan."}}}' >/dev/null
done

echo
echo "owner pages, time to first byte, 10,000 notes, one connection, $RUNS requests each ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
python3 "$ROOT/scripts/bench/web_ttfb.py" "$PORT" "$PASSWORD" "$RUNS" "$ID"
