#!/bin/sh
# Build the container image with podman, run it the way README.md says (secrets as a
# mounted file and as an env secret, a named volume on /data, non-root, no capabilities), wait for its HEALTHCHECK, run scripts/smoke.sh against it, stop it
# gracefully, start it again on the same volume, and clean everything up.
#
# Usage: scripts/container-test.sh
# Exit status: 0 passed, 1 failed, 77 skipped (podman cannot be had here).
#
# On this kind of machine (no systemd, cgroup v1, podman 4.3) `podman run` needs an explicit
# OCI runtime and explicit ulimits; PODMAN_RUN_OPTS overrides them. Without systemd podman
# cannot arm the HEALTHCHECK timer (it logs "unable to get systemd connection"), so this
# script runs the check itself with `podman healthcheck run`.
# Not --read-only: podman cannot bind a secret file under /run/secrets of a read-only
# scratch root. Nothing is writable for uid 65532 in the image but /data anyway.
set -eu

cd "$(dirname "$0")/.."
say() { echo "container-test: $*"; }

have_tools() { command -v podman >/dev/null 2>&1 && { command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ]; }; }
if ! have_tools; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing podman and runc"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc; } >/dev/null 2>&1 || true
    fi
fi
if ! have_tools; then
    say "SKIP: podman and runc are not installed and could not be installed"
    exit 77
fi
runtime=$(command -v runc || echo /usr/sbin/runc)
RUN_OPTS=${PODMAN_RUN_OPTS:---runtime $runtime --ulimit nofile=4096:4096 --ulimit nproc=4096:4096}

scripts/build-static.sh >/dev/null

id=brain-mcp-ctest-$$
image=localhost/brain-mcp:$id
tmp=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/$id.XXXXXX")
started=no

cleanup() {
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$started" = yes ]; then
        say "container log:"
        podman logs "$id" 2>&1 | tail -n 40 | sed 's/^/    /'
    fi
    podman rm -f -t 2 "$id" >/dev/null 2>&1 || true
    podman volume rm -f "$id" >/dev/null 2>&1 || true
    podman secret rm "$id-token" "$id-client-secret" >/dev/null 2>&1 || true
    podman rmi -f "$image" >/dev/null 2>&1 || true
    rm -rf "$tmp"
    if [ "$rc" -eq 0 ]; then say "passed"; else say "FAILED"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --format docker: the OCI image format has no HEALTHCHECK and podman would drop it.
say "podman build"
podman build -q --format docker --runtime "$runtime" -t "$image" -f Containerfile . >/dev/null
size=$(podman image inspect "$image" --format '{{.Size}}')
say "image $image: $size bytes"
[ "$(podman image inspect "$image" --format '{{.Config.User}}')" = "65532:65532" ] || { say "image user is not 65532:65532"; exit 1; }
podman image inspect "$image" | grep -q '"healthcheck"' || { say "image has no HEALTHCHECK"; exit 1; }

# Secrets: fresh ones from the image itself, as README.md makes them, kept in
# files (the client secret is what a user pastes into claude.ai) and handed to podman on
# file (only its path is on a command line). No trailing newline: an env secret is taken verbatim.
# shellcheck disable=SC2086 # RUN_OPTS is a list of options
podman run --rm $RUN_OPTS "$image" gen-secret | tr -d '\n' >"$tmp/token"
# shellcheck disable=SC2086
podman run --rm $RUN_OPTS "$image" gen-secret | tr -d '\n' >"$tmp/client-secret"
[ "$(wc -c <"$tmp/token")" -eq 43 ] || { say "podman run IMAGE gen-secret did not print a secret"; exit 1; }
podman secret create "$id-token" "$tmp/token" >/dev/null
podman secret create "$id-client-secret" "$tmp/client-secret" >/dev/null
podman volume create "$id" >/dev/null

# The port: the container listens on 8080; podman picks a free loopback port on the host.
# MCP_RESOURCE_URL must be set for a container (its own LISTEN_ADDR, 0.0.0.0, is not a URL
# clients can use); here it is the loopback URL the smoke test reaches.
run() {
    # shellcheck disable=SC2086 # RUN_OPTS is a list of options
    podman run -d --name "$id" $RUN_OPTS \
        --cap-drop=all --security-opt no-new-privileges \
        -p "127.0.0.1:${port:-}:8080" \
        -v "$id:/data" \
        --secret "$id-token,type=mount,uid=65532,mode=0400" \
        --secret "$id-client-secret,type=env,target=OAUTH_CLIENT_SECRET" \
        -e "BRAIN_MCP_TOKEN_FILE=/run/secrets/$id-token" \
        -e OAUTH_CLIENT_ID=brain-mcp-ctest \
        -e "MCP_RESOURCE_URL=http://127.0.0.1:${port:-8080}/mcp" \
        "$image" >/dev/null 2>"$tmp/run-error" || { cat "$tmp/run-error"; exit 1; }
    started=yes
}

# wait_healthy: run the image's own HEALTHCHECK (podman has no systemd timer here to run it).
wait_healthy() {
    i=0
    until podman healthcheck run "$id" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -ge 40 ] || [ "$(podman inspect "$id" --format '{{.State.Running}}')" != true ]; then
            say "not healthy after $((i / 4)) s"
            exit 1
        fi
        sleep 0.25
    done
    say "healthy (HEALTHCHECK /brain-mcp healthcheck) after about $((i / 4)) s"
}

