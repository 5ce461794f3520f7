#!/usr/bin/env bash
# The load benchmark behind BENCHMARKS.md, in one run on one machine:
#   1. nginx serving the gateway's response bytes as a static file (the ceiling for
#      answering from memory),
#   2. the Stripe simulator called directly,
#   3. the gateway on a cache miss (vendor cache TTL 0: every request asks the simulator),
#   4. the gateway on a cache hit,
# each with wrk at full speed (throughput, p50, p99), then the simulator and the miss
# gateway at a fixed 1,000 req/s with hey (p50, p99), then the hit gateway under wrk for
# the memory run, sampling its RSS every 5 s. Peak RSS (VmHWM) of both gateways at the end.
#
# Usage: scripts/bench.sh [seconds per run, default 10] [memory run seconds, default 60]
# Installs wrk, hey and nginx with apt when missing. Results: target/bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_SECS=${1:-10}
MEMORY_SECS=${2:-60}
SIM_PORT=18181 MISS_PORT=18182 HIT_PORT=18183 NGINX_PORT=18184
API_KEY=cg_bench_key
# The simulator's deterministic credential and first customer for seed 1.
STRIPE_KEY=sk_test_sim0000000000000001
CUSTOMER=cus_sim000000
GATEWAY_PATH="/v1/credit_balances?customer=stripe:${CUSTOMER}"
# What the gateway asks Stripe for that request.
SIM_PATH="/v1/billing/credit_balance_summary?customer=${CUSTOMER}&filter%5Btype%5D=applicability_scope&filter%5Bapplicability_scope%5D%5Bprice_type%5D=metered"

install_missing() {
    local missing=()
    for tool in wrk hey nginx; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        local sudo=""
        [[ $(id -u) -eq 0 ]] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    echo "nothing answered on port $1" >&2
    exit 1
}

gateway_config() { # port, cache ttl
    cat <<EOF
listen = "127.0.0.1:$1"
cursor_secret = "env:BENCH_CURSOR_SECRET"

[[api_keys]]
name = "bench"
key_sha256 = "$(printf %s "$API_KEY" | sha256sum | cut -d' ' -f1)"

[providers.stripe]
base_url = "http://127.0.0.1:$SIM_PORT"
secret = "env:BENCH_STRIPE_KEY"

[inbound]
requests_per_second = 1000000
burst = 1000000

[upstream]
cache_ttl_secs = { stripe = $2 }
outbound_rate = { stripe = { requests = 1000000, per_secs = 1 } }
max_concurrency_per_vendor = 256
EOF
}

# wrk at full speed against URL with KEY: "requests/s p50 p99 non-2xx" (latencies in ms).
wrk_run() {
    wrk -t2 -c32 -d"${RUN_SECS}s" --latency -H "Authorization: Bearer $2" "$1" >"$WORK/wrk.out" 2>&1 || true
    python3 - "$WORK/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", text, re.M))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{rps:.0f} {ms(p['50']):.3f} {ms(p['99']):.3f} {errors.group(1) if errors else 0}")
PY
}

# hey at a fixed 1,000 req/s (10 workers x 100/s) against URL with KEY: as wrk_run.
hey_run() {
    hey -z "${RUN_SECS}s" -c 10 -q 100 -H "Authorization: Bearer $2" "$1" >"$WORK/hey.out" 2>&1 || true
    python3 - "$WORK/hey.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = dict(re.findall(r"(\d+)% in ([\d.]+) secs", text))
codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", text)
bad = sum(int(n) for code, n in codes if not code.startswith("2"))
print(f"{rps:.0f} {float(p['50'])*1000:.3f} {float(p['99'])*1000:.3f} {bad}")
PY
}

rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

install_missing
cargo build --release --locked -q
BIN=target/release/creditgate

"$BIN" simulate stripe --port "$SIM_PORT" --rate-limit off >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
gateway_config "$MISS_PORT" 0 >"$WORK/miss.toml"
gateway_config "$HIT_PORT" 3600 >"$WORK/hit.toml"
export BENCH_CURSOR_SECRET=bench-cursor-secret-0123456789abcdef BENCH_STRIPE_KEY=$STRIPE_KEY CREDITGATE_LOG=warn
"$BIN" serve --config "$WORK/miss.toml" &
MISS_PID=$!
PIDS+=("$MISS_PID")
"$BIN" serve --config "$WORK/hit.toml" &
HIT_PID=$!
PIDS+=("$HIT_PID")
for port in "$SIM_PORT" "$MISS_PORT" "$HIT_PORT"; do wait_for "$port"; done

# nginx serves the bytes the gateway answers with.
mkdir -p "$WORK/www" "$WORK/tmp"
curl -sf -H "Authorization: Bearer $API_KEY" "http://127.0.0.1:$HIT_PORT$GATEWAY_PATH" >"$WORK/www/balances.json"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
        default_type application/json;
    }
}
EOF
# nginx's workers run as an unprivileged user: let them read the file.
chmod -R a+rX "$WORK"
nginx -c "$WORK/nginx.conf" -p "$WORK"
wait_for "$NGINX_PORT"
curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/balances.json" || { echo "nginx does not serve the file" >&2; exit 1; }

mkdir -p target/bench
exec > >(tee target/bench/results.md)
echo "# creditgate load benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${RUN_SECS}s runs)"
echo
echo "Response: $(wc -c <"$WORK/www/balances.json") bytes. wrk -t2 -c32; hey -c10 -q100 (1,000 req/s)."
echo
echo "| target | tool | req/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---|---|---|---|---|"
row() { read -r rps p50 p99 bad <<<"$3"; echo "| $1 | $2 | $rps | $p50 | $p99 | $bad |"; }
row "nginx static file" "wrk" "$(wrk_run "http://127.0.0.1:$NGINX_PORT/balances.json" "$API_KEY")"
row "simulator direct" "wrk" "$(wrk_run "http://127.0.0.1:$SIM_PORT$SIM_PATH" "$STRIPE_KEY")"
row "gateway, cache miss" "wrk" "$(wrk_run "http://127.0.0.1:$MISS_PORT$GATEWAY_PATH" "$API_KEY")"
row "gateway, cache hit" "wrk" "$(wrk_run "http://127.0.0.1:$HIT_PORT$GATEWAY_PATH" "$API_KEY")"
row "simulator direct" "hey 1k/s" "$(hey_run "http://127.0.0.1:$SIM_PORT$SIM_PATH" "$STRIPE_KEY")"
row "gateway, cache miss" "hey 1k/s" "$(hey_run "http://127.0.0.1:$MISS_PORT$GATEWAY_PATH" "$API_KEY")"

echo
echo "Memory, gateway (cache hit) under wrk for ${MEMORY_SECS}s: RSS in KiB every 5 s"
wrk -t2 -c32 -d"${MEMORY_SECS}s" -H "Authorization: Bearer $API_KEY" "http://127.0.0.1:$HIT_PORT$GATEWAY_PATH" >/dev/null 2>&1 &
LOAD=$!
samples=()
for _ in $(seq $((MEMORY_SECS / 5))); do
    sleep 5
    samples+=("$(rss_kb "$HIT_PID" VmRSS)")
done
wait "$LOAD" || true
echo
echo "${samples[*]}"
echo
echo "Peak RSS (VmHWM): cache-hit gateway $(rss_kb "$HIT_PID" VmHWM) KiB, cache-miss gateway $(rss_kb "$MISS_PID" VmHWM) KiB"
