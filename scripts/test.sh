#!/usr/bin/env bash
# The test command (README.md): installs what the tests need with the project's own
# scripts (redis-server for tests/replicas*.rs, the vendors' Python SDKs for tests/sdk.rs),
# then runs every test of both crates. `bash .ci/run` runs this after fmt and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-redis.sh
bash scripts/install-sdks.sh
cargo test --locked "$@"
