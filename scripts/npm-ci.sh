#!/usr/bin/env bash
# npm ci in the current directory, as every harness installs its pinned packages: each attempt
# is bounded (a stalled registry download once held a CI run for 25 minutes, and npm ignored
# the plain SIGTERM of `timeout`), and a failed attempt is retried twice from a clean
# node_modules.
set -uo pipefail
for attempt in 1 2 3; do
  if timeout -k 20 300 npm ci --no-audit --no-fund --loglevel=error \
      --fetch-timeout=60000 --fetch-retries=3; then
    exit 0
  fi
  echo "npm ci in $PWD: attempt $attempt failed or took over 5 minutes" >&2
  rm -rf node_modules
  sleep $((attempt * 5))
done
exit 1
