#!/bin/sh
# Smoke-test a running brain-mcp over HTTP: what a client needs, end to end.
#
# Usage: scripts/smoke.sh BASE_URL          e.g. https://brain.example.com or http://127.0.0.1:8080
# Environment (each may instead be NAME_FILE, a path to a file holding the value):
#   BRAIN_MCP_TOKEN                          required: the static bearer
#   OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET     optional: when set, a client_credentials token is
#                                            fetched and used for the MCP round trip
#
# One line per check; stops at the first failure, printing the response that failed (with
# every token and secret redacted) and exiting 1. Secrets never reach a command line (curl
# reads them from files in a private temporary directory) and are never printed.
# Safe against production: the one note it stores carries a unique marker and is forgotten
# again, also when a later check fails.
# Needs only POSIX sh, curl, awk, sed, tr, od.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BASE_URL" >&2
    exit 2
fi
base=${1%/}
case $base in http://* | https://*) ;; *) echo "smoke: BASE_URL must start with http:// or https://" >&2; exit 2 ;; esac

# secret NAME: the value of $NAME, else the contents of the file $NAME_FILE, else empty.
secret() {
    eval "v=\${$1:-}; f=\${$1_FILE:-}"
    # shellcheck disable=SC2154 # v and f are set by the eval above
    if [ -n "$v" ]; then
        printf '%s' "$v"
    elif [ -n "$f" ]; then
        tr -d '\r\n' <"$f"
    fi
}
S_STATIC=$(secret BRAIN_MCP_TOKEN)
S_CLIENT_ID=$(secret OAUTH_CLIENT_ID)
S_CLIENT_SECRET=$(secret OAUTH_CLIENT_SECRET)
S_ACCESS=
export S_STATIC S_CLIENT_SECRET S_ACCESS
if [ -z "$S_STATIC" ]; then
    echo "smoke: set BRAIN_MCP_TOKEN (or BRAIN_MCP_TOKEN_FILE)" >&2
    exit 2
fi

tmp=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/brain-mcp-smoke.XXXXXX")
note_id=
passed=0

# Redact secrets from text on stdin: the known ones by exact match (read from the
# environment, never from argv) and any JSON token field by name.
redact() {
    awk '
    function hide(s, secret,    i, out) {
        if (secret == "") return s
        out = ""
        while ((i = index(s, secret)) > 0) {
            out = out substr(s, 1, i - 1) "[redacted]"
            s = substr(s, i + length(secret))
        }
        return out s
    }
    {
        line = hide($0, ENVIRON["S_STATIC"])
        line = hide(line, ENVIRON["S_CLIENT_SECRET"])
        line = hide(line, ENVIRON["S_ACCESS"])
        out = ""
        while (match(line, /"(access_token|refresh_token|client_secret)"[ \t]*:[ \t]*"[^"]*"/)) {
            key = substr(line, RSTART, RLENGTH)
            sub(/[ \t]*:.*/, "", key)
            out = out substr(line, 1, RSTART - 1) key ":\"[redacted]\""
            line = substr(line, RSTART + RLENGTH)
        }
        line = out line
        print line
    }'
}

# A failed check: say which, show the response, clean up, exit 1.
fail() {
    echo "FAIL $1"
    if [ -f "$tmp/headers" ]; then
        echo "---- response (status ${status:-?}) ----"
        redact <"$tmp/curl-error"
        tr -d '\r' <"$tmp/headers" | grep -iv '^set-cookie:' | redact
        head -c 4000 "$tmp/body" | redact
        echo
        echo "----"
    fi
    exit 1
}
ok() {
    passed=$((passed + 1))
    echo "ok   $1"
}

# req METHOD PATH [AUTH] [BODY_FILE] [CONTENT_TYPE]: one request; sets $status and writes
# $tmp/headers and $tmp/body. AUTH is static, access, bad or none.
req() {
    : >"$tmp/auth"
    case ${3:-none} in
        static) printf 'Authorization: Bearer %s\n' "$S_STATIC" >"$tmp/auth" ;;
        access) printf 'Authorization: Bearer %s\n' "$S_ACCESS" >"$tmp/auth" ;;
        bad) printf 'Authorization: Bearer %s\n' "smoke-not-a-token-0000000000000000000000" >"$tmp/auth" ;;
    esac
    method=$1
    path=$2
    if [ -n "${4:-}" ]; then
        set -- --data-binary "@$4" -H "Content-Type: ${5:-application/json}"
    else
        set --
    fi
    : >"$tmp/headers"
    : >"$tmp/body"
    status=$(curl -sS --max-time 15 -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' \
        -X "$method" -H @"$tmp/auth" -H 'Accept: application/json, text/event-stream' \
        "$@" "$base$path" 2>"$tmp/curl-error") || status=000
    : >"$tmp/auth"
}

