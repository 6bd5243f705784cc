#!/usr/bin/env bash
# Runs the README's curl examples exactly as printed (the fenced block after the line ending "Try it with curl ...")
# against the real binary on 127.0.0.1:8080 with dev secrets laid out as scripts/dev.sh does,
# and checks what each command printed.
# Usage: tests/readme_examples.sh [BINARY]   (default target/debug/brain-mcp)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/debug/brain-mcp}
work=$(mktemp -d "${TMPDIR:-/tmp}/brain-readme.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The block, exactly as the README prints it.
awk '/Try it with curl/ {found=1; next} found && /^```sh$/ {inblock=1; next} inblock && /^```$/ {exit} inblock {print}' \
    "$root/README.md" >"$work/example.sh"
if ! grep -q 'curl' "$work/example.sh"; then
    echo "FAIL readme: no curl block found after 'Try it with curl'"
    exit 1
fi

cd "$work"
mkdir -m 700 brain-data
{
    echo "BRAIN_MCP_TOKEN=$("$bin" gen-secret)"
    echo "OAUTH_CLIENT_ID=dev-client"
    echo "OAUTH_CLIENT_SECRET=$("$bin" gen-secret)"
} >brain-data/dev-secrets.env
(
    set -a
    # shellcheck disable=SC1091 # written just above
    . ./brain-data/dev-secrets.env
    set +a
    export BRAIN_DATA_DIR=./brain-data LISTEN_ADDR=127.0.0.1:8080
    exec "$bin" serve
) 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$work/server.log" 2>/dev/null && break
    sleep 0.05
done
if ! grep -q 'listening on http://127.0.0.1:8080' "$work/server.log"; then
    echo "FAIL readme: server did not start on 127.0.0.1:8080"
    cat "$work/server.log"
    exit 1
fi

out=$(bash -euo pipefail "$work/example.sh" 2>&1) || {
    echo "FAIL readme: the example block exited non-zero:"
    echo "$out"
    exit 1
}
fail=0
expect() {
    if printf '%s' "$out" | grep -q -- "$1"; then
        echo "PASS readme: $2"
    else
        echo "FAIL readme: $2 (expected to see $1)"
        fail=1
    fi
}
expect '{"status":"ok"}' "healthz"
expect '"structuredContent":{"by":"static token","created_at"' "remember with the static token"
expect 'blue flowerpot' "search with a client_credentials token finds the note"
if [ "$fail" -ne 0 ]; then
    echo "--- output ---"
    echo "$out"
    exit 1
fi
echo "3 passed, 0 failed"
