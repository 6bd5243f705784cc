#!/bin/sh
# What CI runs for shipping: the static build, the systemd unit, install.sh, the container,
# the smoke test, the operations commands of README.md, and shellcheck.
#
# Usage: scripts/ci-ship.sh          (as root on a Debian machine with rustup and cargo)
# It installs what it needs (shellcheck, podman, runc, curl, file, binutils) with apt-get.
# Prints one PASS/FAIL/SKIP line per check (with the tail of its log on failure) and ends
# with "N passed, N failed, N skipped"; exits 1 when anything failed.
set -u

cd "$(dirname "$0")/.." || exit 1
started_at=$(date +%s)
passed=0
failed=0
skipped=0
work=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/brain-mcp-ci-ship.XXXXXX")
pids=

stop_all() {
    for p in $pids; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    pids=
}
finish() {
    stop_all
    rm -rf "$work"
}
trap finish EXIT
trap 'exit 130' INT TERM

# check NAME COMMAND...: run one check with its output in a log; print the verdict.
# A command that exits 77 was skipped (it prints why as its last line).
check() {
    c_name=$1
    shift
    c_log=$work/log.$((passed + failed + skipped))
    c_t0=$(date +%s)
    "$@" >"$c_log" 2>&1
    c_rc=$?
    c_t=$(($(date +%s) - c_t0))
    stop_all # a failed check may leave its server running: never let it leak into the next
    if [ "$c_rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS $c_name (${c_t}s)"
    elif [ "$c_rc" -eq 77 ]; then
        skipped=$((skipped + 1))
        echo "SKIP $c_name: $(tail -n 1 "$c_log")"
    else
        failed=$((failed + 1))
        echo "FAIL $c_name (${c_t}s, exit $c_rc); last lines:"
        tail -n 40 "$c_log" | sed 's/^/    /'
    fi
}

# -- tools ---------------------------------------------------------------------------------
need_pkgs=
command -v shellcheck >/dev/null 2>&1 || need_pkgs="$need_pkgs shellcheck"
command -v curl >/dev/null 2>&1 || need_pkgs="$need_pkgs curl"
command -v readelf >/dev/null 2>&1 || need_pkgs="$need_pkgs binutils"
command -v file >/dev/null 2>&1 || need_pkgs="$need_pkgs file"
command -v systemd-analyze >/dev/null 2>&1 || need_pkgs="$need_pkgs systemd"
if [ -n "$need_pkgs" ]; then
    echo "installing:$need_pkgs"
    # shellcheck disable=SC2086 # a list of package names
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_pkgs; } >"$work/apt.log" 2>&1 ||
        { echo "apt-get install failed:"; tail -n 20 "$work/apt.log"; }
fi

# -- the static binary ---------------------------------------------------------------------
build() {
    scripts/build-static.sh --check >"$work/build.out" || return 1
    cat "$work/build.out"
}
check "build-static.sh: static x86_64-unknown-linux-musl, stripped, < 4 MiB" build
bin=$(tail -n 1 "$work/build.out" 2>/dev/null || true)
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "no binary: the remaining checks cannot run"
    echo "$passed passed, $((failed + 1)) failed, $skipped skipped"
    exit 1
fi
sed -n 's/^\(size\|sha256\): */  \1 /p' "$work/build.out"

static_elf() {
    file -b "$bin"
    readelf -lW "$bin" | grep -q INTERP && { echo "has PT_INTERP"; return 1; }
    readelf -dW "$bin" | grep -q NEEDED && { echo "has DT_NEEDED"; return 1; }
    ldd "$bin" 2>&1 | grep -Eq 'not a dynamic executable|statically linked' || { ldd "$bin"; return 1; }
    size=$(wc -c <"$bin")
    [ "$size" -lt 4194304 ] || { echo "$size bytes"; return 1; }
}
check "binary: no interpreter, no shared libraries (readelf, ldd), $(wc -c <"$bin") bytes" static_elf