# The body as one line (JSON strings cannot hold raw newlines); SSE "data:" prefixes removed.
body() { sed 's/^data: \{0,1\}//' "$tmp/body" | tr '\n\r' '  '; }
# header NAME: the value of a response header (first one, case-insensitive).
header() {
    tr -d '\r' <"$tmp/headers" | awk -v n="$1" 'BEGIN { n = tolower(n) ":" }
        tolower(substr($0, 1, length(n))) == n { sub(/^[^:]*:[ \t]*/, ""); print; exit }'
}
# json_str KEY: the first string value of "KEY" in the body.
json_str() { body | sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1; }
has() { body | grep -qF -- "$1"; }

# mcp AUTH NAME JSON-PARAMS: a tools/call (or other method when NAME starts with "method:").
rpc_id=0
mcp() {
    rpc_id=$((rpc_id + 1))
    case $2 in
        method:*) printf '{"jsonrpc":"2.0","id":%s,"method":"%s","params":%s}' "$rpc_id" "${2#method:}" "$3" ;;
        *) printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s}}' "$rpc_id" "$2" "$3" ;;
    esac >"$tmp/req.json"
    req POST /mcp "$1" "$tmp/req.json"
}
# A tools/call result that is a success: HTTP 200, a JSON-RPC result, not isError.
tool_ok() {
    [ "$status" = 200 ] && has '"result"' && ! body | grep -q '"isError"[[:space:]]*:[[:space:]]*true'
}

# Forget the smoke note if a failure left it behind.
cleanup() {
    rc=$?
    if [ -n "$note_id" ]; then
        mcp static forget "{\"id\":$note_id}" || true
        if tool_ok; then echo "ok   cleanup: forgot the smoke note"; else echo "WARN cleanup: could not forget note $note_id (status $status)"; fi
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- health -----------------------------------------------------------------------------
req GET /healthz
{ [ "$status" = 200 ] && body | grep -q '"status"[[:space:]]*:[[:space:]]*"ok"'; } || fail "GET /healthz is 200 {\"status\":\"ok\"}"
ok "GET /healthz is 200 {\"status\":\"ok\"}"

# -- metadata ---------------------------------------------------------------------------
req GET /.well-known/oauth-protected-resource/mcp
[ "$status" = 200 ] || fail "GET /.well-known/oauth-protected-resource/mcp is 200"
resource=$(json_str resource)
as=$(body | sed -n 's/.*"authorization_servers"[[:space:]]*:[[:space:]]*\[[[:space:]]*"\([^"]*\)".*/\1/p')
case $resource in http://*/mcp | https://*/mcp) ;; *) fail "protected-resource metadata: resource is an absolute URL ending in /mcp" ;; esac
origin=$(printf '%s' "$resource" | sed 's#^\(https\{0,1\}://[^/]*\)/.*#\1#')
[ "$as" = "$origin" ] || fail "protected-resource metadata: authorization_servers[0] ($as) is the origin of resource ($origin)"
{ has '"bearer_methods_supported"' && has '"mcp"'; } || fail "protected-resource metadata: bearer_methods_supported and scopes_supported"
ok "protected-resource metadata: resource $resource, authorization server $as"

req GET /.well-known/oauth-protected-resource
{ [ "$status" = 200 ] && [ "$(json_str resource)" = "$resource" ]; } || fail "GET /.well-known/oauth-protected-resource names the same resource"
ok "GET /.well-known/oauth-protected-resource names the same resource"

req GET /.well-known/oauth-authorization-server
[ "$status" = 200 ] || fail "GET /.well-known/oauth-authorization-server is 200"
issuer=$(json_str issuer)
[ "$issuer" = "$as" ] || fail "authorization-server metadata: issuer ($issuer) is byte-identical to authorization_servers[0] ($as)"
token_endpoint=$(json_str token_endpoint)
[ "$token_endpoint" = "$issuer/oauth/token" ] || fail "authorization-server metadata: token_endpoint is $issuer/oauth/token"
{ has '"S256"' && has '"client_credentials"'; } || fail "authorization-server metadata: S256 PKCE and client_credentials"
ok "authorization-server metadata: issuer $issuer, token endpoint under it"

# -- the 401 challenge ------------------------------------------------------------------
printf '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' >"$tmp/req.json"
req POST /mcp none "$tmp/req.json"
challenge=$(header WWW-Authenticate)
[ "$status" = 401 ] || fail "POST /mcp without credentials is 401"
case $challenge in
    Bearer*"resource_metadata=\"$issuer/.well-known/oauth-protected-resource/mcp\""*) ;;
    *) fail "401 WWW-Authenticate names resource_metadata=\"$issuer/.well-known/oauth-protected-resource/mcp\"" ;;
