"""A primary and a synchronous replica: deploy, switchover and kill -9 failover with a committing client.

The tests run in order on one cluster (what a switchover leaves is what the
failover starts from), and every acknowledged commit is counted afterwards.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import psycopg
import pytest

from capabilities.postgresql import PgEndpoint, PgUser, ReplicationRole
from harmony_py import Maestro, ScoreState
from harmony_py.report import RunReport
from harmony_py.scores import (
    PostgreSQLFailoverScore,
    PostgreSQLScore,
    PostgreSQLStatusScore,
    PostgreSQLSwitchoverScore,
)
from topologies import FailoverTopology, LocalInstance

from .committer import committing, conninfo
from .conftest import free_port_pair, instance


@dataclass
class Cluster:
    topology: FailoverTopology[LocalInstance]
    score: PostgreSQLScore

    def endpoints(self) -> list[PgEndpoint]:
        return [
            anyio.run(member.postgresql().endpoint, self.score.config, "app")
            for member in self.topology.members
        ]


@pytest.fixture(scope="module")
def cluster(pg_root: Path) -> Iterator[Cluster]:
    port = free_port_pair()
    topology = FailoverTopology[LocalInstance](instance(pg_root, "a", 0), instance(pg_root, "b", 1))
    score = PostgreSQLScore(
        "app", port=port, databases=["app"], users=[PgUser("app", databases=("app",))],
        settings={"max_connections": "40"},
    )  # fmt: skip
    yield Cluster(topology, score)


def apply(topology: FailoverTopology[LocalInstance], *scores: object) -> RunReport:
    maestro = Maestro(topology).add(*scores)  # type: ignore[arg-type]
    return anyio.run(maestro.apply)


def plan(topology: FailoverTopology[LocalInstance], score: PostgreSQLScore) -> RunReport:
    return anyio.run(Maestro(topology).add(score).plan)


def assert_converged(cluster: Cluster) -> None:
    again = apply(cluster.topology, cluster.score)
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED], again.scores
    assert not plan(cluster.topology, cluster.score).has_changes


def roles(cluster: Cluster) -> dict[str, ReplicationRole]:
    status = anyio.run(cluster.topology.postgresql().status, cluster.score.config)
    return {m.label: m.state.role for m in status.members}


def test_deploy_streams_synchronously_and_is_idempotent(cluster: Cluster) -> None:
    first = apply(cluster.topology, cluster.score)
    assert first.ok, [s.message for s in first.scores]
    assert [r.state for r in first.scores] == [ScoreState.CHANGED]
    assert_converged(cluster)
    status = anyio.run(cluster.topology.postgresql().status, cluster.score.config)
    primary = status.member("primary").state
    assert primary.role is ReplicationRole.PRIMARY
    assert primary.sync_standbys == ("replica",)
    assert [(s.name, s.sync_state) for s in primary.standbys] == [("replica", "sync")]

    # Written on the primary, read on the replica (synchronous commit: no wait needed beyond apply).
    primary_ep, replica_ep = cluster.endpoints()
    with psycopg.connect(conninfo([primary_ep]), autocommit=True) as connection:
        connection.execute("CREATE TABLE greetings (word text)")
        connection.execute("INSERT INTO greetings VALUES ('hello')")
    with psycopg.connect(conninfo([replica_ep], read_write=False), autocommit=True) as connection:
        for _ in range(200):
            found = connection.execute("SELECT word FROM greetings").fetchall() if _has_table(connection) else []
            if found:
                break
            anyio.run(anyio.sleep, 0.02)
        assert found == [("hello",)]


def _has_table(connection: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = connection.execute("SELECT to_regclass('greetings') IS NOT NULL").fetchone()
    return bool(row and row[0])


def test_passwords_never_reach_output(cluster: Cluster, pg_root: Path) -> None:
    report = apply(cluster.topology, cluster.score, PostgreSQLStatusScore(cluster.score))
    password = cluster.endpoints()[0].password.reveal()
    assert password not in repr(report)
    secret_file = pg_root / "secrets" / "postgresql" / "app" / "app"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    for passfile in pg_root.glob("*/15/app/replication.pgpass"):
        assert passfile.stat().st_mode & 0o777 == 0o600


def test_switchover_loses_no_acknowledged_commit(cluster: Cluster) -> None:
    with committing(cluster.endpoints()) as committer:
        committer.wait_for_acks(50)
        report = apply(cluster.topology, PostgreSQLSwitchoverScore(cluster.score, to="replica"))
        assert report.ok, [s.message for s in report.scores]
        committer.wait_for_acks(50)  # writes resume on the new primary
    assert roles(cluster) == {"primary": ReplicationRole.REPLICA, "replica": ReplicationRole.PRIMARY}
    assert committer.missing_from(cluster.endpoints()) == []
    # Declarative: the same switchover again is a no-op, and so is the cluster score.
    again = apply(cluster.topology, PostgreSQLSwitchoverScore(cluster.score, to="replica"))
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED]
    assert_converged(cluster)


def test_failover_after_kill_9_loses_no_acknowledged_commit(cluster: Cluster) -> None:
    current = cluster.topology.replica  # the primary since the switchover
    pidfile = Path(current.postgresql().layout(cluster.score.config).data_dir) / "postmaster.pid"
    with committing(cluster.endpoints(), table="ticks_failover") as committer:
        committer.wait_for_acks(50)
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
        report = apply(cluster.topology, PostgreSQLFailoverScore(cluster.score, to="primary"))
        assert report.ok, [s.message for s in report.scores]
        committer.wait_for_acks(50)  # writes resume on the promoted member
    assert committer.missing_from(cluster.endpoints()) == []
    status = anyio.run(cluster.topology.postgresql().status, cluster.score.config)
    killed = status.member("replica").state
    assert killed.role is ReplicationRole.STOPPED and killed.fenced
    # A fenced member is never started as a primary behind our back.
    solo = apply(current, cluster.score)  # type: ignore[arg-type]
    assert not solo.ok and "fenced" in solo.scores[0].message


def test_reapply_rejoins_the_old_primary_with_pg_rewind(cluster: Cluster) -> None:
    planned = plan(cluster.topology, cluster.score)
    summaries = [c.summary for r in planned.scores for c in r.changes]
    assert any("rejoin as a replica of primary" in s for s in summaries), summaries
    report = apply(cluster.topology, cluster.score)
    assert report.ok, [s.message for s in report.scores]
    assert roles(cluster) == {"primary": ReplicationRole.PRIMARY, "replica": ReplicationRole.REPLICA}
    assert_converged(cluster)
    # Every row is on the rejoined replica too.
    primary_ep, replica_ep = cluster.endpoints()
    with psycopg.connect(conninfo([primary_ep]), autocommit=True) as connection:
        connection.execute("INSERT INTO greetings VALUES ('after rejoin')")
    with psycopg.connect(conninfo([replica_ep], read_write=False), autocommit=True) as connection:
        words = {row[0] for row in connection.execute("SELECT word FROM greetings")}
    assert words == {"hello", "after rejoin"}
