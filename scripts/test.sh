#!/usr/bin/env bash
# The project's test command: unit, integration and interop tests. Installs what the interop
# tests need (PyPI and npm packages) by itself; run it from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked -p s2sd
cargo test --workspace --locked
bash tests/interop/run.sh "$PWD/target/debug/s2sd"
