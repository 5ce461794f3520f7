"""The generated Python client against `serve --demo` (scripts/client-check.sh): every call
below goes through the code openapi-python-client made from creditgate's served document,
and every answer, errors included, must parse into its typed model."""

import sys
import uuid

from creditgate_client import AuthenticatedClient
from creditgate_client.api.credit_balances import list_credit_balances
from creditgate_client.api.credit_grants import create_credit_grant, get_credit_grant, list_credit_grants
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
    Provider,
    ProviderList,
)
from creditgate_client.types import UNSET

BASE = sys.argv[1]
client = AuthenticatedClient(base_url=BASE, token="cg_demo_key")


def expect_error(response, status, code):
    assert response.status_code == status, (status, response.status_code, response.content)
    assert isinstance(response.parsed, Error), response.content
    assert response.parsed.error.code == code, (code, response.parsed.error.code)


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

# Errors, each parsed into the one Error model with its code.
other = NewCreditGrant(customer="stripe:cus_sim000000", amount=AmountInput(value="6.00", unit="USD"))
expect_error(create_credit_grant.sync_detailed(client=client, body=other, idempotency_key=key), 409, "idempotency_key_reused")
stranger = AuthenticatedClient(base_url=BASE, token="not-a-key")
expect_error(list_providers.sync_detailed(client=stranger), 401, "invalid_api_key")
expect_error(list_credit_grants.sync_detailed(client=client, customer="nobody"), 400, "unknown_customer")
expect_error(get_credit_grant.sync_detailed("stripe:credgr_nothing", client=client), 404, "grant_not_found")
expect_error(list_credit_grants.sync_detailed(client=client, provider=Provider.VAYU), 501, "unsupported_by_provider")
print(f"python client: ok ({len(seen)} grants walked, a write replayed, 5 errors parsed)")