esac
ok "POST /mcp without credentials: 401 with absolute resource_metadata"

req POST /mcp bad "$tmp/req.json"
{ [ "$status" = 401 ] && header WWW-Authenticate | grep -q 'error="invalid_token"'; } || fail "POST /mcp with an unknown token: 401 error=\"invalid_token\""
ok "POST /mcp with an unknown token: 401 invalid_token"

# -- an OAuth access token (client_credentials) ------------------------------------------
auth=static
if [ -n "$S_CLIENT_ID" ] && [ -n "$S_CLIENT_SECRET" ]; then
    # client_secret_post; the ID and secret are of [A-Za-z0-9._~-], which needs no encoding.
    printf 'grant_type=client_credentials&scope=mcp&client_id=%s&client_secret=%s' \
        "$S_CLIENT_ID" "$S_CLIENT_SECRET" >"$tmp/form"
    req POST /oauth/token none "$tmp/form" application/x-www-form-urlencoded
    : >"$tmp/form"
    S_ACCESS=$(json_str access_token)
    export S_ACCESS
    { [ "$status" = 200 ] && [ -n "$S_ACCESS" ]; } || fail "POST /oauth/token client_credentials gives an access token"
    { has '"expires_in"' && header Cache-Control | grep -qi 'no-store'; } || fail "token response has expires_in and Cache-Control: no-store"
    ok "POST /oauth/token client_credentials: bearer token, expires_in, no-store"
    auth=access
else
    echo "skip client_credentials token (OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET not set); using the static token"
fi

# -- MCP --------------------------------------------------------------------------------
mcp "$auth" method:initialize '{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"brain-mcp-smoke","version":"1"}}'
{ [ "$status" = 200 ] && has '"protocolVersion"' && has '"brain-mcp"'; } || fail "initialize"
ok "initialize: $(json_str protocolVersion), server $(json_str name)"

printf '{"jsonrpc":"2.0","method":"notifications/initialized"}' >"$tmp/req.json"
req POST /mcp "$auth" "$tmp/req.json"
[ "$status" = 202 ] || fail "notifications/initialized is 202"
ok "notifications/initialized: 202"

mcp "$auth" method:tools/list '{}'
for tool in remember search recall forget list_notes; do
    has "\"$tool\"" || fail "tools/list names $tool"
done
ok "tools/list: remember, search, recall, forget, list_notes"

# A marker no real note contains: letters and digits only, so any tokenizer keeps it whole.
marker="brainmcpsmoke$(date +%s)$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mcp "$auth" remember "{\"text\":\"brain-mcp smoke test $marker: safe to delete\",\"tags\":[\"smoke-test\"]}"
tool_ok || fail "remember"
# The note id as a raw JSON value (string or number), from structuredContent.
note_id=$(body | awk '{
    i = index($0, "\"structuredContent\""); if (!i) exit
    s = substr($0, i)
    if (match(s, /"id"[ \t]*:[ \t]*("[^"]*"|-?[0-9]+)/)) { v = substr(s, RSTART, RLENGTH); sub(/^"id"[ \t]*:[ \t]*/, "", v); print v }
}')
[ -n "$note_id" ] || fail "remember returns structuredContent.id"
ok "remember: stored note $note_id"

mcp "$auth" search "{\"query\":\"$marker\",\"limit\":5}"
# Search answers snippets with the matched words marked (**word**); the note's tail is
# text the query does not contain.
{ tool_ok && has "$note_id" && has ": safe to delete"; } || fail "search finds the note just remembered"
ok "search: finds it"

mcp "$auth" forget "{\"id\":$note_id}"
tool_ok || fail "forget"
forgotten=$note_id
note_id=
ok "forget: note $forgotten"

mcp "$auth" search "{\"query\":\"$marker\",\"limit\":5}"
{ tool_ok && ! has "$forgotten" && ! has ": safe to delete"; } || fail "search no longer finds the forgotten note"
ok "search: gone after forget"

# -- the static bearer --------------------------------------------------------------------
mcp static method:tools/list '{}'
{ [ "$status" = 200 ] && has '"remember"'; } || fail "tools/list with the static BRAIN_MCP_TOKEN"
ok "static BRAIN_MCP_TOKEN accepted on /mcp"

echo "smoke: all $passed checks passed against $base"
