"""PostgreSQLServer for any host topology, written over the host's command runner.

A host topology gets the capability by adding :class:`HostPostgreSQLMixin` to its
bases. The server it drives uses only the host's ``command_runner()`` (``run``,
``stat``, ``read_file``, ``write_file``, ``make_directory``), so it works the
same over a local subprocess and over SSH.

Where a cluster lives on the host comes from :meth:`postgres_layout`
(``/var/lib/postgresql/<version>/<name>``, the config's port); a topology
that runs several clusters of one name on one machine (tests, the example)
overrides it. The address replicas and clients reach the server at is
:meth:`postgres_host`: on this machine the first specific listen address, on
a host reached over the network (:class:`RemoteHostPostgreSQLMixin`) the address
harmony_py reaches the host at (adr/0025).
"""

from __future__ import annotations

import ipaddress
from typing import ClassVar, Protocol, cast

from capabilities.command_runner import CommandRunnerService
from capabilities.postgresql import PgConfig, PgEndpoint, ReplicationSource, ReplicationState
from harmony_py.values import Change
from topologies.secret_store import SecretStore

from .server import HostPostgreSQLServer
from .text import PostgreSQLLayout, reachable_host


class HostPostgreSQLMixin:
    """Mixin: PostgreSQL 15+ run with ``pg_ctl`` as the ``postgres`` user (no systemd)."""

    postgres_root: ClassVar[str] = "/var/lib/postgresql"

    def command_runner(self) -> CommandRunnerService:
        """The host's command runner; the topology this mixin is part of provides it."""
        raise NotImplementedError

    def postgres_host(self, config: PgConfig) -> str:
        """The address replicas and clients reach this server at."""
        return reachable_host(config)

    def postgres_layout(self, config: PgConfig) -> PostgreSQLLayout:
        return PostgreSQLLayout.under(self.postgres_root, config, host=self.postgres_host(config))

    def postgres_secret_store(self) -> SecretStore:
        return SecretStore()

    def postgres_server(self, config: PgConfig) -> HostPostgreSQLServer:
        return HostPostgreSQLServer(self.command_runner(), config, self.postgres_layout(config), self.postgres_secret_store())

    async def plan_postgres(self, config: PgConfig) -> list[Change]:
        # A plan stores no secret: what apply would generate is only drafted.
        server = self.postgres_server(config)
        server.store = server.store.for_plan()
        return await server.converge(apply=False)

    async def deploy_postgres(self, config: PgConfig) -> list[Change]:
        return await self.postgres_server(config).converge(apply=True)

    async def postgres_endpoint(self, config: PgConfig, database: str) -> PgEndpoint:
        return self.postgres_server(config).endpoint(database)

    async def postgres_address(self, config: PgConfig) -> str:
        layout = self.postgres_layout(config)
        return f"{layout.host}:{layout.port}"

    async def postgres_replication(self, config: PgConfig) -> ReplicationState:
        return await self.postgres_server(config).state()

    async def follow_postgres(self, config: PgConfig, source: ReplicationSource, *, rewind: bool = True) -> None:
        await self.postgres_server(config).follow(source, rewind=rewind)

    async def checkpoint_postgres(self, config: PgConfig) -> None:
        await self.postgres_server(config).sql("CHECKPOINT", what="checkpointing")

    async def promote_postgres(self, config: PgConfig, standbys: tuple[str, ...]) -> None:
        await self.postgres_server(config).promote(standbys)

    async def fence_postgres(self, config: PgConfig) -> None:
        await self.postgres_server(config).fence()

    async def stop_postgres(self, config: PgConfig) -> str:
        server = self.postgres_server(config)
        await server.stop("fast")
        return await server.checkpoint_lsn()

    async def set_postgres_standbys(
        self, config: PgConfig, standbys: tuple[str, ...], slots: tuple[str, ...]
    ) -> None:
        await self.postgres_server(config).set_standbys(standbys, slots)

    async def probe_write_postgres(self, config: PgConfig, timeout_s: float) -> None:
        await self.postgres_server(config).probe_write(timeout_s)

    async def postgres_replication_source(self, config: PgConfig, name: str) -> ReplicationSource:
        """How a replica called ``name`` reaches this server (the password as a Secret)."""
        return self.postgres_server(config).source(name)


class _ReachedAt(Protocol):
    @property
    def host(self) -> str: ...


class RemoteHostPostgreSQLMixin(HostPostgreSQLMixin):
    """Mixin for a host reached over the network at ``self.host`` (an SSH host).

    Its server is advertised to replicas and clients at that address, unless
    the config's listen addresses name one specific non-loopback address: a
    loopback address would point a replica on another host at itself, and a
    wildcard names no address at all. The server listens where the config
    says: a cluster across hosts needs ``listen_addresses=["*"]`` (or the
    host's address), and a replica that cannot reach its primary is refused
    before anything is changed on it (adr/0025).
    """

    def postgres_host(self, config: PgConfig) -> str:
        for address in config.listen_addresses:
            if not _wildcard_or_loopback(address):
                return address
        return cast(_ReachedAt, self).host


def is_loopback(address: str) -> bool:
    """Whether a listen address is reachable from its own host only (``localhost`` or a loopback IP)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # "*" or a name


def _wildcard_or_loopback(address: str) -> bool:
    if address == "*" or is_loopback(address):
        return True
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False
