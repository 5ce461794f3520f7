#!/usr/bin/env bash
# Makes sure `redis-server` is on this machine: the tests of shared state (tests/replicas.rs, tests/replicas_events.rs)
# start their own servers with it. Installs Debian's package when it is missing; does
# nothing when it is there. Safe to run from several processes at once.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
lock=/tmp/creditgate-install-redis.lock
exec 9>"$lock"
flock 9
command -v redis-server >/dev/null 2>&1 && exit 0
echo "installing redis-server (Debian's package) for the tests" >&2
export DEBIAN_FRONTEND=noninteractive
# The package's own service is not wanted (the tests start theirs): keep it from starting,
# unless the machine already has a policy of its own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  $sudo sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get update -qq >&2 || true
$sudo apt-get install -y -qq --no-install-recommends redis-server >&2
command -v redis-server >/dev/null
