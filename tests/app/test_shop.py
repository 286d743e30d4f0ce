"""The shop example applied for real, from the same file, to each platform.

Each run goes through the command line (in this process): plan, apply, a
second apply that changes nothing, and a plan that is empty. The application
then really answers with a row it wrote through ``DATABASE_URL``, which only
existed once its database did. No secret value appears in any output.
"""

from __future__ import annotations

import json

import pytest

from .conftest import Shop, switch_over_then_reapply

PLATFORMS = ["localhost", "docker", "failover"]


@pytest.mark.parametrize("shop", PLATFORMS, indirect=True)
def test_the_database_endpoint_flows_to_the_application_and_a_second_apply_changes_nothing(shop: Shop) -> None:
    code, planned = shop.cli("plan", "--detailed-exitcode")
    assert code == 2, planned
    assert "shop.db" in planned and "shop.web" in planned
    assert "DATABASE_URL" in planned and "known after apply" in planned

    code, applied = shop.cli("apply", "--yes", "--json")
    assert code == 0, applied
    document = json.loads(applied)
    states = {score["identity"]: score["state"] for score in document["apply"]["scores"]}
    assert states == {"shop.contract": "unchanged", "shop.db": "changed", "shop.web": "changed"}, applied

    created = shop.post("tea")
    assert {"id": created["id"], "item": "tea"} in shop.orders()

    code, again = shop.cli("apply", "--yes")
    assert code == 0, again
    assert "3 unchanged" in again, again
    code, replanned = shop.cli("plan", "--detailed-exitcode")
    assert code == 0, replanned

    traces = shop.traces()
    assert "POST /orders" in traces  # the application's log is there to be searched
    shown = planned + applied + again + replanned + traces
    secrets = shop.secrets()
    assert len(secrets) >= 3, "the API key, the database URL and its password are searched for"
    for secret in secrets:
        assert secret not in shown

    if shop.kind == "failover":
        switch_over_then_apply_again(shop, created)


def switch_over_then_apply_again(shop: Shop, created: dict[str, object]) -> None:
    """The database's primary moves; applying the same file again moves the application with it."""
    _, web = switch_over_then_reapply(shop)
    assert web["state"] == "changed" and "DATABASE_URL" in json.dumps(web["changes"]), web
    assert {"id": created["id"], "item": "tea"} in shop.orders()  # written before, read from the new primary
    shop.post("coffee")