cli() {
    "$bin" --version | grep -q 'brain-mcp' || { echo "--version"; return 1; }
    "$bin" --help >/dev/null || { echo "--help"; return 1; }
    s=$("$bin" gen-secret)
    { [ ${#s} -eq 43 ] && [ -z "$(printf '%s' "$s" | tr -d 'A-Za-z0-9_-')" ]; } || { echo "gen-secret: not 43 base64url chars"; return 1; }
    t=$("$bin" gen-secret)
    [ "$s" != "$t" ] || { echo "gen-secret repeats itself"; return 1; }
}
check "cli: --version, --help, gen-secret (43 chars of base64url, fresh each time)" cli

# -- install.sh into a DESTDIR --------------------------------------------------------------
D=$work/root
snapshot() {
    (cd "$D" && find . -printf '%p %M %U:%G %s %T@\n' | sort && find . -type f -exec sha256sum {} + | sort)
}
install_twice() {
    DESTDIR=$D scripts/install.sh "$bin" || return 1
    for f in usr/local/bin/brain-mcp etc/systemd/system/brain-mcp.service etc/brain-mcp/brain-mcp.env \
        etc/brain-mcp/credentials/brain-mcp-token etc/brain-mcp/credentials/oauth-client-secret \
        etc/brain-mcp/credentials/owner-password; do
        [ -f "$D/$f" ] || { echo "missing $f"; return 1; }
    done
    [ "$(stat -c '%a %U' "$D/etc/brain-mcp/credentials")" = "700 root" ] || { echo "credentials dir not 0700 root"; return 1; }
    for f in "$D"/etc/brain-mcp/credentials/*; do
        [ "$(stat -c '%a %U %s' "$f")" = "600 root 43" ] || { echo "$f: $(stat -c '%a %U %s' "$f")"; return 1; }
    done
    snapshot >"$work/snap1"
    sleep 1 # so that a rewritten file would show a new mtime
    DESTDIR=$D scripts/install.sh "$bin" >"$work/install2.out" || return 1
    cat "$work/install2.out"
    snapshot >"$work/snap2"
    diff "$work/snap1" "$work/snap2" || { echo "second run changed the tree"; return 1; }
    ! grep -Eq 'installed|generated' "$work/install2.out" || { echo "second run claims changes"; return 1; }
    # An edited env file survives a reinstall (and an upgrade of the binary).
    echo "MCP_RESOURCE_URL=https://brain.example.com/mcp" >>"$D/etc/brain-mcp/brain-mcp.env"
    cp "$D/etc/brain-mcp/brain-mcp.env" "$work/env.edited"
    cp "$bin" "$work/brain-mcp.next" && printf 'x' >>"$work/brain-mcp.next"
    DESTDIR=$D scripts/install.sh "$work/brain-mcp.next" | grep -q "installed $D/usr/local/bin/brain-mcp" || { echo "upgrade did not replace the binary"; return 1; }
    cmp "$D/etc/brain-mcp/brain-mcp.env" "$work/env.edited" || { echo "edited env file overwritten"; return 1; }
    grep 'credentials' "$work/snap1" | grep -v '^\.' >"$work/secrets1"
    snapshot | grep 'credentials' | grep -v '^\.' >"$work/secrets2"
    diff "$work/secrets1" "$work/secrets2" || { echo "secrets changed on upgrade"; return 1; }
    DESTDIR=$D scripts/install.sh "$bin" >/dev/null
    # Under DESTDIR install.sh must not call systemctl: a failing stand-in on PATH proves it.
    mkdir -p "$work/fakebin" && printf '#!/bin/sh\necho systemctl called >&2\nexit 1\n' >"$work/fakebin/systemctl"
    chmod +x "$work/fakebin/systemctl"
    PATH=$work/fakebin:$PATH DESTDIR=$D scripts/install.sh "$bin" >/dev/null || { echo "systemctl called under DESTDIR"; return 1; }
}
check "install.sh into DESTDIR twice: idempotent, secrets 0600 root kept, edited env kept, no systemctl" install_twice

# -- the systemd unit ------------------------------------------------------------------------
unit_verify() {
    # verify wants the ExecStart binary to exist: verify a copy whose ExecStart (and
    # ExecPaths) point at the binary install.sh put into DESTDIR. `--root=` would instead need
    # a whole systemd tree (sysinit.target and friends) under the root.
    mkdir -p "$work/unit"
    sed "s#/usr/local/bin/brain-mcp#$D/usr/local/bin/brain-mcp#g" scripts/systemd/brain-mcp.service \
        >"$work/unit/brain-mcp.service"
    out=$(systemd-analyze verify "$work/unit/brain-mcp.service" 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] && [ -z "$out" ]
}
check "systemd-analyze verify: no output" unit_verify

unit_security() {
    systemd-analyze security --offline=yes --threshold=20 scripts/systemd/brain-mcp.service >"$work/security.out" 2>&1
    rc=$?
    grep -E '✗|Overall' "$work/security.out"
    score=$(sed -n 's/.*Overall exposure level for brain-mcp.service: \([0-9.]*\).*/\1/p' "$work/security.out")
    [ -n "$score" ] || return 1
    echo "score $score"
    [ "$rc" -eq 0 ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
}
check "systemd-analyze security --offline=yes: exposure <= 2.0" unit_security
score=$(sed -n 's/.*Overall exposure level for brain-mcp.service: \([0-9.]*\).*/\1/p' "$work/security.out" 2>/dev/null)
[ -n "$score" ] && echo "  exposure $score"

# -- the release binary, started locally -------------------------------------------------
# start_server NAME DATA_DIR CRED_DIR: start it on a free loopback port; sets $addr, $pid.
start_server() {
    slog=$work/server-$1.log
    : >"$slog"
    env -i PATH=/usr/bin:/bin LISTEN_ADDR=127.0.0.1:0 BRAIN_DATA_DIR="$2" \
        BRAIN_MCP_TOKEN_FILE="$3/brain-mcp-token" OAUTH_CLIENT_ID=brain-mcp \
        OAUTH_CLIENT_SECRET_FILE="$3/oauth-client-secret" \
        BRAIN_OWNER_PASSWORD_FILE="$3/owner-password" \
        "$bin" serve 2>"$slog" &
    pid=$!
    pids="$pids $pid"
    addr=
    i=0
    while [ -z "$addr" ] && [ $i -lt 100 ]; do
        kill -0 "$pid" 2>/dev/null || { echo "server $1 exited:"; cat "$slog"; return 1; }
        addr=$(sed -n 's#.*listening on http://\([^ ,;]*\).*#\1#p' "$slog" | head -n 1)
        i=$((i + 1))
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "server $1: no 'listening on' line in 10 s:"; cat "$slog"; return 1; }
    echo "server $1 listening on $addr"
}
stop_server() {
    kill -TERM "$pid"
    wait "$pid"
    st=$?
    [ "$st" -eq 0 ] || { echo "exit status $st after SIGTERM"; cat "$slog"; return 1; }
}
creds=$D/etc/brain-mcp/credentials

check_config() {
    # The effective settings, masked: exit 0, and no secret in the output.
    env -i PATH=/usr/bin:/bin BRAIN_DATA_DIR="$work/data" \
        BRAIN_MCP_TOKEN_FILE="$creds/brain-mcp-token" OAUTH_CLIENT_ID=brain-mcp \
        OAUTH_CLIENT_SECRET_FILE="$creds/oauth-client-secret" \
        "$bin" check-config >"$work/cc.out" 2>&1 || { cat "$work/cc.out"; return 1; }
    cat "$work/cc.out"
    for f in "$creds"/*; do
        ! grep -qF "$(cat "$f")" "$work/cc.out" || { echo "check-config printed a secret"; return 1; }
    done
    env -i PATH=/usr/bin:/bin BRAIN_DATA_DIR="$work/data" "$bin" check-config >"$work/cc.out" 2>&1 &&
        { echo "check-config accepted a missing BRAIN_MCP_TOKEN"; return 1; }
    grep -q BRAIN_MCP_TOKEN "$work/cc.out" || { echo "the error does not name BRAIN_MCP_TOKEN:"; cat "$work/cc.out"; return 1; }
}
check "check-config: 0 with the installed credentials (masked), 1 naming BRAIN_MCP_TOKEN without" check_config

smoke_local() {
    start_server smoke "$work/data" "$creds" || return 1
    BRAIN_MCP_TOKEN_FILE=$creds/brain-mcp-token OAUTH_CLIENT_ID=brain-mcp \
        OAUTH_CLIENT_SECRET_FILE=$creds/oauth-client-secret scripts/smoke.sh "http://$addr" || return 1
    stop_server
}
check "smoke.sh against the release binary started locally" smoke_local

# rpc TOKEN_FILE BODY: one MCP request with the static bearer; the response on stdout.
rpc() {
    printf 'Authorization: Bearer %s\n' "$(cat "$1")" >"$work/auth.h"
    printf '%s' "$2" | curl -sS --max-time 10 -H @"$work/auth.h" -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' --data-binary @- "http://$addr/mcp"
    rm -f "$work/auth.h"
}

backup_restore() {
    # README.md "Back up and restore": copy the data dir while the server runs.
    start_server live "$work/live" "$creds" || return 1
    marker="backupmarker$(date +%s)"
    rpc "$creds/brain-mcp-token" '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"remember","arguments":{"text":"'"$marker"' kept across a backup"}}}' >"$work/r1"
    grep -q '"result"' "$work/r1" || { cat "$work/r1"; return 1; }
    tar -C "$work/live" -czf "$work/brain-backup.tar.gz" . || return 1
    stop_server || return 1
    mkdir -p "$work/restored" && chmod 0700 "$work/restored"
    tar -C "$work/restored" -xzf "$work/brain-backup.tar.gz" || return 1
    start_server restored "$work/restored" "$creds" || return 1
    rpc "$creds/brain-mcp-token" '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{"query":"'"$marker"'"}}}' >"$work/r2"
    grep -q "$marker\*\* kept across a backup" "$work/r2" || { echo "restored server does not find the note:"; cat "$work/r2"; return 1; }
    stop_server
}
check "back up a running server's data dir with tar, restore it, the note is there" backup_restore

rotate_secret() {
    # README.md "Rotate a secret": new file, restart, the old token is refused.
    cp -a "$creds" "$work/creds-rot"
    cp "$work/creds-rot/brain-mcp-token" "$work/old-token"
    (umask 077 && "$bin" gen-secret >"$work/creds-rot/brain-mcp-token.new") || return 1
    mv "$work/creds-rot/brain-mcp-token.new" "$work/creds-rot/brain-mcp-token"
    start_server rotated "$work/data" "$work/creds-rot" || return 1
    printf 'Authorization: Bearer %s\n' "$(cat "$work/old-token")" >"$work/auth.h"
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H @"$work/auth.h" -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' --data-binary '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "http://$addr/mcp")
    rm -f "$work/auth.h"
    [ "$code" = 401 ] || { echo "old token: $code, not 401"; return 1; }
    rpc "$work/creds-rot/brain-mcp-token" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' | grep -q '"remember"' || { echo "new token refused"; return 1; }
    stop_server
}
check "rotate BRAIN_MCP_TOKEN: the old one is refused after restart, the new one works" rotate_secret

# -- the unit under a real systemd -------------------------------------------------------------
# This machine has no systemd as PID 1, so: debootstrap a minimal Debian with systemd into a
# directory, install into it with install.sh (DESTDIR), boot it with podman --systemd=always,
# and run the operations commands of README.md inside: the sandboxed service with
# DynamicUser and LoadCredential, smoke.sh, install.sh with systemctl, journalctl, backup and
# restore with systemctl stop/start, and a secret rotation.
systemd_live() {
    command -v podman >/dev/null 2>&1 || { echo "podman is not installed"; return 77; }
    command -v debootstrap >/dev/null 2>&1 ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
        { echo "debootstrap could not be installed"; return 77; }
    root=$work/sysroot
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    debootstrap --variant=minbase --include=systemd,systemd-sysv,curl bookworm "$root" \
        "${mirror:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 ||
        { tail -n 5 "$work/debootstrap.log"; echo "debootstrap failed (no Debian mirror?)"; return 77; }
    DESTDIR=$root scripts/install.sh "$bin" || return 1
    mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
    ln -s /etc/systemd/system/brain-mcp.service "$root/etc/systemd/system/multi-user.target.wants/brain-mcp.service"
    mkdir -p "$root/opt/src" && cp -r scripts "$root/opt/src/" && cp "$bin" "$root/opt/src/brain-mcp.next"
    printf 'x' >>"$root/opt/src/brain-mcp.next" # a different binary: an upgrade
    cat >"$root/opt/src/inside.sh" <<'INSIDE'
#!/bin/sh
set -eux
cd /opt/src
export BRAIN_MCP_TOKEN_FILE=/etc/brain-mcp/credentials/brain-mcp-token
export OAUTH_CLIENT_ID=brain-mcp OAUTH_CLIENT_SECRET_FILE=/etc/brain-mcp/credentials/oauth-client-secret
i=0; until systemctl is-active -q brain-mcp; do i=$((i+1)); [ $i -lt 50 ]; sleep 0.2; done
systemctl show -p User,DynamicUser,StateDirectory brain-mcp
scripts/smoke.sh http://127.0.0.1:8080
journalctl -u brain-mcp --no-pager | grep -q 'listening on http://127.0.0.1:8080'
systemctl status brain-mcp --no-pager >/dev/null
# Upgrade: install.sh with systemctl, restarts because the binary changed.
scripts/install.sh ./brain-mcp.next | grep 'restarted brain-mcp.service'
systemctl is-active brain-mcp
# Back up while running, restore with the service stopped.
curl -fsS http://127.0.0.1:8080/healthz
tar -C /var/lib/private/brain-mcp -czf brain-backup.tar.gz .
systemctl stop brain-mcp
tar -C /var/lib/private/brain-mcp -xzf brain-backup.tar.gz
systemctl start brain-mcp
sleep 0.5
systemctl is-active brain-mcp
# Rotate the static token.
sh -c 'umask 077; brain-mcp gen-secret > /etc/brain-mcp/credentials/brain-mcp-token.new &&
    mv /etc/brain-mcp/credentials/brain-mcp-token.new /etc/brain-mcp/credentials/brain-mcp-token'
systemctl restart brain-mcp
sleep 0.5
scripts/smoke.sh http://127.0.0.1:8080 | tail -n 1
echo inside: all passed
INSIDE
    chmod +x "$root/opt/src/inside.sh"
    podman run -d --name "brain-mcp-systemd-$$" --runtime "$(command -v runc || echo /usr/sbin/runc)" \
        --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --systemd=always \
        --rootfs "$root" /lib/systemd/systemd >/dev/null 2>"$work/sysd.err" || { cat "$work/sysd.err"; return 1; }
    i=0
    until [ "$(podman exec "brain-mcp-systemd-$$" systemctl is-system-running 2>/dev/null)" = running ]; do
        i=$((i + 1))
        [ $i -lt 60 ] || { podman exec "brain-mcp-systemd-$$" systemctl --failed --no-pager; break; }
        sleep 0.5
    done
    podman exec "brain-mcp-systemd-$$" /opt/src/inside.sh 2>&1
    st=$?
    [ "$st" -eq 0 ] || podman exec "brain-mcp-systemd-$$" journalctl -u brain-mcp --no-pager | tail -n 20
    podman rm -f -t 5 "brain-mcp-systemd-$$" >/dev/null 2>&1
    rm -rf "$root"
    return "$st"
}
check "systemd 252 for real (podman --systemd=always): unit, install.sh, smoke, journalctl, upgrade, backup, rotation" systemd_live

# -- the container --------------------------------------------------------------------------
check "container-test.sh: podman build FROM scratch, healthy, smoke, graceful stop, restart" scripts/container-test.sh

# -- shellcheck ------------------------------------------------------------------------------
lint() {
    command -v shellcheck >/dev/null 2>&1 || { echo "shellcheck could not be installed"; return 1; }
    # Installed packages (node_modules, .venv) are not ours, and scanning them takes a minute.
    files=$(find scripts tests \( -name node_modules -o -name .venv \) -prune -o -type f -print 2>/dev/null | while read -r f; do
        case $f in
            *.sh) echo "$f" ;;
            *) head -n 1 "$f" | grep -Eq '^#!.*(/|env )(ba|da|k)?sh( |$)' && echo "$f" ;;
        esac
    done | sort)
    echo "$files"
    # shellcheck disable=SC2086 # one path per word; none has spaces
    shellcheck $files
}
check "shellcheck on every shell script under scripts/ and tests/" lint

echo "ci-ship: $(($(date +%s) - started_at)) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
