"""Drives creditgate's Stripe simulator with Stripe's official Python SDK (`stripe` 16),
so the simulator cannot drift from what the SDK expects of Stripe unnoticed.

Usage: stripe_sdk.py BASE_URL SECRET_KEY CUSTOMER_ID. Exits 0 when every check holds;
otherwise prints the failed check and exits 1.
"""

import sys

import stripe


def main(base, key, customer):
    client = stripe.StripeClient(key, base_addresses={"api": base}, max_network_retries=0)
    grants = client.v1.billing.credit_grants.list({"customer": customer, "limit": 3})
    assert grants.data, "the customer's grants are listed"
    grant = grants.data[0]
    assert grant.id.startswith("credgr_"), grant.id
    assert grant.amount.type == "monetary", grant.amount
    currency = grant.amount.monetary.currency
    summary = client.v1.billing.credit_balance_summary.retrieve(
        {"customer": customer, "filter": {"type": "applicability_scope",
                                          "applicability_scope": {"price_type": "metered"}}}
    )
    assert summary.balances, "the balance summary has balances"
    transactions = client.v1.billing.credit_balance_transactions.list({"customer": customer, "limit": 5})
    assert transactions.data, "the customer's transactions are listed"

    create = {
        "customer": customer,
        "amount": {"type": "monetary", "monetary": {"currency": currency, "value": 500}},
        "applicability_config": {"scope": {"price_type": "metered"}},
        "category": "promotional",
        "name": "SDK grant",
    }
    # A missing customer: Stripe's resource_missing on `customer`, with a Request-Id.
    try:
        client.v1.billing.credit_grants.create(dict(create, customer="cus_missing"), {"idempotency_key": "sdk-missing"})
        raise AssertionError("a grant for a missing customer was created")
    except stripe.InvalidRequestError as e:
        assert e.code == "resource_missing", e.code
        assert e.param == "customer", e.param
        assert e.request_id and e.request_id.startswith("req_"), e.request_id

    # A validation error is not kept under its key: the corrected request runs.
    broken = dict(create, amount={"type": "monetary", "monetary": {"currency": currency, "value": -1}})
    try:
        client.v1.billing.credit_grants.create(broken, {"idempotency_key": "sdk-fixed"})
        raise AssertionError("a negative grant was created")
    except stripe.InvalidRequestError as e:
        assert e.param == "amount[monetary][value]", e.param
    made = client.v1.billing.credit_grants.create(create, {"idempotency_key": "sdk-fixed"})
    assert made.amount.monetary.value == 500, made.amount

    # The same key and request again: the first answer, replayed.
    again = client.v1.billing.credit_grants.create(create, {"idempotency_key": "sdk-fixed"})
    assert again.id == made.id, (again.id, made.id)
    assert again.last_response.headers.get("idempotent-replayed") == "true"

    # Void, then expire the voided grant: Stripe refuses, and the SDK reads why.
    voided = client.v1.billing.credit_grants.void_grant(made.id)
    assert voided.voided_at, "voided"
    try:
        client.v1.billing.credit_grants.expire(made.id)
        raise AssertionError("a voided grant was expired")
    except stripe.InvalidRequestError as e:
        assert "already been voided or expired" in str(e.user_message), e.user_message


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except AssertionError as e:
        print(f"stripe SDK check failed: {e!r}", file=sys.stderr)
        raise SystemExit(1)
    print("stripe SDK: every check held")
