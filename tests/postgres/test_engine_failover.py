"""Automatic failover under Patroni, with a client committing numbered rows through the produced endpoint.

No harmony_py command runs between the crash and the checks: the engine alone
notices, promotes and rejoins. Every acknowledged commit must be on the primary
afterwards. The tests run in order on one cluster (module fixture).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from capabilities.application import database_url
from harmony_py import ScoreState

from .committer import committing
from .engine_hosts import (
    EngineCluster,
    boot_host,
    crash_host,
    engine_cluster,
    postmaster_pid,
)

CRASH_TIMEOUT_S = 120.0
"""How long the writes may stay down (the engine's ttl is 20 s); a bound for a stuck test, not a figure."""


@pytest.fixture(scope="module")
def cluster(pg_root: Path) -> Iterator[EngineCluster]:
    with engine_cluster(pg_root / "engine-failover") as made:
        report = made.apply()
        assert report.ok, [s.message for s in report.scores]
        yield made


def _healthy(cluster: EngineCluster) -> None:
    names = [m.name for m in cluster.engine.databases]
    cluster.wait("healthy cluster", lambda view: view.healthy(names))


def test_host_crash_of_the_primary_fails_over_by_itself_and_the_crashed_member_rejoins(cluster: EngineCluster) -> None:
    old = cluster.leader()
    url_before = database_url(cluster.endpoint()).reveal()
    with committing(cluster.endpoints(), table="host_crash") as committer:
        committer.wait_for_acks(50)
        crash_host(cluster.participant(old))
        acked_at_crash = len(committer.acked)
        committer.wait_for_acks(50, timeout_s=CRASH_TIMEOUT_S)
        new = cluster.leader()
        assert new != old
        boot_host(cluster.participant(old))
        view = cluster.wait(f"{old} back as a streaming replica",
                            lambda v: (m := v.member(old)) is not None and m.state == "streaming")  # fmt: skip
        assert view.leader is not None and view.leader.name == new
        committer.wait_for_acks(20)
    assert len(committer.acked) > acked_at_crash
    assert committer.missing_from(cluster.endpoints()) == []
    _healthy(cluster)
    again = cluster.apply()
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED], again.scores
    # The endpoint does not follow the leader: an application given it is not restarted after a failover.
    assert database_url(cluster.endpoint()).reveal() == url_before


def test_postmaster_crash_restarts_in_place_and_loses_nothing(cluster: EngineCluster) -> None:
    leader = cluster.participant(cluster.leader())
    with committing(cluster.endpoints(), table="postmaster_crash") as committer:
        committer.wait_for_acks(50)
        postmaster = postmaster_pid(leader)
        assert postmaster is not None
        os.kill(postmaster, signal.SIGKILL)
        committer.wait_for_acks(50, timeout_s=CRASH_TIMEOUT_S)
    assert committer.missing_from(cluster.endpoints()) == []
    # Commits resume a moment before Patroni reports its restarted server as running again.
    cluster.wait(f"{leader.name} leading again",
                 lambda view: view.leader is not None and view.leader.name == leader.name)  # fmt: skip
    _healthy(cluster)
