#!/usr/bin/env bash
# Exports one simulated customer's whole ledger and reports entries/s and peak RSS
# (BENCHMARKS.md, "Export"). Usage: scripts/export-bench.sh [ENTRIES] [VENDOR]
# Defaults: 1,000,000 entries at Vayu (its pages are the largest, 1,000 entries).
set -euo pipefail
umask 077  # the secrets it writes are for this user alone
cd "$(dirname "$0")/.."
entries=${1:-1000000}
vendor=${2:-vayu}
cargo build --release -q
bin=target/release/creditgate
dir=$(mktemp -d)
trap 'kill $sim 2>/dev/null || true; rm -rf "$dir"' EXIT

"$bin" simulate "$vendor" --customers 1 --entries-per-customer "$entries" --rate-limit off > "$dir/sim.out" &
sim=$!
for _ in $(seq 100); do grep -q "credential" "$dir/sim.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$dir/sim.out" | head -1)
credential=$(awk '/credential:/ {print $2}' "$dir/sim.out")
customer=$(awk '/customer 0:/ {print $3}' "$dir/sim.out")
printf %s "$credential" > "$dir/vendor.secret"
printf %s "export-bench-cursor-secret-0123456789abcdef" > "$dir/cursor.secret"
path=""; [ "$vendor" = sequence ] && path="/api"
extra=""; [ "$vendor" = vayu ] && extra='unit = "USD"'
cat > "$dir/creditgate.toml" <<TOML
cursor_secret = "file:$dir/cursor.secret"
[[api_keys]]
name = "bench"
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000001"
[providers.$vendor]
base_url = "$url$path"
secret = "file:$dir/vendor.secret"
$extra
page_size = ${PAGE_SIZE:-500}
[upstream]
outbound_rate = { $vendor = { requests = 1000000, per_secs = 1 } }
TOML

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); $vendor simulator, $entries entries, rate limit off"
# PERF=1: profile the export instead (perf record), and print where its CPU time went.
if [ "${PERF:-0}" = 1 ]; then
  perf record -q -F 499 -g -o "$dir/perf.data" \
    "$bin" export --config "$dir/creditgate.toml" --customer "$vendor:$customer" --out "$dir/out.ndjson" 2>&1 | grep -v "^exported [0-9]* objects" || true
  perf report -i "$dir/perf.data" --stdio --no-children --sort dso,sym 2>/dev/null | grep -E "^ +[0-9]" | head -25
else
  /usr/bin/time -f "peak RSS %M KiB, %e s wall, %U s user, %S s system" \
    "$bin" export --config "$dir/creditgate.toml" --customer "$vendor:$customer" --out "$dir/out.ndjson" 2>&1 | grep -v "^exported [0-9]* objects"
fi
echo "output: $(wc -l < "$dir/out.ndjson") lines, $(du -h "$dir/out.ndjson" | cut -f1)"
ticks=$(getconf CLK_TCK)
awk -v t="$ticks" '{printf "simulator CPU: %.2f s user, %.2f s system\n", $14/t, $15/t}' "/proc/$sim/stat"
