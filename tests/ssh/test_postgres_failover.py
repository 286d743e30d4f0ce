"""PostgreSQL on two SSH hosts: a primary and a synchronous replica, switchover, kill -9 failover, rejoin.

The hosts are separate machines as far as PostgreSQL can tell (see
``netns_hosts.py``): each its own network stack and its own
``/var/lib/postgresql``, reached only over SSH, and reaching each other at
their own addresses. The tests run in order on one cluster (what the
switchover leaves is what the failover starts from); every acknowledged
commit of a client committing all along is counted afterwards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import psycopg
import pytest

from capabilities.postgresql import PgConfig, PgEndpoint, PgUser, ReplicationRole
from harmony_py import Maestro, ScoreState
from harmony_py.report import RunReport
from harmony_py.scores import PostgreSQLFailoverScore, PostgreSQLScore, PostgreSQLSwitchoverScore
from topologies import FailoverTopology, LinuxHostTopology
from topologies.host.ssh import process, session_pool
from tests.postgres.committer import Committer, committing, conninfo

from .netns_hosts import ADDRESS_A, ADDRESS_B, NETWORK, NetnsHost, postmaster_pid, two_hosts
from .sshd import UserKey, write_known_hosts

R = TypeVar("R")
PG_HOME = Path("/var/lib/postgresql")
"""Where Debian's PostgreSQL keeps clusters: the default layout, private on each test host."""


@dataclass
class Cluster:
    topology: FailoverTopology[LinuxHostTopology]
    score: PostgreSQLScore
    views: dict[str, Path]
    """Each member's private /var/lib/postgresql, seen from the test process."""

    @property
    def config(self) -> PgConfig:
        return self.score.config

    def run(self, call: Callable[[], Awaitable[R]]) -> R:
        """Run ``call`` in a fresh event loop and close the hosts' SSH connections after."""

        async def closing() -> R:
            try:
                return await call()
            finally:
                for member in self.topology.members:
                    await member.aclose()

        return anyio.run(closing)

    def apply(self, *scores: object) -> RunReport:
        maestro = Maestro(self.topology).add(*scores)  # type: ignore[arg-type]
        return self.run(maestro.apply)

    def endpoints(self) -> list[PgEndpoint]:
        async def each() -> list[PgEndpoint]:
            return [await member.postgresql().endpoint(self.config, "app") for member in self.topology.members]

        return self.run(each)

    def roles(self) -> dict[str, ReplicationRole]:
        status = self.run(lambda: self.topology.postgresql().status(self.config))
        return {m.label: m.state.role for m in status.members}

    def assert_converged(self) -> None:
        """Re-applying is NOOP, a plan after it is empty, and no data directory was re-initialised."""
        before = self.system_identifiers()
        again = self.apply(self.score)
        assert [r.state for r in again.scores] == [ScoreState.UNCHANGED], again.scores
        assert not self.run(Maestro(self.topology).add(self.score).plan).has_changes
        assert self.system_identifiers() == before

    def system_identifiers(self) -> dict[str, bytes]:
        """Each member's pg_control, whose first 8 bytes only initdb changes."""
        return {
            label: (view / "15/app/data/global/pg_control").read_bytes()[:8] for label, view in self.views.items()
        }


