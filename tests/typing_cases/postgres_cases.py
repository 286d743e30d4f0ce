"""Type-level promises of the PostgreSQL capability (run with mypy --strict --warn-unused-ignores).

A PostgreSQL score or operation on a topology whose members are not
PostgreSQL servers is a type error; on hosts that are, it is accepted.
"""

from __future__ import annotations

from typing_extensions import assert_type

from capabilities import (
    ClusterStatus,
    PgCertificates,
    PgConfig,
    PostgreSQL,
    PostgreSQLCluster,
    PostgreSQLClusterService,
    PostgreSQLServer,
    PostgreSQLServerService,
)
from harmony_py import Change, Maestro
from harmony_py.scores import (
    PostgreSQLFailoverScore,
    PostgreSQLScore,
    PostgreSQLStatusScore,
    PostgreSQLSwitchoverScore,
)
from harmony_py.topology import TopologyReport
from topologies import FailoverTopology, LinuxHostTopology, LocalhostTopology, MultisiteTopology
from topologies.host.base import HostTopology
from topologies.postgres.host import HostPostgreSQL

MYPY = False
"""True for mypy only: mypy reads the name as always true, pyright's config defines it false."""


class NoPostgreSQL:
    """A topology without PostgreSQL (as DockerTopology is)."""

    name = "nopg"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)


pg = PostgreSQLScore("app", port=5433, databases=["app"], users=["app"])
config = PgConfig("app")
hosts = FailoverTopology[LocalhostTopology](LocalhostTopology("a"), LocalhostTopology("b"))
sites = MultisiteTopology(LocalhostTopology("a"), (LocalhostTopology("b"), LocalhostTopology("c")))
without = FailoverTopology(NoPostgreSQL(), NoPostgreSQL())

# Hosts are PostgreSQL servers; replicated hosts are PostgreSQL clusters.
server: PostgreSQLServer = LocalhostTopology()
cluster: PostgreSQLCluster = hosts
multisite: PostgreSQLCluster = sites
plain: PostgreSQL = hosts
Maestro(hosts).add(pg, PostgreSQLSwitchoverScore(pg, to="replica"), PostgreSQLStatusScore(pg))
Maestro(sites).add(pg, PostgreSQLFailoverScore(pg, to="site[1]"))
Maestro(LocalhostTopology()).add(pg)


async def operations() -> None:
    assert_type(await hosts.postgresql().switchover(config, "replica"), list[Change])
    assert_type(await sites.postgresql().failover(config, "site[0]"), list[Change])
    assert_type(await hosts.postgresql().status(config), ClusterStatus)
    # The certificates a cluster hands its members (get_replication_certs): by label; one server's, or None.
    assert_type(await hosts.postgresql().certificates(config), dict[str, PgCertificates])
    assert_type(await LocalhostTopology().postgresql().certificates(config), PgCertificates | None)
    cluster_certificates: PostgreSQLClusterService = hosts.postgresql()
    assert_type(await cluster_certificates.certificates(config), dict[str, PgCertificates])
    assert_type(await server_service.certificates(config), PgCertificates | None)
    # Without PostgreSQL on the members, every operation is refused.
    await without.postgresql().switchover(config, "replica")  # type: ignore[call-arg]
    await without.postgresql().deploy(config)  # type: ignore[call-arg]


# Scores on topologies that cannot serve them.
Maestro(without).add(pg)  # type: ignore[arg-type]
Maestro(without).add(PostgreSQLSwitchoverScore(pg, to="replica"))  # type: ignore[arg-type]
# A single host has no replicas to switch over to.
Maestro(LocalhostTopology()).add(PostgreSQLFailoverScore(pg, to="replica"))  # type: ignore[arg-type]
# Members must be servers, not clusters: a failover pair of failover pairs is refused.
nested = FailoverTopology[FailoverTopology[LocalhostTopology]](hosts, hosts)
Maestro(nested).add(pg)  # type: ignore[arg-type]
not_server: PostgreSQLServer = hosts  # type: ignore[assignment]

# A witness changes how PostgreSQL runs (under the HA engine), not what the topology provides.
witnessed = FailoverTopology(LocalhostTopology("a"), LocalhostTopology("b"), witness=LocalhostTopology("w"))
assert_type(witnessed, FailoverTopology[LocalhostTopology])
witnessed_cluster: PostgreSQLCluster = witnessed
Maestro(witnessed).add(pg, PostgreSQLStatusScore(pg))
witnessed_sites = MultisiteTopology(LocalhostTopology("a"), (LocalhostTopology("b"),), witness=LocalhostTopology("w"))
Maestro(witnessed_sites).add(pg)
without_witnessed = FailoverTopology(NoPostgreSQL(), NoPostgreSQL(), witness=NoPostgreSQL())
Maestro(without_witnessed).add(pg)  # type: ignore[arg-type]

# Two SSH hosts: a primary and a replica, switched over and failed over like local ones.
ssh_server: PostgreSQLServer = LinuxHostTopology("db1")
ssh_pair = FailoverTopology[LinuxHostTopology](LinuxHostTopology("db1"), LinuxHostTopology("db2"))
ssh_cluster: PostgreSQLCluster = ssh_pair
ssh_sites: PostgreSQLCluster = MultisiteTopology(LinuxHostTopology("db1"), (LinuxHostTopology("db2"),))
assert_type(
    Maestro(ssh_pair).add(pg, PostgreSQLSwitchoverScore(pg, to="replica"), PostgreSQLFailoverScore(pg, to="primary")),
    Maestro[FailoverTopology[LinuxHostTopology]],
)
Maestro(LinuxHostTopology("db1")).add(pg)
# One SSH host has no replica to switch over to.
Maestro(LinuxHostTopology("db1")).add(PostgreSQLSwitchoverScore(pg, to="replica"))  # type: ignore[arg-type]


async def ssh_operations() -> None:
    assert_type(await ssh_pair.postgresql().switchover(config, "replica"), list[Change])
    assert_type(await ssh_pair.postgresql().failover(config, "primary"), list[Change])


# One accessor per capability: a host's is its server service, a pair's the cluster service over them.
assert_type(LocalhostTopology().postgresql(), HostPostgreSQL)
assert_type(hosts.postgresql(), PostgreSQLClusterService)
server_service: PostgreSQLServerService = LocalhostTopology().postgresql()
cluster_service: PostgreSQLClusterService = hosts.postgresql()
# The cluster service is no server service: that is why a pair of pairs is refused.
not_server_service: PostgreSQLServerService = hosts.postgresql()  # type: ignore[assignment]
# A host's service has no switchover, and a pair of topologies without PostgreSQL no service at all.
LocalhostTopology().postgresql().switchover  # type: ignore[attr-defined]
without.postgresql()  # type: ignore[call-arg]

# A localhost and an SSH host join to HostTopology, which declares postgresql(): the pair is PostgreSQL.
mixed_hosts = FailoverTopology(LocalhostTopology("a"), LinuxHostTopology("db2"))
if MYPY:  # pyright keeps the union of the two host classes, which provide it as well
    assert_type(mixed_hosts, FailoverTopology[HostTopology])
Maestro(mixed_hosts).add(pg, PostgreSQLSwitchoverScore(pg, to="replica"))
