"""Three database members and a witness under Patroni: an odd etcd, and a synchronous standby after a failover.

A primary, two replica sites and a witness would make four etcd members (even:
no more failures survived than with three, and a two-two split has no majority).
The last site runs Patroni without an etcd member of its own (adr/0097). After a
host crash of the primary, writes resume by themselves on a site, one of the two
survivors is its synchronous standby (observed in Patroni's view, not assumed),
and every acknowledged commit is there. The tests run in order on one cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harmony_py import ScoreState
from harmony_py.report import RunReport
from harmony_py.scores.supervisors import RUNIT_SERVICES

from .committer import committing
from .engine_hosts import EngineCluster, boot_host, crash_host, engine_cluster

CRASH_TIMEOUT_S = 120.0
"""How long the writes may stay down (the engine's ttl is 20 s); a bound for a stuck test, not a figure."""


@pytest.fixture(scope="module")
def deployed(pg_root: Path) -> Iterator[tuple[EngineCluster, RunReport]]:
    with engine_cluster(pg_root / "engine-multisite", "haemulti", sites=2) as made:
        planned = made.plan()
        report = made.apply()
        assert report.ok, [s.message for s in report.scores]
        yield made, planned


@pytest.fixture
def cluster(deployed: tuple[EngineCluster, RunReport]) -> EngineCluster:
    return deployed[0]


def _synchronous(view_roles: dict[str, str]) -> list[str]:
    return [name for name, role in view_roles.items() if role in ("sync_standby", "quorum_standby")]


def test_three_sites_and_a_witness_run_three_etcd_members_and_the_plan_says_which_site_has_none(
    deployed: tuple[EngineCluster, RunReport],
) -> None:
    cluster, planned = deployed
    assert planned.has_changes, planned.scores
    said = [c.summary for s in planned.scores for c in s.changes]
    assert any("site[1] runs no etcd member" in line and "3 etcd members" in line for line in said), said
    engine = cluster.engine
    assert [m.label for m in engine.etcd_members] == ["primary", "site[0]", "witness"]
    site1 = cluster.participant("site[1]")
    assert not (Path(RUNIT_SERVICES) / site1.etcd_service).exists()
    assert (Path(RUNIT_SERVICES) / site1.patroni_service).exists()
    view = cluster.view()
    assert view is not None and view.healthy([m.name for m in engine.databases]), view


def test_host_crash_of_the_primary_of_three_keeps_a_synchronous_standby_and_loses_nothing(cluster: EngineCluster) -> None:
    names = [m.name for m in cluster.engine.databases]
    old = cluster.leader()
    with committing(cluster.endpoints(), table="multisite_crash") as committer:
        committer.wait_for_acks(50)
        crash_host(cluster.participant_named(old))
        acked_at_crash = len(committer.acked)
        committer.wait_for_acks(50, timeout_s=CRASH_TIMEOUT_S)
        survivors = [name for name in names if name != old]
        # Before the crashed host returns: a new leader among the survivors, the other its synchronous standby.
        view = cluster.wait(
            "a new leader with a synchronous standby while the old primary is down",
            lambda v: v.leader is not None and v.leader.name in survivors
            and _synchronous({m.name: m.role for m in v.members}) == [n for n in survivors if n != v.leader.name],
        )  # fmt: skip
        assert view.leader is not None and view.leader.name != old
        committer.wait_for_acks(20)
        boot_host(cluster.participant_named(old))
        cluster.wait(f"{old} back as a streaming replica",
                     lambda v: (m := v.member(old)) is not None and m.state == "streaming")  # fmt: skip
        committer.wait_for_acks(20)
    assert len(committer.acked) > acked_at_crash
    assert committer.missing_from(cluster.endpoints()) == []
    cluster.wait("healthy cluster of three", lambda v: v.healthy(names))
    again = cluster.apply()
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED], again.scores
