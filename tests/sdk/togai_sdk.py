"""Drives creditgate's Togai simulator with Togai's official Python client
(`togai-client` 1.0.3, generated from Togai's OpenAPI), whose models validate every answer,
so the simulator cannot drift from what the client expects unnoticed.

Usage: togai_sdk.py BASE_URL BEARER_TOKEN ACCOUNT_ID. Exits 0 when every check holds;
otherwise prints the failed check and exits 1.
"""

import sys
from datetime import date

import togai_client
from togai_client.api.credits_api import CreditsApi
from togai_client.models.create_credit_request import CreateCreditRequest
from togai_client.models.credit_request import CreditRequest


def main(base, token, account):
    api = CreditsApi(togai_client.ApiClient(togai_client.Configuration(host=base, access_token=token)))
    page = api.list_credits(account_id=account, page_size=50)
    assert page.data, "the account's credits are listed"
    credit = page.data[0]
    details = api.get_credit_details(credit.id)
    assert details.id == credit.id, details.id
    balance = api.credit_balance_for_account(account)
    unit = balance.unit
    assert unit, balance

    request = CreditRequest(account_id=account, purpose="PREPAID_CREDIT", effective_from=date(2026, 1, 1),
                            effective_until=date(2030, 12, 31), credit_amount=12.5, priority=1,
                            idempotency_key="sdk-togai-1")
    made = api.create_credit(CreateCreditRequest(credit_requests=[request]))
    assert len(made.credits) == 1 and made.credits[0].credit_amount == 12.5, made
    voided = api.void_credit(made.credits[0].id)
    assert voided.status == "VOIDED", voided.status


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except AssertionError as e:
        print(f"togai client check failed: {e!r}", file=sys.stderr)
        raise SystemExit(1)
    print("togai client: every check held")
