"""Operations on PostgreSQL under Patroni + etcd (three LocalInstance hosts): status, switchover,
settings with a rolling restart, the witness lost, and the failover score for what the engine
does not decide alone.

The tests run in order on one cluster (module fixture): what one leaves is where the next starts.
A client commits numbered rows through the produced endpoint during each operation, and every
acknowledged row is looked up afterwards. Everything started is taken down at the end
(tests/postgres/engine_hosts.py).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from harmony_py import Maestro, ScoreState
from harmony_py.report import RunReport
from harmony_py.score import Score
from harmony_py.scores import (
    PostgreSQLFailoverScore,
    PostgreSQLStatusScore,
    PostgreSQLSwitchoverScore,
)
from harmony_py.scores.supervisors import RUNIT_SERVICES
from topologies.postgres.patroni import operations
from topologies.postgres.patroni.settings import apply_settings

from .committer import Committer, committing
from .engine_hosts import EngineCluster, boot_host, crash_host, engine_cluster


@pytest.fixture(scope="module")
def cluster(pg_root: Path) -> Iterator[EngineCluster]:
    with engine_cluster(pg_root / "engine-ops", name="haops") as made:
        report = made.apply()
        assert report.ok, [s.message for s in report.scores]
        yield made


def run(cluster: EngineCluster, *scores: Score[Any], plan: bool = False) -> RunReport:
    maestro = Maestro(cluster.topology).add(*scores)
    return anyio.run(maestro.plan if plan else maestro.apply)


def status(cluster: EngineCluster) -> dict[str, str]:
    """What PostgreSQLStatusScore shows: a line per member (by label), and the engine's notes under ``cluster``."""
    report = run(cluster, PostgreSQLStatusScore(cluster.score))
    assert report.ok, report.scores[0].message
    # Each member's line is keyed "label (host:port)".
    return {key.partition(" (")[0]: line for key, line in report.scores[0].details.items()}


def member_view(cluster: EngineCluster, label: str) -> dict[str, object]:
    """Patroni's GET /patroni on the member (its own PostgreSQL's role and state)."""
    found = subprocess.run(["curl", "-s", "-m", "5", f"{cluster.participant(label).rest_url}/patroni"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    answer: dict[str, object] = json.loads(found.stdout) if found.stdout.strip() else {}
    return answer


def assert_nothing_lost(cluster: EngineCluster, committer: Committer) -> None:
    assert committer.acked, "no commit was acknowledged at all"
    assert committer.missing_from(cluster.endpoints()) == []


def show(cluster: EngineCluster, label: str, setting: str) -> str:
    """The value ``setting`` has on the member's running PostgreSQL (asked as postgres over its socket)."""
    server = cluster.engine.server(cluster.participant(label))
    return anyio.run(server.sql, f"SHOW {setting}").strip()


def test_status_shows_each_member_its_role_timeline_and_the_synchronous_standby(cluster: EngineCluster) -> None:
    shown = status(cluster)
    primary = cluster.participant("primary")
    assert shown["primary"].startswith("primary, standbys [replica sync lag "), shown
    assert "timeline 1" in shown["primary"], shown
    assert shown["replica"].startswith(f"replica of {primary.host}:{primary.pg_port}, replay lag 0B"), shown
    assert "leader key: primary" in shown["cluster"], shown
    assert "no synchronous standby" not in shown["cluster"] and "etcd" not in shown["cluster"], shown


def test_switchover_is_asked_of_the_engine_verified_and_reapplied_as_noop_with_an_empty_plan(
    cluster: EngineCluster,
) -> None:
    switch = PostgreSQLSwitchoverScore(cluster.score, to="replica")
    planned = run(cluster, switch, plan=True)
    assert [c.summary for c in planned.changes] == [
        "primary: Patroni demotes it; it rejoins as a replica of replica",
        "replica: becomes the leader (Patroni switchover from primary)",
    ]
    with committing(cluster.endpoints(), table="ticks_switchover") as committer:
        committer.wait_for_acks(50)
        report = run(cluster, switch)
        committer.wait_for_acks(50)
    assert [s.state for s in report.scores] == [ScoreState.CHANGED], report.scores[0].message
    assert cluster.leader() == "replica"
    old = member_view(cluster, "primary")
    assert old["role"] == "replica" and old.get("replication_state") == "streaming", old
    assert_nothing_lost(cluster, committer)
    again = run(cluster, switch, cluster.score)
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED] * 2, [s.message for s in again.scores]
    assert not run(cluster, switch, cluster.score, plan=True).has_changes


class RunningSampler:
    """Samples, every 0.2 s, how many database members run PostgreSQL (GET /patroni state "running")."""

    def __init__(self, cluster: EngineCluster, labels: Sequence[str]) -> None:
        self.urls = [f"{cluster.participant(label).rest_url}/patroni" for label in labels]
        self.fewest = len(self.urls)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _running(self, url: str) -> bool:
        found = subprocess.run(["curl", "-s", "-m", "2", url], capture_output=True, text=True, check=False)
        try:
            return bool(json.loads(found.stdout).get("state") == "running")
        except ValueError:
            return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.fewest = min(self.fewest, sum(self._running(url) for url in self.urls))
            self.samples += 1
            time.sleep(0.2)

    def __enter__(self) -> RunningSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_a_restart_requiring_setting_is_a_rolling_restart_never_all_members_at_once_then_noop(
    cluster: EngineCluster,
) -> None:
    changed = dataclasses.replace(cluster.score, settings={"max_connections": "150"})
    planned = run(cluster, changed, plan=True)
    summaries = [c.summary for c in planned.changes]
    assert any("setting max_connections: 100 (default) -> 150" in s and "needs a restart" in s for s in summaries), summaries
    assert any(s.startswith("rolling restart, one member at a time: each replica") for s in summaries), summaries
    assert "pending restart" not in " ".join(status(cluster).values())
    sampler = RunningSampler(cluster, ["primary", "replica"])
    with committing(cluster.endpoints(), table="ticks_rolling") as committer, sampler:
        committer.wait_for_acks(50)
        report = run(cluster, changed)
        committer.wait_for_acks(50)
    assert [s.state for s in report.scores] == [ScoreState.CHANGED], report.scores[0].message
    assert sampler.samples > 10 and sampler.fewest >= 1, (sampler.samples, sampler.fewest)
    assert [show(cluster, label, "max_connections") for label in ("primary", "replica")] == ["150", "150"]
    assert "pending restart" not in " ".join(status(cluster).values())
    assert_nothing_lost(cluster, committer)
    again = run(cluster, changed)
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED], again.scores[0].message
    assert not run(cluster, changed, plan=True).has_changes
    cluster.score = changed  # what the next tests apply


