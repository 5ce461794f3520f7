#!/usr/bin/env bash
# Installs the vendors' official Python SDKs that tests/sdk.rs drives the simulators with
# (Stripe's `stripe`, Metronome's `metronome-sdk`, Togai's `togai-client`), pinned, into
# target/python-sdks (never into the system's Python). Does nothing when that exact set is
# there already.
set -euo pipefail
cd "$(dirname "$0")/.."
want="stripe==16.1.0 metronome-sdk==4.12.0 togai-client==1.0.3"
dir=target/python-sdks
[ "$(cat "$dir/.installed" 2>/dev/null || true)" = "$want" ] && exit 0
if ! python3 -m pip --version >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing pip (Debian's python3-pip) for the SDK tests" >&2
  $sudo apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-pip >&2
fi
echo "installing $want into $dir for the SDK tests" >&2
rm -rf "$dir"
# shellcheck disable=SC2086
python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --target "$dir" $want >&2
printf '%s' "$want" > "$dir/.installed"
