"""The shop example on an engine-backed failover database keeps taking orders across a host crash of the primary.

``SHOP_TOPOLOGY=failover-auto``: the shop a supervised process here, its database
two LocalInstance members and a witness under Patroni. A client places orders
over HTTP without pause; the primary's host is crashed (SIGKILL of its Patroni,
PostgreSQL and etcd member) and no harmony_py command runs: orders are taken
again by themselves (the app reconnects per request through its multi-host
``DATABASE_URL``), and every order the shop acknowledged is listed afterwards.
"""

from __future__ import annotations

import threading
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import cast

import pytest

from harmony_py.cli.loader import load_maestro
from harmony_py.scores import ApplicationScore
from tests.postgres.engine_hosts import EngineCluster, crash_host, engine_port, take_down
from topologies import ApplicationTopology, FailoverTopology, LocalInstance

from .conftest import SHOP, Shop, stop_supervised_apps

RESUME_TIMEOUT_S = 180.0
"""How long orders may stay refused (the engine's ttl is 20 s); a bound for a stuck test, not a figure."""


@dataclass
class OrderClient:
    """Places an order after another through the shop's HTTP API and remembers which were acknowledged."""

    shop: Shop
    acked: list[int] = field(default_factory=list)
    refused: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        number = 0
        while not self._stop.is_set():
            number += 1
            try:
                created = self.shop.post(f"order-{number}")
            except (urllib.error.URLError, OSError, AssertionError):
                self.refused += 1
                time.sleep(0.05)
                continue
            self.acked.append(cast(int, created["id"]))

    def wait_for_acks(self, count: int, timeout_s: float = 60.0) -> None:
        wanted = len(self.acked) + count
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.acked)} of {wanted} orders acknowledged ({self.refused} refused)")
            time.sleep(0.02)


@contextmanager
def ordering(shop: Shop) -> Iterator[OrderClient]:
    client = OrderClient(shop)
    thread = threading.Thread(target=client.run, name="orders", daemon=True)
    thread.start()
    try:
        yield client
    finally:
        client._stop.set()
        thread.join(timeout=30)


def _database_cluster(shop: Shop) -> EngineCluster:
    """The shop's database as the engine tests see it (to crash its primary and to take it all down)."""
    maestro = load_maestro(SHOP)
    topology = maestro.topology
    [application] = maestro.scores
    assert isinstance(topology, ApplicationTopology) and isinstance(application, ApplicationScore)
    score = application.database_score()
    assert score is not None
    return EngineCluster(shop.root, cast("FailoverTopology[LocalInstance]", topology.database), score)


@pytest.mark.parametrize("shop", ["failover-auto"], indirect=True)
def test_shop_on_a_failover_database_keeps_taking_orders_across_a_host_crash_of_the_primary(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_DB_PORT", str(engine_port()))  # P..P+2 and P+2000..P+4002 all free
    database = _database_cluster(shop)
    try:
        code, applied = shop.cli("apply", "--yes", "--json")
        assert code == 0, applied
        url = next(shop.root.glob("**/shop-web/env/DATABASE_URL")).read_text()
        assert "target_session_attrs=read-write" in url and url.count(",") == 1  # both members listed
        old = database.leader()
        with ordering(shop) as client:
            client.wait_for_acks(20)
            crash_host(database.participant(old))
            acked_at_crash = len(client.acked)
            client.wait_for_acks(20, timeout_s=RESUME_TIMEOUT_S)
            database.wait("a new leader", lambda view: view.leader is not None and view.leader.name != old)
        assert len(client.acked) > acked_at_crash
        listed = {cast(int, order["id"]) for order in shop.orders()}
        assert sorted(set(client.acked) - listed) == []
    finally:
        # The application first: take_down ends every process naming the shop's root, its supervisor too,
        # which would leave the application itself running with no one to stop it.
        stop_supervised_apps(shop.root / "apps")
        take_down(database)
