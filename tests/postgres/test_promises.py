"""A switchover or failover reports success only once what it promises is observed.

The promises: the new primary takes a write (a commit that waits for its
synchronous standbys), every member that follows it streams from it as a
synchronous standby, and its standby set is exactly those members. Found: with
``PGPASSWORD`` in the operator's shell, a switchover reported ``changed``,
exit 0, while the old primary could never log in to the new one, so every
commit on the new primary hung.

The tests run in order on one pair; the last one has three sites of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from capabilities.postgresql import PgConfig, PgUser, ReplicationRole
from harmony_py import Maestro, ScoreState
from harmony_py.report import RunReport
from harmony_py.scores import PostgreSQLFailoverScore, PostgreSQLScore, PostgreSQLSwitchoverScore
from topologies import FailoverTopology, LocalInstance, MultisiteTopology
from topologies.postgres import cluster as postgres_cluster, server as postgres_server
from topologies.errors import HostPostgreSQLError
from topologies.postgres.server import PROBE_APPLICATION

from .conftest import PG_BIN, free_port_pair, instance


@dataclass
class Pair:
    topology: FailoverTopology[LocalInstance]
    score: PostgreSQLScore

    def apply(self, *scores: PostgreSQLScore | PostgreSQLSwitchoverScore) -> RunReport:
        maestro = Maestro(self.topology).add(*scores)
        return anyio.run(maestro.apply)

    def psql(self, member: LocalInstance, sql: str) -> str:
        return psql(member, self.score.config, sql)

    def pg_ctl_stop(self, member: LocalInstance) -> None:
        data = member.postgresql().layout(self.score.config).data_dir
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "stop", "-D", data, "-m", "fast", "-w"],
                       capture_output=True, check=True, timeout=120)  # fmt: skip

    def standbys_of(self, label: str) -> list[tuple[str, str, str]]:
        status = anyio.run(self.topology.postgresql().status, self.score.config)
        return [(s.name, s.state, s.sync_state) for s in status.member(label).state.standbys]


def psql(member: LocalInstance, config: PgConfig, sql: str) -> str:
    """Run ``sql`` as the superuser on ``member``'s server, through its socket."""
    layout = member.postgresql().layout(config)
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-X", "-A", "-t", "-h", layout.socket_dir,
         "-p", str(layout.port), "-d", "postgres", "-c", sql],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip


@pytest.fixture(scope="module")
def pair(pg_root: Path) -> Iterator[Pair]:
    topology = FailoverTopology[LocalInstance](instance(pg_root, "vow-a", 0), instance(pg_root, "vow-b", 1))
    score = PostgreSQLScore("vows", port=free_port_pair(), databases=["app"], users=[PgUser("app", databases=("app",))])
    deployed = Pair(topology, score)
    assert deployed.apply(score).ok
    yield deployed


@pytest.fixture
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The waits for streaming, cut short where the test expects them to run out."""
    monkeypatch.setattr(postgres_server, "STREAM_TIMEOUT_S", 3.0)
    monkeypatch.setattr(postgres_cluster, "VERIFY_TIMEOUT_S", 3.0)


def test_a_commit_no_standby_acknowledges_is_ended_after_its_timeout(pair: Pair) -> None:
    config = pair.score.config
    pair.pg_ctl_stop(pair.topology.replica)  # the synchronous standby: every commit now waits for it
    with pytest.raises(HostPostgreSQLError, match="a commit was not acknowledged within 2 s"):
        anyio.run(pair.topology.primary.postgresql().probe_write, config, 2.0)
    waiting = pair.psql(
        pair.topology.primary, f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{PROBE_APPLICATION}'"
    )
    assert waiting == "0"
    # Deploying again starts the standby; the commit is then acknowledged at once.
    assert pair.apply(pair.score).ok
    anyio.run(pair.topology.primary.postgresql().probe_write, config, 60.0)


def test_switchover_with_pgpassword_in_shell_verifies_streaming(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as shell:
        shell.setenv("PGPASSWORD", "anything")
        report = pair.apply(PostgreSQLSwitchoverScore(pair.score, to="replica"))
    assert [r.state for r in report.scores] == [ScoreState.CHANGED], [r.message for r in report.scores]
    assert pair.standbys_of("replica") == [("primary", "streaming", "sync")]


def test_switchover_whose_old_primary_cannot_log_in_fails_naming_it(pair: Pair, short_waits: None) -> None:
    # The replication role's password on the cluster no longer matches the one the members log in with.
    pair.psql(pair.topology.replica, "ALTER ROLE replicator PASSWORD 'not-the-stored-one'")
    report = pair.apply(PostgreSQLSwitchoverScore(pair.score, to="primary"))
    assert [r.state for r in report.scores] == [ScoreState.FAILED]
    message = report.scores[0].message
    assert message.startswith("switchover to primary: primary is the primary now, but replica does not follow it: ")
    assert "does not stream from its primary" in message
    assert 'password authentication failed for user "replicator"' in message

    # Applying the same switchover again is not "nothing to do": its commits would hang.
    again = pair.apply(PostgreSQLSwitchoverScore(pair.score, to="primary"))
    assert [r.state for r in again.scores] == [ScoreState.FAILED]
    assert "synchronous standby replica does not stream from it" in again.scores[0].message

    # The cluster's score repairs it (the role's password), after which the switchover holds.
    assert pair.apply(pair.score).ok, [r.message for r in pair.apply(pair.score).scores]
    assert pair.standbys_of("primary") == [("replica", "streaming", "sync")]
    settled = pair.apply(PostgreSQLSwitchoverScore(pair.score, to="primary"))
    assert [r.state for r in settled.scores] == [ScoreState.UNCHANGED]
    status = anyio.run(pair.topology.postgresql().status, pair.score.config)
    assert status.member("replica").state.role is ReplicationRole.REPLICA


def test_failover_whose_other_replica_cannot_log_in_fails_naming_it(pg_root: Path, short_waits: None) -> None:
    sites = MultisiteTopology(
        instance(pg_root, "vow-m0", 0), (instance(pg_root, "vow-m1", 1), instance(pg_root, "vow-m2", 2))
    )
    score = PostgreSQLScore("vowsites", port=free_port_pair(), users=[PgUser("app", databases=("app",))])
    assert anyio.run(Maestro(sites).add(score).apply).ok
    config = score.config
    # Changed on the primary (and so on every replica), while the replicas stay logged in.
    psql(sites.primary, config, "ALTER ROLE replicator PASSWORD 'not-the-stored-one'")
    pidfile = Path(sites.primary.postgresql().layout(config).data_dir) / "postmaster.pid"
    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)

    report = anyio.run(Maestro(sites).add(PostgreSQLFailoverScore(score, to="site[0]")).apply)
    assert [r.state for r in report.scores] == [ScoreState.FAILED]
    message = report.scores[0].message
    assert message.startswith("failover to site[0]: site[0] is the primary now, but site[1] does not follow it: ")
    assert 'password authentication failed for user "replicator"' in message

    # The cluster's score repairs the role, and site[1] and the fenced former primary follow site[0].
    repaired = anyio.run(Maestro(sites).add(score).apply)
    assert repaired.ok, [r.message for r in repaired.scores]
    status = anyio.run(sites.postgresql().status, config)
    assert {(s.name, s.state, s.sync_state) for s in status.member("site[0]").state.standbys} == {
        ("primary", "streaming", "sync"), ("site_1", "streaming", "sync"),
    }  # fmt: skip
