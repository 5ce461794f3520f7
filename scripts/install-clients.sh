#!/usr/bin/env bash
# Installs the client generator the client check uses (scripts/client-check.sh), pinned,
# into target/clients/site (never the system's Python): openapi-python-client and what the
# code it generates imports. Does nothing when it is there. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=target/clients/site
GENERATOR_VERSION=0.29.1
if [[ -f $SITE/.installed-$GENERATOR_VERSION ]]; then
    exit 0
fi
rm -rf "$SITE" && mkdir -p "$SITE"
python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --root-user-action=ignore --target "$SITE" \
    "openapi-python-client==$GENERATOR_VERSION" "httpx>=0.23,<0.29" "attrs>=22.2" "python-dateutil>=2.8,<3"
touch "$SITE/.installed-$GENERATOR_VERSION"
