"""PostgreSQL: server clusters with roles, databases and streaming replication.

Three capabilities, from what a score needs to what an orchestrator needs,
each the one accessor ``postgresql()`` returning a richer service:

- :class:`PostgreSQL` gives a :class:`PostgreSQLService`, which converges one
  cluster (plan from the live server, deploy, endpoint). ``PostgreSQLScore``
  needs only this, so it runs on a single host and on a replicated topology alike.
- :class:`PostgreSQLServer` gives a :class:`PostgreSQLServerService`, which adds
  the primitives of one server that a replication orchestrator drives: state,
  follow, promote, fence, and the synchronous standby set. Hosts provide it;
  the leader/followers orchestration (``topologies/postgres/cluster.py``) is
  written once over it.
- :class:`PostgreSQLCluster` gives a :class:`PostgreSQLClusterService`, which
  adds the operations of a replicated cluster: status of every member,
  switchover and failover. Only higher-order topologies provide it, and only
  when their members are ``PostgreSQLServer``.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal, Protocol, runtime_checkable

from harmony_py.validation import Each, Identifier, InstanceOf, validate
from harmony_py.values import Change, Secret

MANAGED_SETTINGS = frozenset(
    {
        "listen_addresses", "port", "unix_socket_directories", "password_encryption", "wal_level",
        "wal_log_hints", "hot_standby", "primary_conninfo", "primary_slot_name", "synchronous_standby_names",
        "include_if_exists", "include", "include_dir", "hba_file", "data_directory",
        "ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file", "ssl_min_protocol_version",
    }
)  # fmt: skip
"""Settings the replication orchestration owns; a score may not override them."""


@dataclass(frozen=True)
class PgUser:
    """A login role. With no password, one is generated once and kept in the secret store.

    ``databases``: the databases this user may use; the first user listing a
    database owns it (in PostgreSQL 15 the owner may create tables in ``public``).
    """

    name: Annotated[str, Identifier()]
    password: Annotated[Secret | None, InstanceOf(Secret)] = None
    """Never a plain string: a :class:`Secret`, or None for a generated one."""
    databases: Annotated[tuple[str, ...], Each(Identifier(), of="names")] = ()

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class PgConfig:
    """The desired shape of one PostgreSQL cluster, the same on every member."""

    name: str
    port: int = 5432
    version: int = 15
    listen_addresses: tuple[str, ...] = ("127.0.0.1",)
    databases: tuple[str, ...] = ()
    users: tuple[PgUser, ...] = ()
    settings: Mapping[str, str] = field(default_factory=dict)
    allowed_networks: tuple[str, ...] = ("127.0.0.1/32",)
    """Networks (CIDR) whose clients and replicas may connect with a password."""
    replication_user: str = "replicator"
    tls: bool | None = None
    """Clients and replicas over TLS with the cluster's own certificates; None: on whenever a
    member listens on a non-loopback address."""
    tls_rotate_before: datetime.timedelta | None = datetime.timedelta(days=30)
    """A certificate expiring within this is re-issued on the next deploy (None: only once expired)."""

    def owner_of(self, database: str) -> str:
        """The first user listing ``database``, else the superuser."""
        for user in self.users:
            if database in user.databases:
                return user.name
        return "postgres"


@dataclass(frozen=True)
class PgEndpoint:
    """Where a client connects. The password stays a :class:`Secret`."""

    host: str
    port: int
    database: str
    user: str
    password: Secret
    members: tuple[tuple[str, int], ...] = ()
    """Every ``(host, port)`` of a replicated cluster, for a client that finds the writable one itself
    (libpq's multi-host list with ``target_session_attrs=read-write``); empty: ``host`` and ``port`` only."""
    sslmode: str = "prefer"
    """``verify-full`` when the cluster runs TLS: the client checks the server's certificate and name."""
    ca_certificate: str | None = None
    """The cluster's CA certificate (PEM, public) a client verifies the server with."""
    sslrootcert: str | None = None
    """Where that certificate is on the database's host (readable by every user there)."""

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        """Where a client tries to connect, in order."""
        return self.members or ((self.host, self.port),)


@dataclass(frozen=True)
class PgCertificates:
    """What one member of a cluster needs for TLS; the keys only as :class:`Secret`."""

    authority: str
    """The cluster's CA certificate (PEM)."""
    server_certificate: str
    server_key: Secret
    client_certificate: str
    """The replication role's client certificate (its common name is the role)."""
    client_key: Secret


class ReplicationRole(enum.Enum):
    PRIMARY = "primary"
    REPLICA = "replica"
    STOPPED = "stopped"
    ABSENT = "absent"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class ReplicationSource:
    """The primary a replica streams from, and how the replica introduces itself.

    ``name`` is the replica's ``application_name``: the name the primary's
    ``synchronous_standby_names`` lists. ``slot`` is the replication slot on the
    primary that keeps the WAL this replica still needs.
    """

    host: str
    port: int
    user: str
    password: Secret
    slot: str
    name: str


@dataclass(frozen=True)
class StandbyInfo:
    """A standby connected to a primary, as ``pg_stat_replication`` shows it."""

    name: str
    state: str
    sync_state: str
    replay_lag_bytes: int | None


@dataclass(frozen=True)
class ReplicationState:
    """What one server is right now."""

    role: ReplicationRole
    upstream: str | None = None
    """``host:port`` a replica streams from (``None`` while not streaming)."""
    replay_lag_bytes: int | None = None
    """A replica's received-but-not-replayed WAL, in bytes."""
    sync_standbys: tuple[str, ...] = ()
    """The names a primary's ``synchronous_standby_names`` waits for."""
    standbys: tuple[StandbyInfo, ...] = ()
    lsn: str | None = None
    """A primary's current WAL position, or a replica's replay position."""
    timeline: int | None = None
    fenced: bool = False
    """Stopped on purpose after a failover: it must not start as a primary."""
    slots: tuple[str, ...] = ()
    """The physical replication slots the server keeps (empty where not known)."""
    problem: str | None = None
    """Why an UNREACHABLE member could not be asked."""
    pending_restart: bool = False
    """A changed setting takes effect only after a restart of this server."""


@dataclass(frozen=True)
class MemberStatus:
    label: str
    address: str
    state: ReplicationState


@dataclass(frozen=True)
class ClusterStatus:
    """Every member of a replicated cluster, in member order."""

    members: tuple[MemberStatus, ...]
    notes: tuple[str, ...] = ()
    """What holds for the cluster as a whole, as its HA engine sees it (e.g. "no synchronous standby")."""

    @property
    def primaries(self) -> tuple[MemberStatus, ...]:
        return tuple(m for m in self.members if m.state.role is ReplicationRole.PRIMARY)

    def member(self, label: str) -> MemberStatus:
        for found in self.members:
            if found.label == label:
                return found
        raise KeyError(label)

    def summary(self) -> str:
        parts = []
        for member in self.members:
            state = member.state
            text = f"{member.label} ({member.address}): {state.role.value}"
            if state.role is ReplicationRole.PRIMARY:
                streaming = ", ".join(
                    f"{s.name} {s.sync_state} lag {s.replay_lag_bytes}B" for s in state.standbys
                )
                text += f", standbys [{streaming}]"
            elif state.role is ReplicationRole.REPLICA:
                text += f" of {state.upstream or 'nothing (not streaming)'}, replay lag {state.replay_lag_bytes}B"
            if state.timeline is not None and state.role in (ReplicationRole.PRIMARY, ReplicationRole.REPLICA):
                text += f", timeline {state.timeline}"
            if state.pending_restart:
                text += ", pending restart"
            if state.fenced:
                text += ", fenced"
            if state.problem:
                text += f" ({state.problem})"
            parts.append(text)
        return "; ".join([*parts, *self.notes])


PrimaryChange = Literal["switchover", "failover"]
"""How a member becomes the primary: planned (no commit lost, the old primary follows) or not."""


class PostgreSQLService(Protocol):
    """What converges PostgreSQL clusters: a topology's :meth:`PostgreSQL.postgresql`.

    It promises that :meth:`deploy` converges a cluster to ``config``
    idempotently (never re-initialising a data directory that holds data),
    that :meth:`plan` observes without changing anything, that passwords are
    generated once and reused, and that no password is ever returned except
    inside a :class:`Secret` nor appears in a :class:`Change`.
    """

    async def plan(self, config: PgConfig) -> list[Change]:
        """The changes :meth:`deploy` would make, observed from the live servers."""
        ...

    async def deploy(self, config: PgConfig) -> list[Change]:
        """Converge the cluster to ``config``; return the changes made (empty: none)."""
        ...

    async def endpoint(self, config: PgConfig, database: str) -> PgEndpoint:
        """Where the owner of ``database`` connects to the (current primary of the) cluster."""
        ...


class PostgreSQLServerService(PostgreSQLService, Protocol):
    """One PostgreSQL server, with the primitives a replication orchestrator drives."""

    async def replication(self, config: PgConfig) -> ReplicationState:
        """Whether the server is a primary or a replica, and how far behind."""
        ...

    async def address(self, config: PgConfig) -> str:
        """``host:port`` others reach this server at."""
        ...

    async def replication_source(self, config: PgConfig, name: str) -> ReplicationSource:
        """How a replica called ``name`` reaches this server (the password as a Secret)."""
        ...

    async def follow(self, config: PgConfig, source: ReplicationSource, *, rewind: bool = True) -> None:
        """Make the server a streaming replica of ``source``.

        An empty server is cloned with ``pg_basebackup``; one holding data that
        may have diverged (a former primary) is rewound with ``pg_rewind``
        first, unless ``rewind`` is False because the caller knows ``source``
        replayed all of it (a switchover).
        """
        ...

    async def checkpoint(self, config: PgConfig) -> None:
        """Checkpoint now (after a promotion, so that pg_rewind sees the new timeline)."""
        ...

    async def promote(self, config: PgConfig, standbys: tuple[str, ...]) -> None:
        """Promote a replica; as a primary it waits for ``standbys`` (any one) on commit."""
        ...

    async def fence(self, config: PgConfig) -> None:
        """Stop the server at once and mark it so that it cannot start as a primary."""
        ...

    async def stop(self, config: PgConfig) -> str:
        """Stop the server cleanly; return its last checkpoint LSN."""
        ...

    async def set_standbys(self, config: PgConfig, standbys: tuple[str, ...], slots: tuple[str, ...]) -> None:
        """On a primary: wait for any one of ``standbys`` on commit; keep exactly ``slots``."""
        ...

    async def probe_write(self, config: PgConfig, timeout_s: float) -> None:
        """On a primary: commit one transaction that writes WAL, as a client's commit does.

        It returns once the commit is acknowledged, so after every synchronous
        standby has it; raises, naming why, when it is refused or not
        acknowledged within ``timeout_s`` (the waiting commit is then ended).
        """
        ...

    async def certificates(self, config: PgConfig) -> PgCertificates | None:
        """This member's TLS certificates, from its cluster's one authority (issued when missing).

        The analogue of ``get_replication_certs``: what an engine that places files its own way
        (Patroni's configuration, Kubernetes Secrets) hands to the member. ``None`` when the
        cluster runs without TLS, or where the member's certificates are not issued by harmony_py.
        """
        ...


class PostgreSQLClusterService(PostgreSQLService, Protocol):
    """A replicated PostgreSQL cluster: one primary, streaming replicas."""

    async def status(self, config: PgConfig) -> ClusterStatus:
        """Every member's role, upstream and lag."""
        ...

    async def plan_primary(self, config: PgConfig, to: str, mode: PrimaryChange) -> list[Change]:
        """What making ``to`` the primary by ``mode`` would do, and why; empty when it already is."""
        ...

    async def switchover(self, config: PgConfig, to: str | None = None) -> list[Change]:
        """Planned: stop writes, let ``to`` replay everything, promote it, make the old primary follow it."""
        ...

    async def failover(self, config: PgConfig, to: str | None = None) -> list[Change]:
        """Unplanned: fence the primary, promote ``to``; the old primary rejoins on the next deploy."""
        ...

    async def certificates(self, config: PgConfig) -> dict[str, PgCertificates]:
        """Each member's TLS certificates by member label, all signed by the cluster's one authority.

        The analogue of ``get_replication_certs`` for a whole cluster; empty when it runs without TLS.
        """
        ...


@runtime_checkable
class PostgreSQL(Protocol):
    """A topology that converges PostgreSQL clusters, through its :class:`PostgreSQLService`."""

    def postgresql(self) -> PostgreSQLService:
        """The topology's PostgreSQL service (``topology.postgresql().deploy(config)``)."""
        ...


@runtime_checkable
class PostgreSQLServer(PostgreSQL, Protocol):
    """One PostgreSQL server (on one host, in one namespace), with the primitives replication needs."""

    def postgresql(self) -> PostgreSQLServerService:
        """The server's service: :class:`PostgreSQLService` plus replication primitives."""
        ...


@runtime_checkable
class PostgreSQLCluster(PostgreSQL, Protocol):
    """A replicated PostgreSQL cluster: one primary, streaming replicas."""

    def postgresql(self) -> PostgreSQLClusterService:
        """The cluster's service: :class:`PostgreSQLService` plus status, switchover and failover."""
        ...
