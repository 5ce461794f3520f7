#!/usr/bin/env bash
# What the console's browser tests (tests/console_browser.rs) need: Debian's Chromium and
# its ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver), installed when missing, and
# axe-core (the accessibility checker the tests inject into each page), pinned, under
# target/browser (never a global npm). Does nothing when they are there. Safe to run from
# several processes at once. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.11.0
AXE=target/browser
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    exec 9>/tmp/creditgate-install-browser.lock
    flock 9
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        echo "installing chromium and chromium-driver (Debian's packages) for the console tests" >&2
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq >&2 || true
        $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >&2
    fi
    flock -u 9
fi
command -v chromium >/dev/null && command -v chromedriver >/dev/null
if [[ ! -f $AXE/.installed ]] || [[ $(cat "$AXE/.installed") != "$AXE_VERSION" ]]; then
    rm -rf "$AXE" && mkdir -p "$AXE"
    printf '{"private": true}\n' >"$AXE/package.json"
    (cd "$AXE" && npm install --no-audit --no-fund --silent --save-exact "axe-core@$AXE_VERSION")
    printf '%s' "$AXE_VERSION" >"$AXE/.installed"
fi
test -f "$AXE/node_modules/axe-core/axe.min.js"
