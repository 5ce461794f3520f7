#!/usr/bin/env bash
# The load benchmark behind BENCHMARKS.md, in one run on one machine:
#   1. cache hits against nginx serving the very same bytes from a file (one worker, access
#      log off), in alternating rounds (nginx, gateway, nginx, gateway...): a 50-entry
#      ledger page and a balance answer, wrk -t1 -c32, on gateways in the default
#      configuration (one worker thread per core), with `worker_threads = 1`, and with
#      `[redis]` (a local redis-server: the replicated path); with each server's user and
#      system CPU time per request (from /proc), the figure least moved by the machine's
#      noise; each column's median over the rounds;
#   1a. the same hits on gateways logging as deployed: `info` (the default filter; every
#      other gateway runs with `warn`, nginx with its access log off), text and JSON, each
#      read from a pipe;
#   1b. the floor in the same rounds: a bare hyper server and a bare axum router
#      (examples/http_floor.rs, default runtime; bare hyper with one worker thread too)
#      answering the balance's bytes with the gateway's headers: what this HTTP stack does
#      on this machine with no work at all;
#   2. misses at full speed (wrk -t1 -c4, the cache off), without and with `[redis]`, in
#      the same rounds;
#   3. the miss overhead: the Stripe simulator called directly vs the gateway with its
#      cache off, both at a fixed 1,000 req/s (hey), evenly and in bursts of ten; and, in
#      bursts, bare proxies (http_floor: reqwest, hyper-util's client) in front of the same
#      simulator: the two HTTP exchanges of a miss with no parsing or normalizing;
#   3b. instructions per balance hit (valgrind's callgrind, 3,000 hits after 500 to warm
#      up): the gateway, bare axum, bare hyper. Deterministic, unlike time on a shared VM
#      (callgrind runs SHA-256 in software, which inflates the gateway's key check);
#   3c. issue 30's targets, each met or missed, computed from the medians of 1 and 3, with
#      the floor's figures beside them;
#   4. RSS of the hit gateway under a 60 s wrk load, sampled every 5 s;
#   5. cold start: from spawning a gateway to its first 200 (which includes the vendor call);
#   6. events: signed vendor deliveries acknowledged per second, and delivery latency at
#      500 events/s (scripts/events-bench.sh).
#
# Usage: scripts/bench.sh [seconds per run, default 10] [memory run seconds, default 60] [rounds, default 3]
# Installs wrk, hey, nginx, valgrind (and redis-server, scripts/install-redis.sh) with apt when missing. Results: target/bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_SECS=${1:-10}
MEMORY_SECS=${2:-60}
ROUNDS=${3:-3}
SIM_PORT=18181 MISS_PORT=18182 HIT_PORT=18183 NGINX_PORT=18184 COLD_PORT=18185 REDIS_PORT=18186 SHARED_PORT=18187
ONE_PORT=18188 SHARED_MISS_PORT=18189
FLOOR_HYPER_PORT=18190 FLOOR_AXUM_PORT=18191 PROXY_REQWEST_PORT=18192 PROXY_HYPER_PORT=18193 COUNT_PORT=18194
FLOOR_ONE_PORT=18195 LOGGED_PORT=18196 JSON_LOGGED_PORT=18197
API_KEY=cg_bench_key
# The simulator's deterministic credential and first customer for seed 1.
STRIPE_KEY=sk_test_sim0000000000000001
CUSTOMER=cus_sim000000
GATEWAY_PATH="/v1/credit_balances?customer=stripe:${CUSTOMER}"
LEDGER_PATH="/v1/credit_ledger_entries?customer=stripe:${CUSTOMER}&limit=50"
# What the gateway asks Stripe for that request.
SIM_PATH="/v1/billing/credit_balance_summary?customer=${CUSTOMER}&filter%5Btype%5D=applicability_scope&filter%5Bapplicability_scope%5D%5Bprice_type%5D=metered"

