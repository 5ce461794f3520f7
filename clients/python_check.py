"""The generated Python client against `serve --demo` (scripts/client-check.sh): every call
below goes through the code openapi-python-client made from creditgate's served document,
and every answer, errors included, must parse into its typed model: one answer for every
error code a client can get (clients/error_cases.json), from `serve --demo` and from the
gateways of clients/faulty.py. Arguments: the demo's base URL, the cases, faulty.json."""

import concurrent.futures
import hashlib
import hmac
import importlib
import json
import re
import socket
import sys
import time
import uuid

import httpx

from creditgate_client import AuthenticatedClient
from creditgate_client.api.credit_balances import list_credit_balances
from creditgate_client.api.credit_grants import create_credit_grant, list_credit_grants
from creditgate_client.api.events import list_events
from creditgate_client.api.providers import list_providers
from creditgate_client.models import (
    AmountInput,
    CreditBalanceList,
    CreditGrant,
    CreditGrantList,
    Error,
    EventList,
    EventType,
    NewCreditGrant,
    ProviderList,
)
from creditgate_client.types import UNSET

BASE = sys.argv[1]
client = AuthenticatedClient(base_url=BASE, token="cg_demo_key")
DOCUMENT = json.load(open("target/clients/openapi.json"))
FAULTY = json.load(open(sys.argv[3]))


def operation_module(op):
    """The generated module of `op` ("GET /v1/credit_grants"): api.<tag>.<operationId>."""
    method, template = op.split(" ", 1)
    operation = DOCUMENT["paths"][template][method.lower()]
    snake = lambda text: re.sub(r"(?<!^)(?=[A-Z])", "_", text).replace(" ", "_").lower()
    return importlib.import_module(f"creditgate_client.api.{snake(operation['tags'][0])}.{snake(operation['operationId'])}")


def send(case, base, token, body):
    """One request of `case` as an httpx.Response."""
    headers = dict(case.get("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    raw = case.get("raw")
    if raw == "stripe_signed_an_hour_ago":
        stamp = int(time.time()) - 3600
        mac = hmac.new(FAULTY["stripe_webhook_secret"].encode(), f"{stamp}.{body}".encode(), hashlib.sha256)
        headers["Stripe-Signature"] = f"t={stamp},v1={mac.hexdigest()}"
    if raw == "body_never_sent":
        return body_never_sent(base, case["path"], headers)
    with httpx.Client(base_url=base, timeout=30) as http:
        return http.request(case.get("method", case["op"].split(" ")[0] if case["op"] else "GET"), case["path"],
                            headers=headers, content=body)


def body_never_sent(base, path, headers):
    """A write whose head promises a body that never comes: what a client too slow to send
    its body looks like."""
    host, port = base.removeprefix("http://").split(":")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
    head += "Idempotency-Key: client-check-slow-body\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, rest = answer.split(b"\r\n", 1)
    head_lines, content = rest.split(b"\r\n\r\n", 1)
    fields = [line.split(b": ", 1) for line in head_lines.split(b"\r\n")]
    return httpx.Response(int(status_line.split(b" ")[1]), headers=fields, content=content)


def run_error_cases(cases):
    """Sends every case and checks its answer: the status and code it names, parsed by the
    operation's generated `_parse_response` into `Error`. Answers how many codes it saw."""
    seen = set()
    for case in cases["cases"]:
        gateway = case["gateway"]
        base = BASE if gateway == "demo" else FAULTY["bases"][gateway]
        token = {"demo": "cg_demo_key", "none": None, "bad": "not-a-key", **FAULTY["keys"]}[case["key"]]
        fill = lambda text: re.sub(r"\{(\w+)\}", lambda m: FAULTY["customers"].get(m[1], FAULTY.get(m[1], m[0])), text)
        case = {**case, "path": fill(case["path"])}
        bodies = case.get("body_sequence") or [fill(case.get("body", "")) or ("a" * case.get("body_bytes", 0))]
        answers = []
        if case.get("concurrent"):
            with concurrent.futures.ThreadPoolExecutor(case["concurrent"]) as pool:
                answers = list(pool.map(lambda _: send(case, base, token, bodies[0] or None), range(case["concurrent"])))
        else:
            for i in range(max(case.get("repeat", 1), len(bodies))):
                answers.append(send(case, base, token, bodies[min(i, len(bodies) - 1)] or None))
        code = case["code"]
        matching = [a for a in answers if a.status_code == case["status"]] if case.get("concurrent") else answers[-1:]
        assert matching and matching[0].status_code == case["status"], (code, [(a.status_code, a.content) for a in answers])
        answer = matching[0]
        parsed = (operation_module(case["op"])._parse_response(client=client, response=answer) if case["op"]
                  else Error.from_dict(answer.json()))
        assert isinstance(parsed, Error), (code, answer.status_code, answer.content)
        assert parsed.error.code == code, (code, parsed.error.code, answer.content)
        assert parsed.error.type_ is not None and parsed.error.request_id, (code, answer.content)
        seen.add(code)
    return len(seen)


# Reads, parsed into their models.
providers = list_providers.sync_detailed(client=client)
assert providers.status_code == 200 and isinstance(providers.parsed, ProviderList), providers.content
assert len(providers.parsed.data) == 6
balances = list_credit_balances.sync_detailed(client=client, customer="acme")
assert isinstance(balances.parsed, CreditBalanceList), balances.content

# A list walk across the alias's providers, two at a time: each grant once.
seen, cursor = [], UNSET
while True:
    page = list_credit_grants.sync_detailed(client=client, customer="acme", limit=2, cursor=cursor)
    assert page.status_code == 200 and isinstance(page.parsed, CreditGrantList), page.content
    seen += [grant.id for grant in page.parsed.data]
    if not page.parsed.has_more:
        break
    cursor = page.parsed.next_cursor
assert len(seen) == len(set(seen)) > 2, seen

# A write, and its replay under the same key.
body = NewCreditGrant(
    customer="stripe:cus_sim000000",
    amount=AmountInput(value="5.00", unit="USD"),
    name="Client check",
)
key = f"client-check-{uuid.uuid4()}"
first = create_credit_grant.sync_detailed(client=client, body=body, idempotency_key=key)
assert first.status_code == 200 and isinstance(first.parsed, CreditGrant), first.content
again = create_credit_grant.sync_detailed(client=client, body=body, idempotency_key=key)
assert again.headers.get("idempotent-replayed") == "true" and again.parsed.id == first.parsed.id
events = list_events.sync_detailed(client=client, type_=EventType.CREDIT_GRANT_CREATED)
assert isinstance(events.parsed, EventList), events.content

# Every error code a client can get (clients/error_cases.json), each answer parsed by the
# generated code of the operation it came from into the one Error model.
errors = run_error_cases(json.load(open(sys.argv[2])))
print(f"python client: ok ({len(seen)} grants walked, a write replayed, {errors} error codes parsed)")