def test_pending_restart_left_by_an_interrupted_change_is_planned_and_rolled_by_the_next_apply(
    cluster: EngineCluster,
) -> None:
    # What an apply interrupted after PATCH /config leaves: the engine has the value, no member restarted.
    changed = dataclasses.replace(cluster.score, settings={"max_connections": "160"})
    members = operations.rest_members(cluster.engine)
    anyio.run(apply_settings, members, {"max_connections": "160"})
    deadline = time.monotonic() + 30
    while "pending restart" not in status(cluster)["replica"] and time.monotonic() < deadline:
        time.sleep(0.5)
    shown = status(cluster)
    assert "pending restart" in shown["primary"] and "pending restart" in shown["replica"], shown
    planned = [c.summary for c in run(cluster, changed, plan=True).changes]
    assert any("restart for the pending settings" in s for s in planned), planned
    report = run(cluster, changed)
    assert [s.state for s in report.scores] == [ScoreState.CHANGED], report.scores[0].message
    assert "pending restart" not in " ".join(status(cluster).values())
    assert [show(cluster, label, "max_connections") for label in ("primary", "replica")] == ["160", "160"]
    assert not run(cluster, changed, plan=True).has_changes
    cluster.score = changed


def test_a_decrease_of_max_connections_restarts_the_leader_in_place_first_then_the_replica(
    cluster: EngineCluster,
) -> None:
    """A standby needs at least its primary's max_connections: a decrease goes leader first (no switchover)."""
    leader = cluster.leader()
    changed = dataclasses.replace(cluster.score, settings={"max_connections": "90"})
    planned = [c.summary for c in run(cluster, changed, plan=True).changes]
    assert "rolling restart, one member at a time: the leader in place, then each replica" in planned, planned
    with committing(cluster.endpoints(), table="ticks_decrease") as committer:
        committer.wait_for_acks(50)
        report = run(cluster, changed)
        committer.wait_for_acks(50)
    assert [s.state for s in report.scores] == [ScoreState.CHANGED], report.scores[0].message
    assert cluster.leader() == leader
    assert [show(cluster, label, "max_connections") for label in ("primary", "replica")] == ["90", "90"]
    assert "pending restart" not in " ".join(status(cluster).values())
    assert_nothing_lost(cluster, committer)
    assert not run(cluster, changed, plan=True).has_changes
    cluster.score = changed


