"""The shop example applied for real, from the same file, to each platform.

Each run goes through the command line (in this process): plan, apply, a
second apply that changes nothing, and a plan that is empty. The application
then really answers with a row it wrote through ``DATABASE_URL``, which only
existed once its database did. No secret value appears in any output.
"""

from __future__ import annotations

import json
from typing import cast

import anyio
import pytest

from harmony_py import Maestro
from harmony_py.cli.loader import load_maestro
from harmony_py.scores import ApplicationScore, PostgreSQLSwitchoverScore
from topologies import FailoverTopology, LocalhostTopology
from topologies.application_topology import ApplicationTopology

from .conftest import SHOP, Shop

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
    maestro = load_maestro(SHOP)
    topology = maestro.topology
    [application] = maestro.scores
    assert isinstance(topology, ApplicationTopology) and isinstance(application, ApplicationScore)
    database = application.database_score()
    assert database is not None
    cluster = cast(FailoverTopology[LocalhostTopology], topology.database)
    switched = anyio.run(Maestro(cluster).add(PostgreSQLSwitchoverScore(database, to="replica")).apply)
    assert switched.ok, switched

    code, applied = shop.cli("apply", "--yes", "--json")
    assert code == 0, applied
    scores = json.loads(applied)["apply"]["scores"]
    web = next(score for score in scores if score["identity"] == "shop.web")
    assert web["state"] == "changed" and "DATABASE_URL" in json.dumps(web["changes"]), web
    assert {"id": created["id"], "item": "tea"} in shop.orders()  # written before, read from the new primary
    shop.post("coffee")