@pytest.fixture(scope="module")
def hosts(ssh_root: Path, user_key: UserKey) -> Iterator[tuple[NetnsHost, NetnsHost]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARMONY_SECRETS_DIR", str(ssh_root / "pg-secrets"))
        with two_hosts(ssh_root, user_key, mount_point=PG_HOME) as pair:
            yield pair


@pytest.fixture(scope="module")
def cluster(hosts: tuple[NetnsHost, NetnsHost], ssh_root: Path, user_key: UserKey) -> Cluster:
    known_hosts = write_known_hosts(ssh_root / "pg_known_hosts", [host.server for host in hosts])

    def host(netns_host: NetnsHost) -> LinuxHostTopology:
        return LinuxHostTopology(
            netns_host.server.address, port=netns_host.server.port, user="root",
            client_keys=(str(user_key.private_path),), use_agent=False, known_hosts=str(known_hosts),
            connect_timeout_s=5.0,
        )  # fmt: skip

    topology = FailoverTopology[LinuxHostTopology](host(hosts[0]), host(hosts[1]))
    score = PostgreSQLScore(
        "app", databases=["app"], users=[PgUser("app", databases=("app",))],
        listen_addresses=["*"], allowed_networks=[NETWORK], settings={"max_connections": "40"}, tls=True,
    )  # fmt: skip
    return Cluster(topology, score, {"primary": hosts[0].view, "replica": hosts[1].view})


def test_deploy_streams_synchronously_between_two_hosts(cluster: Cluster, tmp_path: Path) -> None:
    first = cluster.apply(cluster.score)
    assert first.ok, [s.message for s in first.scores]
    assert [r.state for r in first.scores] == [ScoreState.CHANGED]
    cluster.assert_converged()

    status = cluster.run(lambda: cluster.topology.postgresql().status(cluster.config))
    primary, replica = status.member("primary"), status.member("replica")
    # Each server is advertised at its host's own address, and the replica streams from the primary's.
    assert (primary.address, replica.address) == (f"{ADDRESS_A}:5432", f"{ADDRESS_B}:5432")
    assert replica.state.role is ReplicationRole.REPLICA and replica.state.upstream == f"{ADDRESS_A}:5432"
    assert primary.state.sync_standbys == ("replica",)
    assert [(s.name, s.sync_state) for s in primary.state.standbys] == [("replica", "sync")]
    # One cluster (the replica was cloned), in two data directories, one on each host.
    identifiers = cluster.system_identifiers()
    assert identifiers["primary"] == identifiers["replica"]

    primary_ep, replica_ep = cluster.endpoints()
    assert (primary_ep.host, replica_ep.host) == (ADDRESS_A, ADDRESS_B)
    with psycopg.connect(conninfo([primary_ep]), autocommit=True) as connection:
        connection.execute("CREATE TABLE greetings (word text)")
        connection.execute("INSERT INTO greetings VALUES ('hello')")
    # Synchronous commit: the row was flushed on the replica; replay follows within moments.
    assert _eventually_read(replica_ep, "SELECT word FROM greetings") == [("hello",)]

    # TLS asked for: the replica can only log in with its certificate,
    # and the endpoint verifies the server's name against the cluster's CA.
    assert primary_ep.sslmode == "verify-full" and primary_ep.ca_certificate is not None
    assert (cluster.views["primary"] / "15" / "app.root.crt").read_text() == primary_ep.ca_certificate
    ca_file = tmp_path / "cluster-ca.crt"
    ca_file.write_text(primary_ep.ca_certificate)
    verified = psycopg.conninfo.make_conninfo(conninfo([primary_ep]), sslmode="verify-full", sslrootcert=str(ca_file))
    with psycopg.connect(verified, autocommit=True) as connection:
        row = connection.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert row == (True,)


def _eventually_read(endpoint: PgEndpoint, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo([endpoint], read_write=False), autocommit=True) as connection:
        for _ in range(250):
            try:
                return connection.execute(query).fetchall()
            except psycopg.errors.UndefinedTable:
                anyio.run(anyio.sleep, 0.02)
        return connection.execute(query).fetchall()


def _count_commands(monkeypatch: pytest.MonkeyPatch, sent: Counter[str]) -> None:
    """Count the commands the hosts are sent, and those of them that open an exec channel of their own."""

    def counting(label: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            sent[label] += 1
            return await call(*args, **kwargs)

        return counted

    monkeypatch.setattr(session_pool.SessionPool, "run", counting("command", session_pool.SessionPool.run))
    monkeypatch.setattr(session_pool, "run_wrapped", counting("exec channel", process.run_wrapped))


def _wait_for_acks(committer: Committer, count: int) -> None:
    anyio.run(anyio.to_thread.run_sync, lambda: committer.wait_for_acks(count))


def test_switchover_loses_no_acknowledged_commit(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: Counter[str] = Counter()
    _count_commands(monkeypatch, sent)
    with committing(cluster.endpoints()) as committer:
        _wait_for_acks(committer, 50)
        report = cluster.apply(PostgreSQLSwitchoverScore(cluster.score, to="replica"))
        assert report.ok, [s.message for s in report.scores]
        _wait_for_acks(committer, 50)  # writes resume on the new primary, on the other host
    # Every program of the switchover ran in the hosts' long-lived command sessions (adr/0088, adr/0104).
    assert sent["command"] > 0 and sent["exec channel"] == 0, sent
    assert cluster.roles() == {"primary": ReplicationRole.REPLICA, "replica": ReplicationRole.PRIMARY}
    assert committer.missing_from(cluster.endpoints()) == []
    again = cluster.apply(PostgreSQLSwitchoverScore(cluster.score, to="replica"))
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED]
    cluster.assert_converged()


def test_failover_after_kill_9_loses_no_acknowledged_commit(cluster: Cluster) -> None:
    current = cluster.topology.replica  # the primary since the switchover
    pid = postmaster_pid(cluster.views["replica"] / "15/app/data")
    assert pid is not None
    with committing(cluster.endpoints(), table="ticks_failover") as committer:
        _wait_for_acks(committer, 50)
        killed = cluster.run(lambda: current.command_runner().run(["kill", "-9", str(pid)]))  # on its host, over SSH
        assert killed.ok, killed.stderr_text
        report = cluster.apply(PostgreSQLFailoverScore(cluster.score, to="primary"))
        assert report.ok, [s.message for s in report.scores]
        _wait_for_acks(committer, 50)  # writes resume on the promoted member
    assert committer.missing_from(cluster.endpoints()) == []
    status = cluster.run(lambda: cluster.topology.postgresql().status(cluster.config))
    old = status.member("replica").state
    assert old.role is ReplicationRole.STOPPED and old.fenced
    assert cluster.roles()["primary"] is ReplicationRole.PRIMARY


def test_reapply_rejoins_the_old_primary_and_then_changes_nothing(cluster: Cluster) -> None:
    before = cluster.system_identifiers()
    planned = cluster.run(Maestro(cluster.topology).add(cluster.score).plan)
    summaries = [c.summary for r in planned.scores for c in r.changes]
    assert any("rejoin as a replica of primary" in s for s in summaries), summaries
    report = cluster.apply(cluster.score)
    assert report.ok, [s.message for s in report.scores]
    assert cluster.roles() == {"primary": ReplicationRole.PRIMARY, "replica": ReplicationRole.REPLICA}
    # Rewound, not re-initialised: both data directories keep the cluster's identity.
    assert cluster.system_identifiers() == before
    cluster.assert_converged()
    primary_ep, replica_ep = cluster.endpoints()
    with psycopg.connect(conninfo([primary_ep]), autocommit=True) as connection:
        connection.execute("INSERT INTO greetings VALUES ('after rejoin')")
    rows = _eventually_read(replica_ep, "SELECT word FROM greetings WHERE word = 'after rejoin'")
    assert rows == [("after rejoin",)]
    everything = _eventually_read(replica_ep, "SELECT count(*) FROM greetings")
    assert everything == [(2,)]


def test_replica_that_cannot_reach_its_primary_is_refused_and_nothing_is_lost(cluster: Cluster) -> None:
    """Loopback-only listening (the score's default) cannot serve a replica on another host."""
    lonely = PostgreSQLScore("lonely", port=5440, databases=["lonely"], allowed_networks=[NETWORK])
    report = cluster.apply(lonely)
    assert not report.ok
    message = report.scores[0].message
    assert f"cannot reach its primary at {ADDRESS_A}:5440" in message, message
    assert "nothing was changed on this server" in message
    # The primary it deployed still runs; the replica's host got no data directory.
    assert postmaster_pid(cluster.views["primary"] / "15/lonely/data") is not None
    assert not (cluster.views["replica"] / "15/lonely/data/PG_VERSION").exists()
    # The other cluster on the same hosts is untouched.
    assert cluster.roles() == {"primary": ReplicationRole.PRIMARY, "replica": ReplicationRole.REPLICA}


def test_port_in_use_on_the_remote_host_is_a_clear_error(cluster: Cluster) -> None:
    """sshd holds its port on the host: PostgreSQL cannot listen there, and says so; the host stays usable."""
    host = cluster.topology.primary
    busy = PostgreSQLScore("busy", port=host.port, listen_addresses=[ADDRESS_A], allowed_networks=[NETWORK])

    async def apply_and_check() -> RunReport:
        report = await Maestro(host).add(busy).apply()
        assert (await host.command_runner().run(["true"])).ok  # sshd, which holds the port, is untouched
        return report

    report = cluster.run(apply_and_check)
    assert not report.ok
    message = report.scores[0].message
    assert f"did not start on port {host.port}" in message and "Address already in use" in message, message
    # The initialised cluster is kept for a re-run on a free port; nothing else on the host changed.
    assert (cluster.views["primary"] / "15/busy/data/PG_VERSION").exists()
    assert cluster.roles() == {"primary": ReplicationRole.PRIMARY, "replica": ReplicationRole.REPLICA}