# First run with a throwaway port to learn a free one, then the real run with
# MCP_RESOURCE_URL naming it (the issuer must match the URL clients use).
port=
run
port=$(podman port "$id" 8080 | sed -n 's/.*:\([0-9][0-9]*\)$/\1/p' | head -n 1)
[ -n "$port" ] || { say "could not read the published port"; exit 1; }
podman rm -f -t 0 "$id" >/dev/null 2>&1
run
wait_healthy

say "smoke test against http://127.0.0.1:$port"
BRAIN_MCP_TOKEN='' BRAIN_MCP_TOKEN_FILE=$tmp/token \
    OAUTH_CLIENT_ID=brain-mcp-ctest OAUTH_CLIENT_SECRET='' OAUTH_CLIENT_SECRET_FILE=$tmp/client-secret \
    scripts/smoke.sh "http://127.0.0.1:$port"

# Graceful stop (SIGTERM drains), then a new container on the same volume, as an upgrade
# does (README.md "Upgrade"): the data must open again.
podman stop -t 10 "$id" >/dev/null 2>&1
code=$(podman inspect "$id" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || { say "exit status $code after SIGTERM, not 0"; exit 1; }
say "stopped cleanly on SIGTERM (exit 0)"
podman rm "$id" >/dev/null 2>&1
run
wait_healthy
vol=$(podman volume inspect "$id" --format '{{.Mountpoint}}')
owner=$(stat -c %u "$vol")
[ "$owner" = 65532 ] || { say "/data is owned by uid $owner, not 65532"; exit 1; }
files=$(find "$vol" -type f | wc -l)
[ "$files" -gt 0 ] || { say "/data is empty after a run"; exit 1; }
say "replaced the container on the same volume; /data owned by 65532 with $files file(s)"

# Back up and restore (README.md): export the volume of the running container,
# import it into a fresh volume, and start a server on that.
podman volume export "$id" --output "$tmp/brain-data.tar"
podman rm -f -t 10 "$id" >/dev/null 2>&1
podman volume rm -f "$id" >/dev/null
podman volume create "$id" >/dev/null
podman volume import "$id" "$tmp/brain-data.tar"
run
wait_healthy
restored=$(find "$(podman volume inspect "$id" --format '{{.Mountpoint}}')" -type f | wc -l)
[ "$restored" -eq "$files" ] || { say "restored volume has $restored files, not $files"; exit 1; }
say "volume export/import: restored $restored file(s), healthy on them"
