#!/bin/sh
# Install brain-mcp as a systemd service, or upgrade an installed one.
#
# Usage: sudo scripts/install.sh [BINARY]
#   BINARY  the brain-mcp binary to install (default: $BRAIN_MCP_BIN, else the static build
#           target/x86_64-unknown-linux-musl/release/brain-mcp from scripts/build-static.sh)
#
# What it does, each step only when needed (a second run changes nothing):
#   /usr/local/bin/brain-mcp                   the binary (replaced when it differs)
#   /etc/systemd/system/brain-mcp.service      the unit (replaced when it differs)
#   /etc/brain-mcp/brain-mcp.env               commented settings (written once, never overwritten)
#   /etc/brain-mcp/credentials/{brain-mcp-token,oauth-client-secret,owner-password}
#                                              secrets from `brain-mcp gen-secret`, root 0600,
#                                              generated once, never overwritten
# Then, unless DESTDIR is set: systemctl daemon-reload, enable, and (re)start the service
# when something changed (start when nothing did, which is a no-op if it is running).
#
# DESTDIR=/some/root installs below that directory and never calls systemctl (for tests and
# image builds). Secrets are never printed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bin_src=${1:-${BRAIN_MCP_BIN:-$repo/target/x86_64-unknown-linux-musl/release/brain-mcp}}
unit_src=$here/systemd/brain-mcp.service
env_src=$here/systemd/brain-mcp.env
DESTDIR=${DESTDIR:-}

bin_dst=$DESTDIR/usr/local/bin/brain-mcp
unit_dst=$DESTDIR/etc/systemd/system/brain-mcp.service
etc_dir=$DESTDIR/etc/brain-mcp
env_dst=$etc_dir/brain-mcp.env
cred_dir=$etc_dir/credentials
SECRETS="brain-mcp-token oauth-client-secret owner-password"

say() { echo "install: $*"; }
die() { echo "install: error: $*" >&2; exit 1; }

[ -f "$bin_src" ] || die "no binary at $bin_src (run scripts/build-static.sh, or pass its path)"
[ -x "$bin_src" ] || die "$bin_src is not executable"
for f in "$unit_src" "$env_src"; do [ -f "$f" ] || die "missing $f"; done
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (or set DESTDIR to install into a directory)"
fi
is_root=no
[ "$(id -u)" -eq 0 ] && is_root=yes

changed=no

# install_file MODE SRC DST: copy SRC to DST (atomically, by rename) unless they are equal.
install_file() {
    if [ -f "$3" ] && cmp -s "$2" "$3"; then
        say "unchanged $3"
        return 0
    fi
    mkdir -p "$(dirname "$3")"
    cp "$2" "$3.tmp.$$"
    chmod "$1" "$3.tmp.$$"
    mv -f "$3.tmp.$$" "$3"
    say "installed $3"
    changed=yes
}

install_file 0755 "$bin_src" "$bin_dst"
install_file 0644 "$unit_src" "$unit_dst"

# The env file is the admin's once written: an edited (or even untouched) one is kept.
if [ -e "$env_dst" ]; then
    say "kept $env_dst"
else
    install_file 0644 "$env_src" "$env_dst"
fi

# Secrets: directory 0700, files 0600, both root; created with a tight umask so no secret
# is ever readable by anyone else, not even for a moment.
umask 077
mkdir -p "$cred_dir"
chmod 0700 "$cred_dir"
if [ "$is_root" = yes ]; then chown 0:0 "$cred_dir"; fi
for name in $SECRETS; do
    f=$cred_dir/$name
    if [ -e "$f" ]; then
        say "kept $f"
        continue
    fi
    secret=$("$bin_src" gen-secret) || die "brain-mcp gen-secret failed"
    # 43 characters of base64url (32 random bytes); anything else means a wrong binary.
    case $secret in
        *[!A-Za-z0-9_-]*) die "brain-mcp gen-secret printed something that is not a secret" ;;
    esac
    [ ${#secret} -eq 43 ] || die "brain-mcp gen-secret printed ${#secret} characters, not 43"
    printf '%s' "$secret" >"$f.tmp.$$"
    secret=
    chmod 0600 "$f.tmp.$$"
    if [ "$is_root" = yes ]; then chown 0:0 "$f.tmp.$$"; fi
    mv -f "$f.tmp.$$" "$f"
    say "generated $f"
    changed=yes
done

if [ -n "$DESTDIR" ]; then
    say "DESTDIR set: not calling systemctl"
    exit 0
fi

if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
    say "systemd is not running here: start it yourself with  systemctl enable --now brain-mcp"
    exit 0
fi
systemctl daemon-reload
systemctl enable brain-mcp.service
if [ "$changed" = yes ]; then
    systemctl restart brain-mcp.service
    say "restarted brain-mcp.service"
else
    systemctl start brain-mcp.service
fi
systemctl --no-pager --lines=5 status brain-mcp.service || true
