#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one after another.
# Exits non-zero if any target crashes, printing the artifact path.
#
#   scripts/fuzz.sh [SECONDS]
#
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz if
# missing. FUZZ_TARGETS="a b" restricts the targets; extra libFuzzer flags go in FUZZ_ARGS.
# Corpora live in fuzz/corpus/TARGET (not committed); the jsonrpc corpus is seeded with valid
# requests when empty.
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
  '' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

toolchain="${FUZZ_TOOLCHAIN:-nightly}"
if ! cargo "+$toolchain" --version >/dev/null 2>&1; then
  echo "fuzz: installing the $toolchain toolchain" >&2
  rustup toolchain install "$toolchain" --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-http_parse client_auth jsonrpc jwt}"
read -r -a extra <<<"${FUZZ_ARGS:-}"

# Seeds: one file per message. The first byte of a jsonrpc input picks the routing headers
# (see fuzz/fuzz_targets/jsonrpc.rs, which also replaces $ID and $CURSOR in the body):
# 0x09 = 2025-11-25 (index 1) with Mcp-Method from the body (1 << 3);
# 0x28 = 2026-07-28 (index 0), Mcp-Method and Mcp-Name from the body (0x08 | 0x20).
seed() {
  local dir="$1" name="$2" ctl="$3" body="$4"
  printf "\\x${ctl}%s" "$body" >"$dir/$name"
}

# shellcheck disable=SC2016 # $ID and $CURSOR are literal placeholders, not shell expansions
seed_jsonrpc() {
  local d="corpus/jsonrpc"
  mkdir -p "$d"
  if [ -n "$(ls -A "$d")" ]; then
    return
  fi
  local meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
  seed "$d" initialize 09 '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}'
  seed "$d" initialized 09 '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  seed "$d" ping 09 '{"jsonrpc":"2.0","id":"p","method":"ping"}'
  seed "$d" response 09 '{"jsonrpc":"2.0","id":7,"result":{}}'
  seed "$d" tools_list 09 '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
  seed "$d" remember 09 '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"remember","arguments":{"text":"Alice prefers tea","tags":["people","food"]}}}'
  seed "$d" search 09 '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"search","arguments":{"query":"tea","tag":"people","limit":5}}}'
  seed "$d" recall 09 '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"recall","arguments":{"id":"$ID"}}}'
  seed "$d" forget 09 '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"forget","arguments":{"id":"$ID"}}}'
  seed "$d" list_notes 09 '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"list_notes","arguments":{"tag":"people","limit":2,"cursor":"$CURSOR"}}}'
  seed "$d" update 09 '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"update","arguments":{"id":"$ID","text":"Alice prefers green tea","tags":["people"]}}}'
  seed "$d" recall_history 09 '{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"recall","arguments":{"id":"$ID","history":true,"offset":3}}}'
  seed "$d" list_tags 09 '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"list_tags","arguments":{}}}'
  seed "$d" search_syntax 09 '{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"search","arguments":{"query":"\"prefers tea\" -coffee alic teaa","tags_any":["people","food"],"tags_all":["people"],"since":"2020-01-01","until":"2099-12-31T00:00:00Z","cursor":"$CURSOR"}}}'
  seed "$d" discover 28 '{"jsonrpc":"2.0","id":9,"method":"server/discover","params":{'"$meta"'}}'
  seed "$d" stateless_list 28 '{"jsonrpc":"2.0","id":10,"method":"tools/list","params":{'"$meta"'}}'
  seed "$d" stateless_call 28 '{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"search","arguments":{"query":"tea"},'"$meta"'}}'
}

seed_http_parse() {
  local d="corpus/http_parse"
  mkdir -p "$d"
  if [ -n "$(ls -A "$d")" ]; then
    return
  fi
  printf 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n' >"$d/get"
  printf 'POST /mcp?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: keep-alive, close\r\nExpect: 100-continue\r\n\r\n{}' >"$d/post"
  printf 'GET http://a/b?c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' >"$d/absolute"
  printf 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' >"$d/chunked"
}

seed_client_auth() {
  local d="corpus/client_auth"
  mkdir -p "$d"
  if [ -n "$(ls -A "$d")" ]; then
    return
  fi
  printf 'Basic Y2xpZW50OnNlY3JldA==' >"$d/basic"
  printf 'grant_type=authorization_code&code=a%%20b+c&resource=x&resource=y' >"$d/form"
  printf 'id\xffsecret' >"$d/roundtrip"
}

# jwt: a whole token (the raw path), and header NUL payload (the path that signs the input
# with the fixture key; see fuzz/fuzz_targets/jwt.rs).
seed_jwt() {
  local d="corpus/jwt"
  mkdir -p "$d"
  if [ -n "$(ls -A "$d")" ]; then
    return
  fi
  local claims='{"iss":"https://id.example","sub":"alice","aud":"https://brain.example/mcp","exp":1800000300,"iat":1800000000,"jti":"j","client_id":"c"}'
  printf '%s\0%s' '{"alg":"ES256","typ":"at+jwt","kid":"k1"}' "$claims" >"$d/rfc9068"
  printf '%s\0%s' '{"alg":"ES256","kid":"k1"}' '{"iss":"https://id.example","sub":"CgcyMzQyNzQ5EgZnaXRodWI","aud":["brain-mcp","claude-ai"],"azp":"claude-ai","exp":1800086400,"iat":1800000000,"nonce":"n","email":"a@example.com","email_verified":true,"groups":["g"]}' >"$d/dex"
  printf '%s\0%s' '{"alg":"ES256","typ":"at+jwt","kid":"k1","alg":"none"}' '{"exp":"1800000300","nbf":1.5}' >"$d/dup"
  printf 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUifQ.AAAA' >"$d/raw"
}

seed_jsonrpc
seed_http_parse
seed_client_auth
seed_jwt

echo "fuzz: building ($toolchain)" >&2
cargo "+$toolchain" fuzz build

failed=0
# shellcheck disable=SC2086 # word-splitting the target list is intended
for t in $targets; do
  artifacts="$root/fuzz/artifacts/$t"
  mkdir -p "$artifacts"
  log="$artifacts/fuzz.log"
  echo "fuzz: $t for ${seconds}s" >&2
  status=0
  cargo "+$toolchain" fuzz run "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${extra[@]}" >"$log" 2>&1 || status=$?
  # The last status line carries cov: (edges), ft:, corpus size and exec/s.
  grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse)' "$log" | tail -n 1 | sed "s/^/fuzz: $t: /" >&2 || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" \
    | sed "s/^/fuzz: $t: /" >&2 || true
  if [ "$status" -ne 0 ]; then
    failed=1
    tail -n 60 "$log" >&2
    echo "fuzz: $t FAILED (exit $status); log: $log" >&2
    grep -ho 'Test unit written to .*' "$log" | sed "s/^/fuzz: $t: /" >&2 || true
  fi
done
exit "$failed"
