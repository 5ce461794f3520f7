#!/usr/bin/env bash
# Installs the client generators the client check uses (scripts/client-check.sh), pinned,
# under target/clients (never the system's Python or a global npm): openapi-python-client
# and what the code it generates imports, in site/; openapi-typescript, openapi-fetch and
# typescript, in ts/. Does nothing when they are there. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=target/clients/site
TS=target/clients/ts
GENERATOR_VERSION=0.29.1
TS_PACKAGES="openapi-typescript@7.13.0 openapi-fetch@0.17.0 typescript@5.9.3"
if [[ ! -f $TS/.installed ]] || [[ $(cat "$TS/.installed") != "$TS_PACKAGES" ]]; then
    rm -rf "$TS" && mkdir -p "$TS"
    printf '{"private": true, "type": "module"}\n' >"$TS/package.json"
    # shellcheck disable=SC2086
    (cd "$TS" && npm install --no-audit --no-fund --silent --save-exact $TS_PACKAGES)
    printf '%s' "$TS_PACKAGES" >"$TS/.installed"
fi
if [[ -f $SITE/.installed-$GENERATOR_VERSION ]]; then
    exit 0
fi
rm -rf "$SITE" && mkdir -p "$SITE"
python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --root-user-action=ignore --target "$SITE" \
    "openapi-python-client==$GENERATOR_VERSION" "httpx>=0.23,<0.29" "attrs>=22.2" "python-dateutil>=2.8,<3"
touch "$SITE/.installed-$GENERATOR_VERSION"
