"""Three gateways that answer the errors `serve --demo` cannot (scripts/client-check.sh):
vendor simulators with faults, API keys with narrow rights, tight limits, a Redis that is
not there. Started by `python3 clients/faulty.py DIR BINARY PORT1 PORT2 PORT3`; writes
DIR/faulty.json (each gateway's base URL, keys and customers) once all answer, then runs
until it is terminated, and takes its simulators and gateways down with it.

`faulty` (PORT1) is over six simulators, one fault each:
  stripe     drops its first write after applying it (upstream_outcome_unknown, then
             write_outcome_settling); its webhook secret is known (stale_webhook_timestamp)
  togai      answers every request 500 (upstream_server_error, then circuit_open)
  sequence   answers 200 with half a body (upstream_invalid_response)
  metronome  answers every request 429 (upstream_rate_limited)
  lago       answers after 2 s, past the 300 ms attempt timeout (upstream_timeout; two
             writes under one key at once: idempotency_key_in_use)
  vayu       is given the wrong refresh token (upstream_auth_failed)
with a full key, a read-only key (write_not_allowed), a key for one Stripe customer
(provider_not_allowed, customer_not_allowed), a key with a quota of one request
(rate_limited), and a body read timeout of 300 ms (request_body_timeout).

`narrow` (PORT2) has only a read-only key (so it records no events:
events_not_configured), a Stripe at a port nothing listens on (upstream_unreachable) and
one slow Lago call in flight at a time (upstream_saturated).

`detached` (PORT3) keeps its write records in a Redis at a port nothing listens on: it
serves reads on its own, and refuses writes before any vendor call
(idempotency_store_unavailable)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

DIR, BINARY = sys.argv[1], sys.argv[2]
PORT1, PORT2, PORT3 = (int(port) for port in sys.argv[3:6])
os.makedirs(DIR, exist_ok=True)
children = []


def stop(*_):
    for child in children:
        child.terminate()
    for child in children:
        child.wait(timeout=10)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)


def simulator(vendor, *faults):
    """Starts one simulator; its base URL (the value of `base_url` in a config), credential
    and first customer, as its banner says them."""
    child = subprocess.Popen(
        [BINARY, "simulate", vendor, "--port", "0", "--rate-limit", "off", *faults],
        stdout=subprocess.PIPE,
        text=True,
    )
    children.append(child)
    child.stdout.readline()  # "<vendor> simulator on <origin>"
    url = child.stdout.readline().split(": ", 1)[1].strip()
    credential = child.stdout.readline().split(": ", 1)[1].strip()
    customer = child.stdout.readline().split(": ", 1)[1].strip()
    return url, credential, customer


def secret(name, value):
    path = os.path.join(DIR, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return f"file:{path}"


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def head(port):
    """What every gateway's config opens with: its address and cursor secret."""
    cursor = secret("cursor.secret", "client-check-cursor-secret-0123456789abcdef")
    return f'listen = "127.0.0.1:{port}"\ncursor_secret = "{cursor}"\n'


def api_key(name, extra=""):
    """An `[[api_keys]]` entry for KEYS[name]."""
    return f'\n[[api_keys]]\nname = "{name}"\nkey_sha256 = "{sha256(KEYS[name])}"\n{extra}'


KEYS = {
    "full": "cg_check_full",
    "read": "cg_check_read",
    "narrow": "cg_check_narrow",
    "tiny": "cg_check_tiny",
}
WEBHOOK_SECRET = "whsec_client_check_0123456789"


def provider(vendor, url, credential, extra=""):
    return (
        f'\n[providers.{vendor}]\nbase_url = "{url}"\n'
        f'secret = "{secret(vendor + ".secret", credential)}"\n{extra}'
    )


def gateway(name, port, text):
    path = os.path.join(DIR, f"{name}.toml")
    with open(path, "w") as f:
        f.write(text)
    log = open(os.path.join(DIR, f"{name}.log"), "w")
    child = subprocess.Popen([BINARY, "serve", "--config", path, "--listen", f"127.0.0.1:{port}"], stderr=log)
    children.append(child)
    return f"http://127.0.0.1:{port}"


sims = {
    "stripe": simulator("stripe", "--write-drops", "1"),
    "togai": simulator("togai", "--error-rate", "1"),
    "sequence": simulator("sequence", "--malformed-rate", "1"),
    "metronome": simulator("metronome", "--rate-limited-rate", "1"),
    "lago": simulator("lago", "--latency-ms", "2000"),
    "vayu": simulator("vayu"),
}
customers = {vendor: f"{vendor}:{customer}" for vendor, (_, _, customer) in sims.items()}
WRITES = 'scopes = ["read", "write"]\n'
faulty = (
    head(PORT1)
    + api_key("full", WRITES)
    + api_key("read")
    + api_key("narrow", f'providers = ["stripe"]\ncustomers = ["{customers["stripe"]}"]\n')
    + api_key("tiny", "requests_per_second = 1\nburst = 1\n")
)
faulty += f"""
[store]
path = "{os.path.join(DIR, "faulty.redb")}"

[server]
body_read_timeout_ms = 300

[upstream]
attempt_timeout_ms = 300
deadline_ms = 700
"""
for vendor, (url, credential, _) in sims.items():
    if vendor == "vayu":
        credential = "not-the-refresh-token"
    extra = ""
    if vendor == "stripe":
        extra = f'webhook_secret = "{secret("stripe.webhook-secret", WEBHOOK_SECRET)}"\n'
    if vendor == "vayu":
        extra = 'unit = "USD"\n'
    faulty += provider(vendor, url, credential, extra)

slow_lago = simulator("lago", "--latency-ms", "1500")
narrow = head(PORT2) + api_key("read") + """
[upstream]
max_concurrency_per_vendor = 1
"""
narrow += provider("stripe", "http://127.0.0.1:9", sims["stripe"][1])
narrow += provider("lago", slow_lago[0], slow_lago[1])

detached = head(PORT3) + api_key("full", WRITES) + f"""
[redis]
url = "{secret("redis.url", "redis://127.0.0.1:9")}"
"""
detached += provider("stripe", sims["stripe"][0], sims["stripe"][1])

bases = {
    "faulty": gateway("faulty", PORT1, faulty),
    "narrow": gateway("narrow", PORT2, narrow),
    "detached": gateway("detached", PORT3, detached),
}
for base in bases.values():
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    else:
        stop()
with open(os.path.join(DIR, "faulty.json.tmp"), "w") as f:
    json.dump(
        {
            "bases": bases,
            "keys": KEYS,
            "customers": customers,
            "narrow_lago": f"lago:{slow_lago[2]}",
            "stripe_webhook_secret": WEBHOOK_SECRET,
        },
        f,
    )
os.replace(os.path.join(DIR, "faulty.json.tmp"), os.path.join(DIR, "faulty.json"))
while True:
    time.sleep(3600)