def test_an_unknown_setting_is_refused_in_the_plan_before_the_engine_stores_it(cluster: EngineCluster) -> None:
    typo = dataclasses.replace(cluster.score, settings={**cluster.score.settings, "max_conections": "10"})
    planned = run(cluster, typo, plan=True)
    assert planned.scores[0].state is ScoreState.FAILED
    assert "knows no setting max_conections" in planned.scores[0].message
    config = json.loads(subprocess.run(["curl", "-s", f"{cluster.participant('primary').rest_url}/config"],
                                       capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert "max_conections" not in config["postgresql"]["parameters"]


def sv(action: str, service: str) -> None:
    subprocess.run(["sv", "-w", "30", action, f"{RUNIT_SERVICES}/{service}"], capture_output=True, check=True)


def timeline(cluster: EngineCluster, label: str) -> int:
    found = member_view(cluster, label).get("timeline")
    assert isinstance(found, int), found
    return found


def test_witness_lost_writes_go_on_no_promotion_nothing_lost_and_the_failover_score_asks_the_engine(
    cluster: EngineCluster,
) -> None:
    """Witness lost (its etcd stopped): 2 of 3 etcd members keep a quorum, so the leader keeps its key:
    writes continue (a blip of ~3 s if the witness was etcd's raft leader), nobody is promoted. The
    failover score still works then: the engine promotes on request and fences the old leader."""
    leader = cluster.leader()
    other = "primary" if leader == "replica" else "replica"
    before = timeline(cluster, leader)
    with committing(cluster.endpoints(), table="ticks_witness") as committer:
        committer.wait_for_acks(50)
        sv("down", cluster.engine.witness.etcd_service)
        shown = status(cluster)
        assert "etcd: 2 of 3 members in the quorum (lost: witness" in shown["cluster"], shown
        time.sleep(8)  # beyond retry_timeout (3 s): a leader without its key would have demoted by now
        committer.wait_for_acks(100, timeout_s=30)
        assert cluster.leader() == leader and timeline(cluster, leader) == before
        assert member_view(cluster, other)["role"] == "replica"
        fail = PostgreSQLFailoverScore(cluster.score, to=other)
        planned = [c.summary for c in run(cluster, fail, plan=True).changes]
        assert planned == [
            f"{other}: becomes the leader (Patroni failover; the engine keeps {leader} as the leader while it "
            "renews its key)",
            f"{leader}: fenced by the engine: without the leader key Patroni demotes it and it starts only as a "
            f"replica of {other} (pg_rewind)",
        ]
        report = run(cluster, fail)
        committer.wait_for_acks(50)
    assert [s.state for s in report.scores] == [ScoreState.CHANGED], report.scores[0].message
    assert cluster.leader() == other
    assert member_view(cluster, leader).get("replication_state") == "streaming"
    assert_nothing_lost(cluster, committer)
    again = run(cluster, fail)
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED], again.scores[0].message
    assert not run(cluster, fail, plan=True).has_changes
    # A re-apply brings the witness back: its etcd member starts again in an etcd whose
    # authentication is on, so the wait for a healthy etcd must ask as a user, not anonymously.
    back = cluster.apply()
    assert [s.state for s in back.scores] == [ScoreState.CHANGED], back.scores[0].message
    assert "lost: witness" not in status(cluster)["cluster"]
    assert [s.state for s in cluster.apply().scores] == [ScoreState.UNCHANGED]


def test_witness_and_the_leaders_host_lost_no_promotion_the_failover_is_refused_then_the_engine_recovers(
    cluster: EngineCluster,
) -> None:
    """With the witness down, the leader's host crashes: 1 of 3 etcd members is left, so the engine
    promotes nobody, and the failover score refuses (promoting underneath the engine would give up its
    fence). Once the witness is back the engine promotes the survivor by itself; the survivor runs without
    a synchronous standby until the crashed host returns and rejoins as a replica."""
    leader = cluster.leader()
    survivor = "primary" if leader == "replica" else "replica"
    lost = cluster.participant(leader)
    sv("down", cluster.engine.witness.etcd_service)  # the witness lost (again: the test before brought it back)
    with committing(cluster.endpoints(), table="ticks_quorum") as committer:
        committer.wait_for_acks(50)
        crash_host(lost)
        time.sleep(25)  # beyond ttl (20 s): with a quorum the engine would have promoted the survivor
        assert member_view(cluster, survivor)["role"] == "replica"
        acked = len(committer.acked)
        fail = PostgreSQLFailoverScore(cluster.score, to=survivor)
        report = run(cluster, fail)
        assert report.scores[0].state is ScoreState.FAILED
        message = report.scores[0].message
        assert "the DCS (etcd) has no quorum" in message and "Bring back the witness or the failed host" in message
        assert member_view(cluster, survivor)["role"] == "replica"
        assert len(committer.acked) == acked, "a commit was acknowledged without an etcd quorum"
        sv("up", cluster.engine.witness.etcd_service)
        committer.wait_for_acks(50, timeout_s=90)
    assert cluster.leader() == survivor
    shown = status(cluster)
    assert "no synchronous standby" in shown["cluster"], shown
    assert shown[leader].startswith("unreachable"), shown
    assert_nothing_lost(cluster, committer)
    boot_host(lost)
    cluster.wait("the crashed member streaming as a synchronous standby",
                 lambda view: view.healthy([survivor, leader]), timeout_s=120)  # fmt: skip
    shown = status(cluster)
    assert "no synchronous standby" not in shown["cluster"] and shown[leader].startswith("replica of"), shown
    assert_nothing_lost(cluster, committer)
    again = run(cluster, cluster.score)
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED], again.scores[0].message
