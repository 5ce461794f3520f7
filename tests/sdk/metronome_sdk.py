"""Drives creditgate's Metronome simulator with Metronome's official Python SDK
(`metronome-sdk` 4.12), so the simulator cannot drift from what the SDK expects unnoticed.

Usage: metronome_sdk.py BASE_URL BEARER_TOKEN CUSTOMER_ID. Exits 0 when every check holds;
otherwise prints the failed check and exits 1.
"""

import sys
from datetime import datetime, timezone

from metronome import Metronome


def main(base, token, customer):
    client = Metronome(bearer_token=token, base_url=base, max_retries=0)
    credits = list(client.v1.customers.credits.list(customer_id=customer, include_balance=True, include_ledgers=True))
    assert credits, "the customer's credits are listed (every page)"
    for credit in credits:
        assert credit.access_schedule and credit.access_schedule.schedule_items, credit.id
    # covering_date: only credits whose schedule covers the date.
    now = datetime.now(timezone.utc)
    covering = list(client.v1.customers.credits.list(customer_id=customer, covering_date=now, include_balance=True))
    for credit in covering:
        item = credit.access_schedule.schedule_items[0]
        assert item.starting_at <= now < item.ending_before, (credit.id, item)
    far_past = datetime(1990, 1, 1, tzinfo=timezone.utc)
    assert not list(client.v1.customers.credits.list(customer_id=customer, covering_date=far_past)), \
        "no credit covers 1990"
    # getNetBalance: the live credits of the credit type, summed.
    credit_type = credits[0].access_schedule.credit_type.id
    net = client.v1.contracts.get_net_balance(customer_id=customer, credit_type_id=credit_type)
    assert net.data.credit_type_id == credit_type, net
    expected = sum(max(c.balance or 0, 0) for c in covering if c.access_schedule.credit_type.id == credit_type)
    assert abs(net.data.balance - expected) < 1e-6, (net.data.balance, expected)


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except AssertionError as e:
        print(f"metronome SDK check failed: {e!r}", file=sys.stderr)
        raise SystemExit(1)
    print("metronome SDK: every check held")