install_missing() {
    local missing=()
    for tool in wrk hey nginx valgrind; do
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

gateway_config() { # port, cache ttl, worker threads (empty: the default, one per core)
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
    if [[ -n ${3:-} ]]; then printf '\n[server]\nworker_threads = %s\n' "$3"; fi
}

with_redis() { printf '\n[redis]\nurl = "env:BENCH_REDIS_URL"\n'; }

# wrk at full speed against URL with KEY over CONNECTIONS (32): "requests/s p50 p99 non-2xx"
# (latencies in ms).
wrk_run() {
    wrk -t1 -c"${3:-32}" -d"${RUN_SECS}s" --latency -H "Authorization: Bearer $2" "$1" >"$WORK/wrk.out" 2>&1 || true
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

# hey at a fixed 1,000 req/s against URL with KEY, with WORKERS connections each sending
# 1000/WORKERS a second: as wrk_run. One worker sends evenly; ten send in bursts of ten
# (their tickers align), which also measures how long a burst queues on 2 cores.
hey_run() {
    local workers=${3:-1}
    hey -z "${RUN_SECS}s" -c "$workers" -q $((1000 / workers)) -H "Authorization: Bearer $2" "$1" >"$WORK/hey.out" 2>&1 || true
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
scripts/install-redis.sh
cargo build --release --locked -q --bin creditgate --example http_floor
BIN=target/release/creditgate
FLOOR=target/release/examples/http_floor

"$BIN" simulate stripe --port "$SIM_PORT" --rate-limit off --entries-per-customer 120 >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
gateway_config "$MISS_PORT" 0 >"$WORK/miss.toml"
gateway_config "$HIT_PORT" 3600 >"$WORK/hit.toml"
gateway_config "$ONE_PORT" 3600 1 >"$WORK/one.toml"
gateway_config "$LOGGED_PORT" 3600 >"$WORK/logged.toml"
gateway_config "$JSON_LOGGED_PORT" 3600 >"$WORK/json-logged.toml"
{ gateway_config "$SHARED_PORT" 3600; with_redis; } >"$WORK/shared.toml"
{ gateway_config "$SHARED_MISS_PORT" 0; with_redis; } >"$WORK/shared-miss.toml"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
# The [redis] gateways start degraded if Redis is not up yet: wait for its port.
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break
    sleep 0.1
done
export BENCH_CURSOR_SECRET=bench-cursor-secret-0123456789abcdef BENCH_STRIPE_KEY=$STRIPE_KEY CREDITGATE_LOG=warn
export BENCH_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
"$BIN" serve --config "$WORK/miss.toml" &
MISS_PID=$!
PIDS+=("$MISS_PID")
"$BIN" serve --config "$WORK/hit.toml" &
HIT_PID=$!
PIDS+=("$HIT_PID")
declare -A SERVER_PID=([miss]=$MISS_PID [hit]=$HIT_PID)
for config in one shared shared-miss; do
    "$BIN" serve --config "$WORK/$config.toml" &
    PIDS+=($!)
    SERVER_PID[$config]=$!
done
# As deployed: the default log filter (`info`, one line per request), read from a pipe (as
# journald or a container runtime reads it).
CREDITGATE_LOG=info "$BIN" serve --config "$WORK/logged.toml" 2> >(cat >/dev/null) &
PIDS+=($!)
SERVER_PID[logged]=$!
CREDITGATE_LOG=info "$BIN" serve --log-format json --config "$WORK/json-logged.toml" 2> >(cat >/dev/null) &
PIDS+=($!)
SERVER_PID[json_logged]=$!
for port in "$SIM_PORT" "$MISS_PORT" "$HIT_PORT" "$ONE_PORT" "$SHARED_PORT" "$SHARED_MISS_PORT" "$LOGGED_PORT" "$JSON_LOGGED_PORT"; do
    wait_for "$port"
done

# nginx serves the bytes the gateway answers with.
mkdir -p "$WORK/www" "$WORK/tmp"
curl -sf -H "Authorization: Bearer $API_KEY" "http://127.0.0.1:$HIT_PORT$GATEWAY_PATH" >"$WORK/www/balances.json"
curl -sf -H "Authorization: Bearer $API_KEY" "http://127.0.0.1:$HIT_PORT$LEDGER_PATH" >"$WORK/www/ledger.json"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
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
SERVER_PID[nginx]=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
for flavour in hyper axum; do
    port_var=FLOOR_${flavour^^}_PORT
    "$FLOOR" file "$flavour" "127.0.0.1:${!port_var}" "$WORK/www/balances.json" &
    PIDS+=($!)
    SERVER_PID[floor_$flavour]=$!
    wait_for "${!port_var}"
done
"$FLOOR" file hyper "127.0.0.1:$FLOOR_ONE_PORT" "$WORK/www/balances.json" 1 &
PIDS+=($!)
SERVER_PID[floor_one]=$!
wait_for "$FLOOR_ONE_PORT"
for flavour in reqwest hyper; do
    port_var=PROXY_${flavour^^}_PORT
    "$FLOOR" proxy "$flavour" "127.0.0.1:${!port_var}" "http://127.0.0.1:$SIM_PORT" &
    PIDS+=($!)
    wait_for "${!port_var}"
done
for file in balances ledger; do
    curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/$file.json" || { echo "nginx does not serve $file.json" >&2; exit 1; }
done

mkdir -p target/bench
exec > >(tee target/bench/results.md)
echo "# creditgate load benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${RUN_SECS}s runs)"
echo
echo "Answers: ledger page $(wc -c <"$WORK/www/ledger.json") bytes, balance $(wc -c <"$WORK/www/balances.json") bytes."
echo "Hits: wrk -t1 -c32; misses at full speed: wrk -t1 -c4; ${ROUNDS} alternating rounds (each column's median over the rounds shown, every round listed below). Misses at a fixed rate: hey at 1,000 req/s over 1 and over 10 connections."
echo "CPU per request: the server process's user and system time over the run (/proc/PID/stat; nginx: its one worker), divided by the requests wrk counted."
echo "Gateways: default (one worker thread per core), \`worker_threads = 1\`, and default with \`[redis]\`, logging at \`warn\` (nginx's access log is off); and default logging at \`info\` (the default filter, a line per request) as text and as JSON, read from a pipe."
echo "Floors: examples/http_floor.rs on tokio's default runtime (one worker per core; bare hyper with one too), answering the balance's bytes with a hit's headers (bare hyper; a bare axum router), and proxying to the simulator (reqwest; hyper-util's client)."
echo
echo "| target | tool | req/s | p50 ms | p99 ms | non-2xx | CPU µs/request, user + system |"
echo "|---|---|---|---|---|---|---|"
row() {
    read -r rps p50 p99 bad user system <<<"$3"
    echo "| $1 | $2 | $rps | $p50 | $p99 | $bad | ${user:+$user + $system} |"
}
declare -A RUNS
ROWS=(
    "nginx_ledger|nginx static file, ledger page|wrk|http://127.0.0.1:$NGINX_PORT/ledger.json|32|nginx"
    "hit_ledger|gateway cache hit, ledger page|wrk|http://127.0.0.1:$HIT_PORT$LEDGER_PATH|32|hit"
    "one_ledger|gateway (worker_threads = 1) cache hit, ledger page|wrk|http://127.0.0.1:$ONE_PORT$LEDGER_PATH|32|one"
    "shared_ledger|gateway with [redis], cache hit, ledger page|wrk|http://127.0.0.1:$SHARED_PORT$LEDGER_PATH|32|shared"
    "logged_ledger|gateway logging at info, cache hit, ledger page|wrk|http://127.0.0.1:$LOGGED_PORT$LEDGER_PATH|32|logged"
    "nginx_balance|nginx static file, balance|wrk|http://127.0.0.1:$NGINX_PORT/balances.json|32|nginx"
    "hit_balance|gateway cache hit, balance|wrk|http://127.0.0.1:$HIT_PORT$GATEWAY_PATH|32|hit"
    "floor_hyper|floor: bare hyper, balance bytes|wrk|http://127.0.0.1:$FLOOR_HYPER_PORT/balances.json|32|floor_hyper"
    "floor_axum|floor: bare axum router, balance bytes|wrk|http://127.0.0.1:$FLOOR_AXUM_PORT/balances.json|32|floor_axum"
    "floor_one|floor: bare hyper, one worker thread, balance bytes|wrk|http://127.0.0.1:$FLOOR_ONE_PORT/balances.json|32|floor_one"
    "one_balance|gateway (worker_threads = 1) cache hit, balance|wrk|http://127.0.0.1:$ONE_PORT$GATEWAY_PATH|32|one"
    "shared_balance|gateway with [redis], cache hit, balance|wrk|http://127.0.0.1:$SHARED_PORT$GATEWAY_PATH|32|shared"
    "logged_balance|gateway logging at info, cache hit, balance|wrk|http://127.0.0.1:$LOGGED_PORT$GATEWAY_PATH|32|logged"
    "json_logged_balance|gateway logging at info as JSON, cache hit, balance|wrk|http://127.0.0.1:$JSON_LOGGED_PORT$GATEWAY_PATH|32|json_logged"
    "miss|gateway, cache miss, balance|wrk -c4|http://127.0.0.1:$MISS_PORT$GATEWAY_PATH|4|miss"
    "shared_miss|gateway with [redis], cache miss, balance|wrk -c4|http://127.0.0.1:$SHARED_MISS_PORT$GATEWAY_PATH|4|shared-miss"
)
# User and system CPU time of process PID, in clock ticks.
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
for round in $(seq "$ROUNDS"); do
    for spec in "${ROWS[@]}"; do
        IFS='|' read -r name _ _ url connections server <<<"$spec"
        pid=${SERVER_PID[$server]}
        read -r user0 system0 <<<"$(cpu_ticks "$pid")"
        read -r rps rest <<<"$(wrk_run "$url" "$API_KEY" "$connections")"
        read -r user1 system1 <<<"$(cpu_ticks "$pid")"
        per_request=$(python3 -c "t = 1e6 / $(getconf CLK_TCK) / ($rps * $RUN_SECS)
print(f'{($user1 - $user0) * t:.1f} {($system1 - $system0) * t:.1f}')")
        RUNS[$name]+="$rps $rest $per_request"$'\n'
    done
done
summary() { # each column's median over the rounds
    printf '%s' "${RUNS[$1]}" | grep . | python3 -c '
import sys
columns = [sorted(column, key=float) for column in zip(*(line.split() for line in sys.stdin))]
print(" ".join(column[(len(column) - 1) // 2] for column in columns))'
}
for spec in "${ROWS[@]}"; do
    IFS='|' read -r name label tool _ _ _ <<<"$spec"
    row "$label" "$tool" "$(summary "$name")"
done
declare -A PACED
PACED[sim_even]=$(hey_run "http://127.0.0.1:$SIM_PORT$SIM_PATH" "$STRIPE_KEY" 1)
PACED[miss_even]=$(hey_run "http://127.0.0.1:$MISS_PORT$GATEWAY_PATH" "$API_KEY" 1)
PACED[sim_burst]=$(hey_run "http://127.0.0.1:$SIM_PORT$SIM_PATH" "$STRIPE_KEY" 10)
PACED[miss_burst]=$(hey_run "http://127.0.0.1:$MISS_PORT$GATEWAY_PATH" "$API_KEY" 10)
PACED[reqwest_burst]=$(hey_run "http://127.0.0.1:$PROXY_REQWEST_PORT$SIM_PATH" "$STRIPE_KEY" 10)
PACED[hyper_burst]=$(hey_run "http://127.0.0.1:$PROXY_HYPER_PORT$SIM_PATH" "$STRIPE_KEY" 10)
row "simulator direct" "hey 1k/s, 1 conn" "${PACED[sim_even]}"
row "gateway, cache miss" "hey 1k/s, 1 conn" "${PACED[miss_even]}"
row "simulator direct" "hey 1k/s, 10 conns" "${PACED[sim_burst]}"
row "gateway, cache miss" "hey 1k/s, 10 conns" "${PACED[miss_burst]}"
row "floor: bare proxy (reqwest) to the simulator" "hey 1k/s, 10 conns" "${PACED[reqwest_burst]}"
row "floor: bare proxy (hyper-util client) to the simulator" "hey 1k/s, 10 conns" "${PACED[hyper_burst]}"

# Issue 30's targets, computed from the medians above (and the floor beside each).
echo
echo "Against the targets (issue 30), from the medians above:"
echo
{
    for spec in "${ROWS[@]}"; do
        IFS='|' read -r name _ <<<"$spec"
        echo "$name $(summary "$name")"
    done
    for name in "${!PACED[@]}"; do echo "$name ${PACED[$name]}"; done
} >"$WORK/medians.txt"
python3 - "$WORK/medians.txt" <<'PY'
import sys
rps, p99 = {}, {}
for line in open(sys.argv[1]):
    name, r, _p50, p, *_ = line.split()
    rps[name], p99[name] = float(r), float(p)
def verdict(ok):
    return "met" if ok else "**missed**"
for page in ("ledger", "balance"):
    hit, nginx, one, shared = (f"{kind}_{page}" for kind in ("hit", "nginx", "one", "shared"))
    r, p = rps[hit] / rps[nginx], p99[hit] / p99[nginx]
    print(f"- Hit, {page}: {r:.2f}x nginx req/s ({verdict(r >= 1.0)}); p99 {p:.2f}x nginx's ({verdict(p <= 1.5)})")
    r, d = rps[shared] / rps[hit], p99[shared] - p99[hit]
    print(f"- Hit with [redis], {page}: {r:.2f}x without ({verdict(r >= 0.9)}); p99 {d:+.2f} ms ({verdict(d <= 0.3)})")
    print(f"- Default vs worker_threads = 1, {page}: {rps[hit] / rps[one]:.2f}x req/s; p99 {p99[hit]:.2f} vs {p99[one]:.2f} ms")
    logged = f"logged_{page}"
    print(f"- Hit logging at info (as deployed), {page}: {rps[logged] / rps[nginx]:.2f}x nginx req/s, {rps[logged] / rps[hit]:.2f}x the same at warn;"
          f" p99 {p99[logged] / p99[nginx]:.2f}x nginx's")
print(f"- Hit logging at info as JSON, balance: {rps['json_logged_balance'] / rps['nginx_balance']:.2f}x nginx req/s,"
      f" {rps['json_logged_balance'] / rps['hit_balance']:.2f}x the same at warn")
nginx = "nginx_balance"
print(f"- Floor, balance: req/s bare axum {rps['floor_axum'] / rps[nginx]:.2f}x nginx, bare hyper {rps['floor_hyper'] / rps[nginx]:.2f}x;"
      f" p99 bare hyper {p99['floor_hyper'] / p99[nginx]:.2f}x nginx's with two workers, {p99['floor_one'] / p99[nginx]:.2f}x with one")
r = rps["shared_miss"] / rps["miss"]
print(f"- Miss with [redis]: {r:.2f}x without ({verdict(r >= 0.8)})")
over = {name: p99[name] - p99["sim_burst"] for name in ("miss_burst", "reqwest_burst", "hyper_burst")}
print(f"- Misses in bursts of ten: {over['miss_burst']:+.1f} ms p99 over the simulator ({verdict(over['miss_burst'] < 0.5)});"
      f" floor: reqwest proxy {over['reqwest_burst']:+.1f} ms, hyper-util proxy {over['hyper_burst']:+.1f} ms")
PY

echo "Every round (req/s p50 p99 non-2xx, CPU µs/request user system):"
for spec in "${ROWS[@]}"; do
    IFS='|' read -r name _ _ _ _ _ <<<"$spec"
    echo "- $name: $(printf '%s' "${RUNS[$name]}" | grep . | paste -sd ';' -)"
done

echo
echo "Instructions per balance hit (callgrind, 3,000 hits after 500 to warm up, hey -c8):"
echo
# Starts COMMAND... under callgrind on COUNT_PORT, warms it up, counts the instructions of
# 3,000 requests to PATH, and prints them per request.
instructions_per_request() {
    local path=$1 key=$2
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p" "$@" >"$WORK/callgrind.log" 2>&1 &
    local pid=$!
    for _ in $(seq 300); do
        curl -sf -o /dev/null -H "Authorization: Bearer $key" "http://127.0.0.1:$COUNT_PORT$path" && break
        sleep 0.2
    done
    hey -n 500 -c 8 -H "Authorization: Bearer $key" "http://127.0.0.1:$COUNT_PORT$path" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    hey -n 3000 -c 8 -H "Authorization: Bearer $key" "http://127.0.0.1:$COUNT_PORT$path" >"$WORK/hey.out"
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill "$pid"
    wait "$pid" || true
    grep -q '\[200\]\s*3000 responses' "$WORK/hey.out" || { echo "not 3,000 answers of 200 from $*" >&2; exit 1; }
    local total
    total=$(callgrind_annotate "$WORK/callgrind.$pid.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo $((total / 3000))
}
gateway_config "$COUNT_PORT" 3600 >"$WORK/count.toml"
echo "- gateway, default configuration, logging at warn: $(instructions_per_request "$GATEWAY_PATH" "$API_KEY" "$BIN" serve --config "$WORK/count.toml")"
echo "- gateway, logging at info (text): $(CREDITGATE_LOG=info instructions_per_request "$GATEWAY_PATH" "$API_KEY" "$BIN" serve --config "$WORK/count.toml")"
echo "- gateway, logging at info (JSON): $(CREDITGATE_LOG=info instructions_per_request "$GATEWAY_PATH" "$API_KEY" "$BIN" serve --log-format json --config "$WORK/count.toml")"
echo "- floor, bare axum router: $(instructions_per_request /balances.json "$API_KEY" "$FLOOR" file axum "127.0.0.1:$COUNT_PORT" "$WORK/www/balances.json")"
echo "- floor, bare hyper: $(instructions_per_request /balances.json "$API_KEY" "$FLOOR" file hyper "127.0.0.1:$COUNT_PORT" "$WORK/www/balances.json")"

echo
echo "Memory, gateway (cache hit, ledger page) under wrk for ${MEMORY_SECS}s: RSS in KiB every 5 s"
wrk -t1 -c32 -d"${MEMORY_SECS}s" -H "Authorization: Bearer $API_KEY" "http://127.0.0.1:$HIT_PORT$LEDGER_PATH" >/dev/null 2>&1 &
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

echo
gateway_config "$COLD_PORT" 3600 >"$WORK/cold.toml"
python3 - "$BIN" "$WORK/cold.toml" "$COLD_PORT" "$GATEWAY_PATH" "$API_KEY" <<'PY'
import subprocess, sys, time, urllib.request
binary, config, port, path, key = sys.argv[1:]
times = []
for _ in range(5):
    started = time.monotonic()
    process = subprocess.Popen([binary, "serve", "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {key}"})
                if urllib.request.urlopen(request, timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.001)
        times.append((time.monotonic() - started) * 1000)
    finally:
        process.terminate()
        process.wait()
print("Cold start, spawn to first 200 (5 starts): " + ", ".join(f"{t:.0f} ms" for t in times) + f"; median {sorted(times)[2]:.0f} ms")
PY

echo
echo "Events (scripts/events-bench.sh 20000 500 20, in its own process with the store on disk):"
echo
# Only its three result lines: cargo's and criterion's own output is left out.
bash scripts/events-bench.sh 20000 500 20 2>/dev/null | grep -E '^(ingest|backlog|delivery):? ' | sed 's/^/- /'
