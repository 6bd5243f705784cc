#!/usr/bin/env bash
# Installs what the browser tests (tests/web.rs, tests/web/e2e.mjs) need: Debian's Chromium
# (apt, when /usr/bin/chromium is missing and we are root, as on CI) and playwright-core,
# pinned in package-lock.json (npm ci; it downloads no browser of its own). Idempotent.
# Playwright talks to Chromium over its DevTools protocol, so chromedriver is not needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "tests/web: installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y chromium >/dev/null ||
      { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
  else
    echo "tests/web/setup.sh: /usr/bin/chromium is missing; install Debian's chromium package" >&2
    exit 1
  fi
fi
command -v npm >/dev/null || { echo "tests/web/setup.sh: npm is required" >&2; exit 1; }
stamp=node_modules/.web-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "tests/web: node_modules up to date (chromium $(dpkg-query -W -f '${Version}' chromium 2>/dev/null || echo "(not from dpkg)"))"
  exit 0
fi
# Through scripts/npm-ci.sh (bounded, retried) where the tree has it, as the other harnesses do.
if [[ -x ../../scripts/npm-ci.sh ]]; then
  ../../scripts/npm-ci.sh
else
  timeout -k 20 300 npm ci --no-audit --no-fund --loglevel=error --fetch-timeout=60000 --fetch-retries=3
fi
echo "$want" >"$stamp"
echo "tests/web: playwright-core $(node -p 'require("./node_modules/playwright-core/package.json").version'), chromium $(dpkg-query -W -f '${Version}' chromium 2>/dev/null || echo "(not from dpkg)")"
