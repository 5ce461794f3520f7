#!/usr/bin/env bash
# Migrates CUSTOMERS customers × 5 grants from a Togai simulator to a Stripe simulator, both
# at their documented rates (Togai 10/s, Stripe's test mode 25/s), and compares the time
# `migrate plan` and `migrate apply` took with what those rates allow (BENCHMARKS.md,
# "Migration").
# Usage: scripts/migrate-bench.sh [CUSTOMERS]   (default 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-1000}
cargo build --release -q
bin=target/release/creditgate
dir=$(mktemp -d)
trap 'kill $source $stripe 2>/dev/null || true; rm -rf "$dir"' EXIT

# Stripe's simulated customers cycle USD, EUR, JPY, KWD: customer 4i holds USD.
"$bin" simulate togai --customers "$customers" --entries-per-customer 10 --grants-per-customer 5 \
  --list-customers "$dir/togai.ids" > "$dir/togai.out" &
source=$!
"$bin" simulate stripe --customers $((4 * customers)) --entries-per-customer 1 \
  --list-customers "$dir/stripe.ids" > "$dir/stripe.out" &
stripe=$!
for f in togai stripe; do
  for _ in $(seq 300); do grep -q "credential" "$dir/$f.out" 2>/dev/null && break; sleep 0.1; done
  awk '/credential:/ {printf "%s", $2}' "$dir/$f.out" > "$dir/$f.secret"
done
url() { grep -o 'http://[0-9.:]*' "$dir/$1.out" | head -1; }
printf %s "migrate-bench-cursor-secret-0123456789abcdef" > "$dir/cursor.secret"
cat > "$dir/creditgate.toml" <<TOML
cursor_secret = "file:$dir/cursor.secret"
[[api_keys]]
name = "bench"
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000001"
[providers.togai]
base_url = "$(url togai)"
secret = "file:$dir/togai.secret"
[providers.stripe]
base_url = "$(url stripe)"
secret = "file:$dir/stripe.secret"
TOML
paste -d' ' <(sed 's/^/togai:/' "$dir/togai.ids") \
  <(awk 'NR % 4 == 1 {print "stripe:" $0}' "$dir/stripe.ids") > "$dir/pairs.txt"

echo "machine: $(nproc) cores; $customers Togai accounts × 5 credits → Stripe, vendor rates (Togai 10/s, Stripe 25/s)"
start=$(date +%s.%N)
"$bin" migrate plan --config "$dir/creditgate.toml" --customers "$dir/pairs.txt" --out "$dir/plan.json" 2>/dev/null | tail -1
plan_s=$(echo "$(date +%s.%N) - $start" | bc)
items=$(python3 -c "import json,sys; print(len(json.load(open('$dir/plan.json'))['items']))")
start=$(date +%s.%N)
"$bin" migrate apply "$dir/plan.json" --config "$dir/creditgate.toml" 2>/dev/null | tail -1
apply_s=$(echo "$(date +%s.%N) - $start" | bc)
allowed=$(echo "scale=1; $items / 25" | bc)
# Each account's credits take two Togai calls: the page, and the empty page its last page's
# token leads to (Togai's quirk, which the adapter follows to be sure the list ended).
plan_allowed=$(echo "scale=2; 2 * $customers / 10" | bc)
printf "plan: %.1f s (%d Togai calls at 10/s allow %.1f s: %.1f%% over)\n" "$plan_s" $((2 * customers)) "$plan_allowed" \
  "$(echo "scale=4; ($plan_s / $plan_allowed - 1) * 100" | bc)"
printf "apply: %d grants created in %.1f s; Stripe's 25/s allows %.1f s: %.1f%% over\n" \
  "$items" "$apply_s" "$allowed" "$(echo "scale=4; ($apply_s / $allowed - 1) * 100" | bc)"
