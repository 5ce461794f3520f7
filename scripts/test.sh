#!/usr/bin/env bash
# The test command (README.md): installs what the tests need with the project's own
# scripts (redis-server for tests/replicas*.rs, the vendors' Python SDKs for tests/sdk.rs,
# the OpenAPI client generator for the client check, Chromium, ChromeDriver and axe-core for
# tests/console_browser.rs), then runs every test of both crates,
# then the client check (scripts/client-check.sh: a Python client generated from the
# served document, run against `serve --demo`). `bash .ci/run` runs this after fmt and
# clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-redis.sh
bash scripts/install-sdks.sh
bash scripts/install-clients.sh
bash scripts/install-browser.sh
cargo test --locked "$@"
bash scripts/client-check.sh
