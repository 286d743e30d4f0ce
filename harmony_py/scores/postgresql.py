"""PostgreSQL scores: a cluster, and the primary of a replicated one.

``PostgreSQLScore`` needs :class:`~capabilities.PostgreSQL`, so it runs on a
host and on a ``FailoverTopology``/``MultisiteTopology`` of hosts alike.
Switchover, failover and status need :class:`~capabilities.PostgreSQLCluster`,
which only replicated topologies provide. They are declarative: "member X is
the primary", so applying one twice changes nothing the second time.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any

from capabilities.postgresql import (
    MANAGED_SETTINGS,
    ClusterStatus,
    PgConfig,
    PgEndpoint,
    PgUser,
    PostgreSQL,
    PostgreSQLCluster,
    PrimaryChange,
    ReplicationRole,
)
from harmony_py.errors import ScoreValueError
from harmony_py.outcome import InterpretStatus, Outcome
from harmony_py.outputs import Produces, ProducingInterpret, Ref
from harmony_py.score import Interpret, Score
from harmony_py.validation import (
    Count,
    Each,
    Identifier,
    InstanceOf,
    Invalid,
    IpNetwork,
    Keys,
    Matches,
    NonEmpty,
    NotIn,
    Port,
    Validator,
    Values,
    validate,
)
from harmony_py.values import Change, ChangeAction


class _AsUser(Validator):
    """A user: a name (a PgUser with a generated password) or a PgUser, which checks its own values."""

    def __call__(self, value: Any) -> PgUser:
        if isinstance(value, str):
            return PgUser(value)
        if not isinstance(value, PgUser):
            raise Invalid(f"must be a name or a PgUser, got {value!r}")
        return value


class _ListenAddress(Validator):
    """An address PostgreSQL listens on: an IP address, '*' (all) or 'localhost'."""

    def __call__(self, value: Any) -> str:
        if value in ("*", "localhost"):
            return str(value)
        try:
            ipaddress.ip_address(value)
        except (ValueError, TypeError):
            raise Invalid(f"must be an IP address, '*' or 'localhost', got {value!r}") from None
        return str(value)


_PARAMETER_NAME = Matches(r"[a-z_][a-z0-9_.]{0,62}", "a PostgreSQL parameter name")
_UNMANAGED = NotIn(MANAGED_SETTINGS, "it is managed by harmony_py; use the score's fields")
_ONE_LINE = Matches(r"[^\n\0]*", "a one-line string")


@dataclass(frozen=True)
class PostgreSQLScore(Score[PostgreSQL], Produces[PgEndpoint]):
    """A PostgreSQL cluster: server, port, settings, login roles and databases.

    Its output (``score.output()``, a ``Ref[PgEndpoint]``) is where the owner
    of its first database connects, the password a :class:`Secret`.

    ``cluster_name`` (the first argument) names the cluster on every host: its
    directory, and the key of its generated passwords.

    ``users`` are names or :class:`PgUser`; a user without a password gets a
    generated one, stored 0600 in the project's secret store and reused. On a
    replicated topology it is one primary with every other member streaming
    from it synchronously.

    Example::

        PostgreSQLScore("shop", databases=["orders"], users=[PgUser("app", databases=("orders",))],
                        settings={"max_connections": "200"})
    """

    cluster_name: Annotated[str, Identifier()]
    port: Annotated[int, Port()] = 5432
    databases: Annotated[Sequence[str], Each(Identifier(), of="names")] = ()
    users: Annotated[Sequence[PgUser | str], Each(_AsUser(), of="names or PgUser values")] = ()
    version: Annotated[int, Count(minimum=13)] = 15
    settings: Annotated[Mapping[str, str], Keys(_PARAMETER_NAME, _UNMANAGED), Values(_ONE_LINE)] = field(
        default_factory=dict
    )
    listen_addresses: Annotated[Sequence[str], Each(_ListenAddress(), of="addresses"), NonEmpty()] = ("127.0.0.1",)
    allowed_networks: Annotated[Sequence[str], Each(IpNetwork(), of="networks"), NonEmpty()] = ("127.0.0.1/32",)
    tls: bool | None = None
    """TLS with certificates from a private CA of the cluster (replication logs in by certificate,
    clients with verify-full); None or False: off (adr/0095 says why it is not on by default yet)."""
    tls_rotate_before: timedelta | None = timedelta(days=30)
    """Re-issue a certificate on deploy when it expires within this (reloaded, no restart)."""

    def __post_init__(self) -> None:
        validate(self)
        seen = [user.name for user in self.pg_users]
        if len(set(seen)) != len(seen) or "postgres" in seen:
            raise ScoreValueError(f"PostgreSQLScore.users must be distinct and not 'postgres', got {seen}")
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))

    @property
    def pg_users(self) -> tuple[PgUser, ...]:
        """The users as PgUser values (validation turned each name into one)."""
        return tuple(user if isinstance(user, PgUser) else PgUser(user) for user in self.users)

    def __hash__(self) -> int:
        return hash((self.cluster_name, self.port, self.version))

    @property
    def config(self) -> PgConfig:
        return PgConfig(
            name=self.cluster_name,
            port=self.port,
            version=self.version,
            listen_addresses=tuple(self.listen_addresses),
            databases=tuple(self.databases),
            users=self.pg_users,
            settings=dict(self.settings),
            allowed_networks=tuple(self.allowed_networks),
            tls=self.tls,
            tls_rotate_before=self.tls_rotate_before,
        )

    @property
    def name(self) -> str:
        return f"PostgreSQLScore({self.cluster_name}:{self.port})"

    @property
    def endpoint_database(self) -> str | None:
        """The database the output points at: the first one some user owns."""
        config = self.config
        owned = [database for database in config.databases if config.owner_of(database) != "postgres"]
        return owned[0] if owned else None

    def output(self) -> Ref[PgEndpoint]:
        if self.endpoint_database is None:
            raise ScoreValueError(
                f"{self.name} has no output: it needs a database owned by a user "
                "(PgUser(name, databases=(database,))); the superuser's password is never handed out"
            )
        return super().output()

    def interpret(self) -> PostgreSQLInterpret:
        return PostgreSQLInterpret(self.config, self.endpoint_database)


class PostgreSQLInterpret(ProducingInterpret[PostgreSQL, PgEndpoint]):
    def __init__(self, config: PgConfig, endpoint_database: str | None = None) -> None:
        self.config = config
        self.endpoint_database = endpoint_database

    async def plan(self, topology: PostgreSQL) -> Sequence[Change]:
        return await topology.postgresql().plan(self.config)

    async def apply(self, topology: PostgreSQL) -> Outcome:
        changes = await topology.postgresql().deploy(self.config)
        return Outcome.changed(changes) if changes else Outcome.noop()

    async def output(self, topology: PostgreSQL) -> PgEndpoint | None:
        if self.endpoint_database is None:
            return None
        return await topology.postgresql().endpoint(self.config, self.endpoint_database)


# -- the primary of a replicated cluster -------------------------------------------

Mode = PrimaryChange


@dataclass(frozen=True)
class _PrimaryScore(Score[PostgreSQLCluster]):
    cluster: Annotated[PostgreSQLScore, InstanceOf(PostgreSQLScore)]
    to: Annotated[str, Matches(r".+", "a member's label, e.g. 'replica' or 'site[0]'")]

    def __post_init__(self) -> None:
        validate(self)

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.cluster.cluster_name} -> {self.to})"

    def interpret(self) -> PrimaryInterpret:
        mode: Mode = "failover" if isinstance(self, PostgreSQLFailoverScore) else "switchover"
        return PrimaryInterpret(self.cluster.config, self.to, mode)


@dataclass(frozen=True)
class PostgreSQLSwitchoverScore(_PrimaryScore):
    """Member ``to`` is the primary, reached by a planned switchover (no commit lost).

    The current primary stops taking writes, ``to`` replays everything, is
    promoted, and the old primary follows it. NOOP once ``to`` is the primary.
    On a topology with a ``witness`` the engine (Patroni) is asked for the
    switchover; it returns once ``to`` holds the leader key, the others stream
    from it and a commit on it is acknowledged.

    Example::

        cluster = PostgreSQLScore("shop", databases=["orders"])
        PostgreSQLSwitchoverScore(cluster, to="replica")
    """


@dataclass(frozen=True)
class PostgreSQLFailoverScore(_PrimaryScore):
    """Member ``to`` is the primary, even if the current primary is gone.

    Every member that is not a streaming replica is fenced (stopped, and able
    to restart only read-only); ``to`` is promoted. Applying the cluster's
    PostgreSQLScore again rejoins fenced members as replicas with pg_rewind.
    On a topology with a ``witness`` it is for what the engine does not decide
    by itself: Patroni is asked to promote ``to`` and fences the old primary
    (without the leader key it restarts only as a replica); without an etcd
    quorum it is refused, naming what to bring back (adr/0085).

    Example::

        cluster = PostgreSQLScore("shop", databases=["orders"])
        PostgreSQLFailoverScore(cluster, to="site[1]")
    """


class PrimaryInterpret(Interpret[PostgreSQLCluster]):
    def __init__(self, config: PgConfig, to: str, mode: Mode) -> None:
        self.config, self.to, self.mode = config, to, mode

    async def plan(self, topology: PostgreSQLCluster) -> Sequence[Change]:
        return await topology.postgresql().plan_primary(self.config, self.to, self.mode)

    async def apply(self, topology: PostgreSQLCluster) -> Outcome:
        if not await self.plan(topology):
            # Already the primary, and nothing to do about it here; but "nothing to do"
            # is said only when the promises of a primary hold (a commit would hang otherwise).
            unkept = await self.verify(topology)
            if unkept:
                return Outcome.failed(
                    f"{self.to} is the primary, but " + "; ".join(c.summary for c in unkept)
                    + ": apply the cluster's PostgreSQLScore to make its members follow it"
                )
            return Outcome.noop(f"{self.to} is already the primary")
        if self.mode == "failover":
            changes = await topology.postgresql().failover(self.config, self.to)
        else:
            changes = await topology.postgresql().switchover(self.config, self.to)
        return Outcome.changed(changes, f"{self.mode} to {self.to} done") if changes else Outcome.noop()

    async def verify(self, topology: PostgreSQLCluster) -> Sequence[Change]:
        """What still differs from the promise of a primary, observed afresh: ``to`` is the one
        primary, every replica streams from it, and each of its synchronous standbys streams
        as one (so a commit is acknowledged). The switchover and failover themselves wait for
        this and also commit a transaction before they report success."""
        return primary_promises_unkept(await topology.postgresql().status(self.config), self.to)


def primary_promises_unkept(status: ClusterStatus, to: str) -> list[Change]:
    """What differs from "``to`` is the one primary, its replicas stream from it, the synchronous ones in sync"."""
    lead = status.member(to)
    where = f"{lead.label} ({lead.address})"
    if lead.state.role is not ReplicationRole.PRIMARY:
        return [Change(ChangeAction.RUN, where, f"{to}: is {lead.state.role.value}, not the primary")]
    unkept = [
        Change(ChangeAction.RUN, f"{m.label} ({m.address})", f"{m.label}: is a primary too")
        for m in status.primaries if m.label != to
    ]  # fmt: skip
    for member in status.members:
        if member.state.role is ReplicationRole.REPLICA and member.state.upstream != lead.address:
            upstream = member.state.upstream or "nothing"
            unkept.append(
                Change(ChangeAction.UPDATE, f"{member.label} ({member.address})",
                       f"{member.label}: streams from {upstream}, not from {to}")
            )  # fmt: skip
    streaming = {s.name: s for s in lead.state.standbys if s.state == "streaming"}
    for name in lead.state.sync_standbys:
        seen = streaming.get(name)
        if seen is None:
            unkept.append(
                Change(ChangeAction.UPDATE, where,
                       f"{to}: synchronous standby {name} does not stream from it (every commit waits for it)")
            )  # fmt: skip
        elif seen.sync_state not in ("sync", "quorum"):
            summary = f"{to}: standby {name} is {seen.sync_state}, not synchronous"
            unkept.append(Change(ChangeAction.UPDATE, where, summary))
    return unkept


@dataclass(frozen=True)
class PostgreSQLStatusScore(Score[PostgreSQLCluster]):
    """Report which member is primary, replication state and lag. Changes nothing.

    Example::

        PostgreSQLStatusScore(PostgreSQLScore("shop", databases=["orders"]))
    """

    cluster: PostgreSQLScore

    @property
    def name(self) -> str:
        return f"PostgreSQLStatusScore({self.cluster.cluster_name})"

    def interpret(self) -> StatusInterpret:
        return StatusInterpret(self.cluster.config)


class StatusInterpret(Interpret[PostgreSQLCluster]):
    def __init__(self, config: PgConfig) -> None:
        self.config = config

    async def plan(self, topology: PostgreSQLCluster) -> Sequence[Change]:
        return []

    async def apply(self, topology: PostgreSQLCluster) -> Outcome:
        status: ClusterStatus = await topology.postgresql().status(self.config)
        # A line per member for human output, "primary (host:port): primary, standbys [...]"; the message has them all.
        lines = (ClusterStatus((m,)).summary().partition(": ") for m in status.members)
        details = {member: state for member, _, state in lines}
        if status.notes:
            # What the HA engine says of the whole cluster (leader key, etcd quorum, no synchronous standby).
            details["cluster"] = "; ".join(status.notes)
        return Outcome(InterpretStatus.NOOP, status.summary(), details=details)
