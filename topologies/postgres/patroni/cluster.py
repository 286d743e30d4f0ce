"""PatroniCluster: a replicated topology's ``PostgreSQLClusterService`` when it has a witness.

It resolves the topology's members and witness into :class:`~.layout.Participant`
values (hosts only: their ``HostPostgreSQL`` gives the runner and the placement),
keeps the etcd member count odd, refuses what the engine cannot run (two members
that are one server, port shifts out of range), and hands the walk to :mod:`.deploy`.
Status, switchover and failover are asked of the engine and verified
(:mod:`.operations`, adr/0086).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from capabilities.postgresql import (
    ClusterStatus,
    PgCertificates,
    PgConfig,
    PgEndpoint,
    PostgreSQLServerService,
    PrimaryChange,
)
from harmony_py.errors import ScoreValueError
from harmony_py.values import Change
from topologies.postgres.host import HostPlacement, HostPostgreSQL
from topologies.postgres.roles import password_of
from topologies.secret_store import SecretStore

from . import operations
from .config import REWIND_USER, Credentials
from .deploy import Engine, deploy_engine, plan_engine
from .layout import MAX_PORT_SHIFT, Participant

STATUS_TIMEOUT_S = 30.0


class PatroniCluster:
    """PostgreSQL under Patroni on the members, with etcd on the members and the witness."""

    def __init__(self, labels: Sequence[str], servers: Sequence[PostgreSQLServerService], witness: Any) -> None:
        self.labels = tuple(labels)
        self.servers = tuple(servers)
        self.witness = witness

    # -- who takes part --------------------------------------------------------

    def engine(self, config: PgConfig, *, for_plan: bool = False) -> Engine:
        if config.tls:
            raise ScoreValueError(
                f"PostgreSQL {config.name}: tls=True is not supported under the automatic-failover engine yet "
                "(Patroni's configuration does not carry the cluster's certificates); leave tls unset here"
            )
        # Unset, TLS would be on beyond loopback (adr/0100); the engine's members run without it until
        # Patroni's configuration carries the certificates, so they are told so explicitly.
        config = dataclasses.replace(config, tls=False)
        hosts = [_host(label, server) for label, server in zip(self.labels, self.servers)]
        witness = _witness_host(self.witness)
        participants = tuple(
            Participant(label, host.runner, host.placement, host.placement.config(config), database)
            for label, host, database in [*((l, h, True) for l, h in zip(self.labels, hosts)), ("witness", witness, False)]
        )
        participants = _odd_etcd(participants)
        _refuse_bad_shapes(participants)
        store = next((h.store for h in hosts if h.store is not None), None) or SecretStore()
        if for_plan:
            store = store.for_plan()
        return Engine(participants, store, _credentials(config, store))

    # -- PostgreSQLService --------------------------------------------------------

    async def plan(self, config: PgConfig) -> list[Change]:
        return await plan_engine(self.engine(config, for_plan=True))

    async def deploy(self, config: PgConfig) -> list[Change]:
        return await deploy_engine(self.engine(config))

    async def endpoint(self, config: PgConfig, database: str) -> PgEndpoint:
        """Every member's address, in member order, for libpq's ``target_session_attrs=read-write``.

        ``host`` and ``port`` name the first member whichever leads: the endpoint stays the same
        across failovers, so an application given it is not restarted by the next apply after one.
        """
        engine = self.engine(config)
        found = engine.server(engine.databases[0]).endpoint(database)
        members = tuple((m.host, m.pg_port) for m in engine.databases)
        return dataclasses.replace(found, members=members)

    # -- PostgreSQLClusterService ---------------------------------------------------

    async def status(self, config: PgConfig) -> ClusterStatus:
        """Each member as Patroni and its PostgreSQL show it, with the engine's notes (leader key, etcd quorum,
        whether a synchronous standby exists)."""
        return await operations.engine_status(operations.rest_members(self.engine(config)))

    async def plan_primary(self, config: PgConfig, to: str, mode: PrimaryChange) -> list[Change]:
        members = operations.rest_members(self.engine(config, for_plan=True))
        if mode == "failover":
            return await operations.plan_failover(members, to)
        return await operations.plan_switchover(members, to)

    async def switchover(self, config: PgConfig, to: str | None = None) -> list[Change]:
        members = operations.rest_members(self.engine(config))
        return await operations.switchover(members, to)

    async def failover(self, config: PgConfig, to: str | None = None) -> list[Change]:
        members = operations.rest_members(self.engine(config))
        return await operations.failover(members, to)

    async def certificates(self, config: PgConfig) -> dict[str, PgCertificates]:
        """None yet: the engine's members run without TLS (Patroni's configuration carries no certificates)."""
        return {}


def _host(label: str, server: object) -> HostPostgreSQL:
    if not isinstance(server, HostPostgreSQL):
        raise ScoreValueError(
            f"{label}: automatic failover (a topology with a witness) runs on hosts (LocalInstance, "
            f"LocalhostTopology, LinuxHostTopology), not on a {type(server).__name__}"
        )
    return server


def _witness_host(witness: Any) -> HostPostgreSQL:
    """The witness as a host: its PostgreSQL service's runner and placement, else its runner alone."""
    accessor = getattr(witness, "postgresql", None)
    service = accessor() if callable(accessor) else None
    if isinstance(service, HostPostgreSQL):
        return service
    runner = getattr(witness, "command_runner", None)
    if not callable(runner):
        raise ScoreValueError(
            f"witness: a {type(witness).__name__} cannot run the engine's etcd member (it needs CommandRunner)"
        )
    return HostPostgreSQL(runner(), HostPlacement())


def _odd_etcd(participants: Sequence[Participant]) -> tuple[Participant, ...]:
    """Every participant an etcd member, but the last database member when that would make an even count.

    Four etcd members survive one failure, as three do, and can split two against two with
    no majority; the witness keeps its member (it is the third failure domain), so the last
    database member runs Patroni against the others' etcd (adr/0097).
    """
    if len(participants) % 2 == 1:
        return tuple(participants)
    last = max(index for index, p in enumerate(participants) if p.database)
    return tuple(dataclasses.replace(p, etcd=False) if index == last else p for index, p in enumerate(participants))


def _refuse_bad_shapes(participants: Sequence[Participant]) -> None:
    seen: dict[tuple[str, int], Participant] = {}
    for member in participants:
        if not 0 <= member.placement.port_shift <= MAX_PORT_SHIFT:
            raise ScoreValueError(f"{member.label}: port_shift must be 0 to {MAX_PORT_SHIFT} with automatic failover")
        for port in member.ports.values():
            other = seen.setdefault((member.machine + "/" + member.host, port), member)
            if other is not member:
                raise ScoreValueError(
                    f"{other.label} and {member.label} would both listen on {member.host}:{port}: two participants on "
                    "one machine need their own port_shift (LocalInstance(name, root=..., port_shift=...))"
                )


def _credentials(config: PgConfig, store: SecretStore) -> Credentials:
    key = f"postgresql/{config.name}"
    return Credentials(
        replication=password_of(config, store, config.replication_user),
        rewind=password_of(config, store, REWIND_USER),
        rest_api=store.get_or_create(f"{key}/patroni-rest-api"),
        etcd_patroni=store.get_or_create(f"{key}/etcd-patroni"),
        etcd_root=store.get_or_create(f"{key}/etcd-root"),
    )
