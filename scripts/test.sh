#!/usr/bin/env bash
# The whole test suite: installs the reference clients if missing, then runs
# every unit, property, corpus-replay, hostile-input and interop test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo test --workspace --locked --no-fail-fast "$@"
