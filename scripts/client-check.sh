#!/usr/bin/env bash
# The client check (README.md, "HTTP API v1"): from the document a running gateway serves
# (`serve --demo`), generates a Python client (openapi-python-client) and TypeScript types
# (openapi-typescript, used with openapi-fetch), as installed by scripts/install-clients.sh,
# and runs clients/python_check.py and clients/ts_check.ts (type-checked by `tsc --strict`
# first) against that gateway: a list walk, a write and its replay, and one answer for every
# error code a client can get (clients/error_cases.json) parsed into the typed model, some
# from the three gateways over faulty simulators that clients/faulty.py starts (afresh for
# each check: their faults are used up). The generated code is not kept in the repository:
# it goes to target/clients/.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=$PWD/target/clients/site
OUT=target/clients/python
PORT=${CLIENT_CHECK_PORT:-18480}
BASE="http://127.0.0.1:$PORT"
cargo build --locked --quiet
target/debug/creditgate serve --demo --listen "127.0.0.1:$PORT" >target/clients/demo.log 2>&1 &
DEMO=$!
FAULTY_PID=
trap 'kill $DEMO $FAULTY_PID 2>/dev/null || true' EXIT
# The gateways of clients/faulty.py, started afresh; their description in $FAULTY_DIR/faulty.json.
FAULTY_DIR=$PWD/target/clients/faulty
start_faulty() {
    stop_faulty
    rm -rf "$FAULTY_DIR"
    python3 clients/faulty.py "$FAULTY_DIR" target/debug/creditgate "$((PORT + 1))" "$((PORT + 2))" "$((PORT + 3))" &
    FAULTY_PID=$!
    for _ in $(seq 1 300); do
        [[ -f $FAULTY_DIR/faulty.json ]] && return 0
        kill -0 "$FAULTY_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$FAULTY_DIR"/*.log >&2 || true
    echo "clients/faulty.py did not start its gateways" >&2
    exit 1
}
stop_faulty() {
    if [[ -n $FAULTY_PID ]]; then
        kill "$FAULTY_PID" 2>/dev/null || true
        wait "$FAULTY_PID" 2>/dev/null || true
        FAULTY_PID=
    fi
}
# The served document, once the gateway answers.
python3 - "$BASE" target/clients/openapi.json <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        document = urllib.request.urlopen(sys.argv[1] + "/openapi.json", timeout=2).read()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the demo gateway did not answer")
open(sys.argv[2], "wb").write(document)
PY
rm -rf "$OUT" && mkdir -p "$OUT"
printf 'post_hooks: []\n' >target/clients/generator.yaml
(cd "$OUT" && PYTHONPATH="$SITE" python3 -m openapi_python_client generate --path ../openapi.json --meta none \
    --config ../generator.yaml >../generate.log 2>&1) || { cat target/clients/generate.log; exit 1; }
if grep -q "Warning" target/clients/generate.log; then
    cat target/clients/generate.log
    echo "the generator warned: the document has a piece it cannot read" >&2
    exit 1
fi
start_faulty
PYTHONPATH="$OUT:$SITE" python3 clients/python_check.py "$BASE" clients/error_cases.json "$FAULTY_DIR/faulty.json"

TS=target/clients/ts
rm -rf "$TS/src" "$TS/dist" && mkdir -p "$TS/src"
cp clients/ts_check.ts "$TS/src/"
"$TS/node_modules/.bin/openapi-typescript" target/clients/openapi.json -o "$TS/src/schema.d.ts" >/dev/null
"$TS/node_modules/.bin/tsc" --strict --module nodenext --moduleResolution nodenext --target es2022 \
    --skipLibCheck --outDir "$TS/dist" "$TS/src/ts_check.ts"
start_faulty
node "$TS/dist/ts_check.js" "$BASE" "$PWD/clients/error_cases.json" "$FAULTY_DIR/faulty.json"
stop_faulty
