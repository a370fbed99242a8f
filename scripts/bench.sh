#!/usr/bin/env bash
# The sync benchmark, one command: builds Concordat and the load generator (release), installs
# the Node peer, then runs every scenario of shared/quality.md against the Node reference sync
# server, samod and Concordat in the same run and prints the comparison (also written to
# target/bench-results.md). Extra arguments go to `concordat-bench run`, e.g. `--quick` or
# `--scenarios fanout --servers concordat`.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd crates/bench/node && npm install --no-audit --no-fund --loglevel=error)
cargo build --release --locked -p server -p bench
mkdir -p target
exec target/release/concordat-bench run --out target/bench-results.md "$@"
