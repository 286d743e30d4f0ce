"""Automatic failover on SSH hosts: a host crash and a network partition of the primary, with no harmony_py command.

Three separate machines (``netns_trio.py``): two database hosts and a witness
host, reached only over SSH, each with its own network stack, its own
``/var/lib/postgresql`` and its own runit directories. ``PostgreSQLScore`` on
``FailoverTopology(db1, db2, witness=witness)`` deploys PostgreSQL under the
HA engine (Patroni with an etcd member on each host). A client commits
numbered rows through the endpoint the score produces (a libpq multi-host URL)
and counts the commits acknowledged; afterwards every acknowledged row must be
on the new primary.

The engine's install must already be on this machine (scripts/test.sh puts it
there): namespace hosts have no network beyond their bridge.
Starts sshd, etcd, Patroni and PostgreSQL: run under the server lock.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import anyio
import psycopg
import pytest

from capabilities.postgresql import ClusterStatus, PgUser, ReplicationRole
from harmony_py import Maestro
from harmony_py.report import RunReport
from harmony_py.scores import PostgreSQLScore
from tests.postgres.acked_writer import CLIENT_TIMEOUTS, Ack, AckedWriter, missing_acked
from topologies import FailoverTopology, LinuxHostTopology

from .netns_trio import NETWORK, Trio, three_hosts
from .sshd import UserKey, write_known_hosts

R = TypeVar("R")
FAILOVER_WAIT_S = 180.0
"""How long to wait for the engine to act (Patroni's ttl is 20 s); a bound against hanging, not a target."""
REJOIN_WAIT_S = 300.0
REPO = Path(__file__).resolve().parents[2]
HOST_OF = {"primary": "db1", "replica": "db2"}
"""Which namespace host each member of the topology is."""


@dataclass
class EngineCluster:
    trio: Trio
    topology: FailoverTopology[LinuxHostTopology]
    score: PostgreSQLScore

    def run(self, call: Callable[[], Awaitable[R]]) -> R:
        """Run ``call`` in a fresh event loop and close every host's SSH connection after."""

        async def closing() -> R:
            try:
                return await call()
            finally:
                for host in (*self.topology.members, *self.topology.witnesses):
                    await host.aclose()

        return anyio.run(closing)

    def apply(self) -> RunReport:
        return self.run(Maestro(self.topology).add(self.score).apply)

    def status(self) -> ClusterStatus:
        return self.run(lambda: self.topology.postgresql().status(self.score.config))

    def conninfo(self) -> tuple[str, str]:
        """The produced endpoint as a libpq connection string (every member, read-write), and its password."""
        endpoint = self.run(lambda: self.topology.postgresql().endpoint(self.score.config, "app"))
        text = psycopg.conninfo.make_conninfo(
            host=",".join(host for host, _ in endpoint.addresses),
            port=",".join(str(port) for _, port in endpoint.addresses),
            dbname=endpoint.database,
            user=endpoint.user,
            target_session_attrs="read-write",
            **CLIENT_TIMEOUTS,
        )
        return text, endpoint.password.reveal()

    def wait_healthy(self, primary: str | None = None) -> ClusterStatus:
        """Until one member is primary (``primary`` if given) and the other streams to it as its synchronous standby."""
        deadline = time.monotonic() + REJOIN_WAIT_S
        status = self.status()
        while time.monotonic() < deadline:
            status = self.status()
            roles = {m.label: m.state.role for m in status.members}
            leaders = status.primaries
            if (
                sorted(role.value for role in roles.values()) == ["primary", "replica"]
                and (primary is None or leaders[0].label == primary)
                and any(s.sync_state == "sync" for s in leaders[0].state.standbys)
            ):
                return status
            time.sleep(1)
        raise AssertionError(f"no primary with a synchronous standby: {status.summary()}\n{self.engine_logs()}")

    def engine_logs(self, lines: int = 25) -> str:
        """The end of each database host's Patroni log, for a failure message."""
        found = []
        for name in HOST_OF.values():
            for log in sorted(self.trio[name].view.glob("**/patroni/log/*.log")):
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                found.append(f"--- {name}: {log.name}\n" + "\n".join(tail))
        return "\n".join(found)

    def boot(self, label: str) -> None:
        """The crashed host comes back: its supervisors start again, as runsvdir would at boot."""
        member = self.topology.primary if label == "primary" else self.topology.replica
        script = self.trio.boot_script(HOST_OF[label])
        result = self.run(lambda: member.command_runner().run(["sh", "-c", script]))
        assert result.ok, result.stderr_text


@pytest.fixture(scope="module")
def trio(ssh_root: Path, user_key: UserKey) -> Iterator[Trio]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARMONY_SECRETS_DIR", str(ssh_root / "engine-secrets"))
        with three_hosts(ssh_root / "engine", user_key) as hosts:
            yield hosts


@pytest.fixture(scope="module")
def cluster(trio: Trio, ssh_root: Path, user_key: UserKey) -> EngineCluster:
    known_hosts = write_known_hosts(ssh_root / "engine_known_hosts", [h.server for h in trio.hosts.values()])

    def host(name: str) -> LinuxHostTopology:
        return LinuxHostTopology(
            trio[name].address, port=trio[name].server.port, user="root", client_keys=(str(user_key.private_path),),
            use_agent=False, known_hosts=str(known_hosts), connect_timeout_s=5.0,
        )  # fmt: skip

    topology = FailoverTopology[LinuxHostTopology](host("db1"), host("db2"), witness=host("witness"))
    score = PostgreSQLScore(
        "app", databases=["app"], users=[PgUser("app", databases=("app",))],
        listen_addresses=["*"], allowed_networks=[NETWORK],
    )  # fmt: skip
    engine = EngineCluster(trio, topology, score)
    report = engine.apply()
    assert report.ok, [s.message for s in report.scores]
    return engine


def test_host_crash_of_the_primary_fails_over_by_itself_and_loses_no_acknowledged_commit(cluster: EngineCluster) -> None:
    status = cluster.wait_healthy()
    old = status.primaries[0]
    other = next(m for m in status.members if m.label != old.label)
    conninfo, password = cluster.conninfo()
    writer = AckedWriter(conninfo, password, table="crash_ledger", tag="host-crash", first_n=1)
    writer.create_table()
    writer.start()
    try:
        writer.wait_for_acks(50)
        assert writer.acks[-1].server == old.address
        cluster.trio.crash(HOST_OF[old.label])  # engine, PostgreSQL, etcd member, supervisors: all at once
        killed = time.monotonic()
        # No harmony_py command from here on: the engine alone makes the other member writable.
        first = writer.wait_for_ack(killed, FAILOVER_WAIT_S, not_server=old.address)
        assert first is not None, f"no commit acknowledged by another member than {old.address} after the crash"
        assert first.server == other.address
        writer.wait_for_acks(20)
    finally:
        writer.stop()
    assert missing_acked(conninfo, password, writer) == []
    assert writer.unreplicated == []

    cluster.boot(old.label)
    healed = cluster.wait_healthy(primary=other.label)  # the crashed member rejoined as the new primary's replica
    assert healed.member(old.label).state.role is ReplicationRole.REPLICA


@dataclass
class InsideClient:
    """A writer and a write probe running on a database host itself (reaching its server over the host's own address).

    It keeps reporting while the host is cut off from everyone, which the test process cannot do.
    """

    process: subprocess.Popen[str]
    acks: list[Ack] = field(default_factory=list)
    probes: list[tuple[float, bool]] = field(default_factory=list)
    unreplicated: list[int] = field(default_factory=list)

    @classmethod
    def start(cls, netns: str, conninfo: str, password: str, tag: str) -> InsideClient:
        process = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-m", "tests.postgres.acked_writer", conninfo, tag, "1000000000"],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdin is not None
        process.stdin.write(password + "\n")
        process.stdin.flush()
        client = cls(process)
        threading.Thread(target=client._read, daemon=True).start()
        return client

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            words = line.split()
            if words[:1] == ["ack"]:
                self.acks.append(Ack(int(words[1]), float(words[2]), words[3]))
            elif words[:1] == ["writable"]:
                self.probes.append((float(words[1]), words[2] == "1"))
            elif words[:1] == ["unreplicated"]:
                self.unreplicated.append(int(words[1]))

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def fenced_at(self, after: float) -> float | None:
        """When the probe first found its server no longer taking writes, after ``after``."""
        return next((at for at, writable in list(self.probes) if at > after and not writable), None)


def test_partition_of_the_primary_fences_it_before_the_other_is_promoted_and_it_rejoins_after_heal(
    cluster: EngineCluster,
) -> None:
    status = cluster.wait_healthy()
    old = status.primaries[0]
    other = next(m for m in status.members if m.label != old.label)
    old_host = cluster.trio[HOST_OF[old.label]]
    conninfo, password = cluster.conninfo()
    address, port = old.address.rsplit(":", 1)
    own = psycopg.conninfo.make_conninfo(
        host=address, port=port, dbname="app", user="app", target_session_attrs="read-write", **CLIENT_TIMEOUTS
    )
    outside = AckedWriter(conninfo, password, tag="partition-outside", first_n=1)
    outside.create_table()
    outside.start()
    inside = InsideClient.start(old_host.netns, own, password, "partition-inside")
    try:
        outside.wait_for_acks(50)
        deadline = time.monotonic() + 60
        while len(inside.acks) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(inside.acks) >= 20, "the client on the primary's own host never committed"

        cluster.trio.cut(old_host.name)
        cut = time.monotonic()  # after the link is down: a commit acknowledged before this may be legitimate
        try:
            promoted = outside.wait_for_ack(cut, FAILOVER_WAIT_S, not_server=old.address)
            assert promoted is not None, (
                "no commit acknowledged by the other member during the partition; the writer's last errors: "
                f"{[error for at, error in outside.errors if at > cut][-5:]}\n{cluster.engine_logs(60)}"
            )
            assert promoted.server == other.address
            fenced = inside.fenced_at(cut)
            # The isolated primary stopped taking writes before the other member took its first one ...
            assert fenced is not None and fenced < promoted.at, (fenced, promoted.at)
            # ... and acknowledged nothing after the cut (synchronous commits wait for a standby it cannot reach).
            assert [a for a in list(inside.acks) if a.at > cut] == []
            outside.wait_for_acks(20)
        finally:
            cluster.trio.heal(old_host.name)
        healed = cluster.wait_healthy(primary=other.label)  # the old primary rejoined as a replica by itself
        assert healed.member(old.label).state.role is ReplicationRole.REPLICA
    finally:
        outside.stop()
        inside.stop()
    assert missing_acked(conninfo, password, outside) == []
    inside_writer = AckedWriter(conninfo, password, tag="partition-inside")
    inside_writer.acks.extend(inside.acks)
    assert missing_acked(conninfo, password, inside_writer) == []
    assert outside.unreplicated == [] and inside.unreplicated == []
