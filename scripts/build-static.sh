#!/bin/sh
# Build the fully static release binary: x86_64-unknown-linux-musl, LTO, one codegen unit,
# stripped (all from Cargo.toml's [profile.release]). Prints its path, size and SHA-256.
#
# Usage: scripts/build-static.sh [--check]
#   --check  also fail unless the binary is static (no PT_INTERP, no DT_NEEDED) and < 4 MiB.
#
# The last line printed is the binary's path, so other scripts can do
#   bin=$(scripts/build-static.sh | tail -n 1)
set -eu

TARGET=x86_64-unknown-linux-musl
# 4 MiB: the budget for one static binary with no async runtime. It was 2 MiB until the
# outbound HTTPS client (rustls + ring + Mozilla's roots, ~1.4 MB) came in for OpenID keys,
# client metadata documents and embeddings (README "Dependencies").
MAX_BYTES=4194304

cd "$(dirname "$0")/.."
check=no
[ "${1:-}" = "--check" ] && check=yes

if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "$TARGET"; then
        echo "build-static: adding rust target $TARGET" >&2
        rustup target add "$TARGET" >&2
    fi
fi

# Rust's musl target links its own bundled musl CRT and libc. One dependency compiles C:
# mimalloc, the static build's allocator (see Cargo.toml), which needs musl-gcc (Debian's
# musl-tools). crt-static is the target's default; say it anyway so a stray RUSTFLAGS in the
# environment cannot turn it into a dynamic binary.
if ! command -v musl-gcc >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "build-static: installing musl-tools (musl-gcc)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q musl-tools >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q musl-tools >&2; }
    else
        echo "build-static: musl-gcc is missing: install musl-tools (apt-get install musl-tools)" >&2
        exit 1
    fi
fi
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked --target "$TARGET" >&2

bin="$PWD/target/$TARGET/release/brain-mcp"
[ -x "$bin" ] || { echo "build-static: no binary at $bin" >&2; exit 1; }

# The Containerfile (FROM scratch, no shell, no RUN) copies this empty directory to /data so
# the volume's mount point exists and belongs to the container's non-root user.
mkdir -p target/container-data

size=$(wc -c <"$bin" | tr -d ' ')
sha=$(sha256sum "$bin" | cut -d' ' -f1)

# Static means: no program interpreter (PT_INTERP) and no shared-library dependency
# (DT_NEEDED). readelf reads the ELF itself; `file` and `ldd` only guess around it.
static=yes
if command -v readelf >/dev/null 2>&1; then
    if readelf -lW "$bin" | grep -q 'INTERP' || readelf -dW "$bin" | grep -q '(NEEDED)'; then
        static=no
    fi
elif command -v file >/dev/null 2>&1; then
    case $(file -b "$bin") in *"statically linked"* | *"static-pie linked"*) ;; *) static=no ;; esac
fi

echo "build-static: static=$static size=$size bytes ($((size / 1024)) KiB) sha256=$sha" >&2
if [ "$check" = yes ]; then
    [ "$static" = yes ] || { echo "build-static: FAIL: $bin is not static" >&2; exit 1; }
    [ "$size" -lt "$MAX_BYTES" ] || { echo "build-static: FAIL: $size bytes >= 4 MiB" >&2; exit 1; }
fi
echo "path:   $bin"
echo "size:   $size"
echo "sha256: $sha"
echo "$bin"
