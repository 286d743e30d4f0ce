"""PostgreSQLServer for any host, written over the host's command runner.

A host topology provides the capability by composition: its ``postgresql()``
returns a :class:`HostPostgreSQL` built on its ``command_runner()`` and a
:class:`HostPlacement` saying where the host's clusters live and how they are
reached. The server it drives uses only the runner (``run``, ``stat``,
``read_file``, ``write_file``, ``make_directory``), so it works the same over
a local subprocess and over SSH.

Where a cluster lives on the host is ``<root>/<version>/<name>``, on the
config's port moved by ``port_shift`` (several clusters of one name on one
machine: tests, the example). The address replicas and clients reach the
server at is, on this machine, the first specific listen address; on a host
reached over the network (``reached_at``), the first specific non-loopback
listen address, else the address harmony_py reaches the host at (adr/0025).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass

from capabilities.command_runner import CommandRunnerService
from capabilities.postgresql import PgCertificates, PgConfig, PgEndpoint, ReplicationSource, ReplicationState
from harmony_py.errors import ScoreValueError
from harmony_py.values import Change
from topologies.secret_store import SecretStore

from .server import HostPostgreSQLServer
from .text import PostgreSQLLayout, reachable_host

DEFAULT_ROOT = "/var/lib/postgresql"


@dataclass(frozen=True)
class HostPlacement:
    """Where a host's PostgreSQL clusters live, where they listen, and how they are reached.

    ``reached_at``: the address a host reached over the network is reached at
    (None: this machine). ``listen`` replaces a config's loopback-only listen
    addresses and ``networks`` is added to its allowed networks: a database
    host says where its servers listen and whom they accept, which an
    application's contract cannot (adr/0067). On a host reached over the
    network, a server listening on loopback only is an endpoint at that
    loopback address: only the host's own containers can reach it (adr/0066).
    """

    root: str = DEFAULT_ROOT
    port_shift: int = 0
    reached_at: str | None = None
    listen: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()

    def config(self, config: PgConfig) -> PgConfig:
        """``config`` as this host runs it: ``listen`` and ``networks`` applied."""
        check_network_settings(self.listen, self.networks)
        if self.listen and only_loopback(config.listen_addresses) is not None:
            config = dataclasses.replace(config, listen_addresses=tuple(self.listen))
        if self.networks:
            networks = tuple(dict.fromkeys((*config.allowed_networks, *self.networks)))
            config = dataclasses.replace(config, allowed_networks=networks)
        return config

    def host(self, config: PgConfig) -> str:
        """The address replicas and clients reach the server of ``config`` (as run here) at."""
        if self.reached_at is None:
            return reachable_host(config)
        for address in config.listen_addresses:
            if not _wildcard_or_loopback(address):
                return address
        return self.reached_at

    def layout(self, config: PgConfig) -> PostgreSQLLayout:
        """Where the cluster of ``config`` (as run here) lives."""
        return PostgreSQLLayout.under(self.root, config, port=config.port + self.port_shift, host=self.host(config))


class HostPostgreSQL:
    """A host's :class:`~capabilities.postgresql.PostgreSQLServerService`: PostgreSQL 15+ run with
    ``pg_ctl`` as the ``postgres`` user (no systemd), through ``runner``.

    ``store`` keeps generated passwords; None means the project's store,
    found when a server is used (so ``HARMONY_SECRETS_DIR`` set after the
    topology was made is honoured).
    """

    def __init__(
        self, runner: CommandRunnerService, placement: HostPlacement = HostPlacement(), store: SecretStore | None = None
    ) -> None:
        self.runner = runner
        self.placement = placement
        self.store = store

    def layout(self, config: PgConfig) -> PostgreSQLLayout:
        return self.placement.layout(self.placement.config(config))

    def server(self, config: PgConfig) -> HostPostgreSQLServer:
        """The server of ``config`` on this host (``config`` as the host runs it)."""
        config = self.placement.config(config)
        store = self.store if self.store is not None else SecretStore()
        return HostPostgreSQLServer(self.runner, config, self.placement.layout(config), store)

    async def plan(self, config: PgConfig) -> list[Change]:
        # A plan stores no secret: what apply would generate is only drafted.
        server = self.server(config)
        server.store = server.store.for_plan()
        return await server.plan()

    async def deploy(self, config: PgConfig) -> list[Change]:
        return await self.server(config).deploy()

    async def endpoint(self, config: PgConfig, database: str) -> PgEndpoint:
        """The server's endpoint; at its loopback address when a network host's server listens nowhere else."""
        endpoint = self.server(config).endpoint(database)
        loopback = only_loopback(self.placement.config(config).listen_addresses)
        if self.placement.reached_at is not None and loopback is not None:
            return dataclasses.replace(endpoint, host=loopback)
        return endpoint

    async def certificates(self, config: PgConfig) -> PgCertificates | None:
        """This member's TLS certificates from its cluster's authority (issued when missing); None without TLS."""
        server = self.server(config)
        return server.certificates() if server.tls else None

    async def address(self, config: PgConfig) -> str:
        layout = self.layout(config)
        return f"{layout.host}:{layout.port}"

    async def replication(self, config: PgConfig) -> ReplicationState:
        return await self.server(config).state()

    async def replication_source(self, config: PgConfig, name: str) -> ReplicationSource:
        return self.server(config).source(name)

    async def follow(self, config: PgConfig, source: ReplicationSource, *, rewind: bool = True) -> None:
        await self.server(config).follow(source, rewind=rewind)

    async def checkpoint(self, config: PgConfig) -> None:
        await self.server(config).sql("CHECKPOINT", what="checkpointing")

    async def promote(self, config: PgConfig, standbys: tuple[str, ...]) -> None:
        await self.server(config).promote(standbys)

    async def fence(self, config: PgConfig) -> None:
        await self.server(config).fence()

    async def stop(self, config: PgConfig) -> str:
        return await self.server(config).stop_at_checkpoint("fast")

    async def wait_replayed(self, config: PgConfig, lsn: str, timeout_s: float) -> None:
        """Return once the server, a replica, has replayed up to ``lsn`` (one program over SSH, not one per look)."""
        await self.server(config).wait_replayed(lsn, timeout_s)

    async def set_standbys(self, config: PgConfig, standbys: tuple[str, ...], slots: tuple[str, ...]) -> None:
        await self.server(config).set_standbys(standbys, slots)

    async def probe_write(self, config: PgConfig, timeout_s: float) -> None:
        await self.server(config).probe_write(timeout_s)


def is_loopback(address: str) -> bool:
    """Whether a listen address is reachable from its own host only (``localhost`` or a loopback IP)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # "*" or a name


def only_loopback(addresses: tuple[str, ...]) -> str | None:
    """The first address when every one is a loopback address (``localhost`` included), else ``None``."""
    if not addresses or not all(is_loopback(address) for address in addresses):
        return None
    return "127.0.0.1" if addresses[0] == "localhost" else addresses[0]


def check_network_settings(listen: tuple[str, ...], networks: tuple[str, ...]) -> None:
    """Refuse a host's ``postgres_listen`` / ``postgres_networks`` that are not addresses / networks."""
    for address in listen:
        if address not in ("*", "localhost"):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ScoreValueError(f"postgres_listen: {address!r} is not an IP address, '*' or 'localhost'") from None
    for network in networks:
        try:
            ipaddress.ip_network(network)
        except ValueError:
            raise ScoreValueError(f"postgres_networks: {network!r} is not a network such as 10.0.0.0/24") from None


def _wildcard_or_loopback(address: str) -> bool:
    if address == "*" or is_loopback(address):
        return True
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False
