#!/usr/bin/env bash
# The events benchmark behind BENCHMARKS.md ("Events"), one run on this machine:
# `benches/events.rs` (release build) starts the Stripe simulator, a gateway over it with its
# store on disk (durable commits) and a local receiver, all in one process on loopback, then
#   1. ingest: signed Stripe deliveries sent by 32 connections as fast as answers come back;
#   2. delivery: Stripe deliveries at a steady rate, each making one event delivered to the
#      receiver; latency from the event's `created` to its arrival.
#
# Usage: scripts/events-bench.sh [ingest count, default 20000] [rate/s, default 500] [seconds, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked --bench events -- "${1:-20000}" "${2:-500}" "${3:-20}"
