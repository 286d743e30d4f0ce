"""PostgreSQL: a running PostgreSQL server cluster with roles, databases and replication."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from harmony_py.secret import Secret


@dataclass(frozen=True)
class PgUser:
    """A login role. With no password, one is generated once and kept in the secret store."""

    name: str
    password: Secret | None = None
    databases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PgConfig:
    """The desired shape of one PostgreSQL cluster."""

    name: str
    port: int = 5432
    version: int = 15
    listen_addresses: tuple[str, ...] = ("127.0.0.1",)
    databases: tuple[str, ...] = ()
    users: tuple[PgUser, ...] = ()
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PgEndpoint:
    """Where a client connects. The password stays a :class:`Secret`."""

    host: str
    port: int
    database: str
    user: str
    password: Secret


class ReplicationRole(enum.Enum):
    PRIMARY = "primary"
    REPLICA = "replica"
    STOPPED = "stopped"
    ABSENT = "absent"


@dataclass(frozen=True)
class ReplicationSource:
    """The primary a replica streams from, and the role it authenticates as."""

    host: str
    port: int
    user: str
    password: Secret
    slot: str


@dataclass(frozen=True)
class ReplicationState:
    role: ReplicationRole
    upstream: str | None = None
    replay_lag_bytes: int | None = None
    sync_standbys: tuple[str, ...] = ()


@runtime_checkable
class PostgreSQL(Protocol):
    """A topology that can run PostgreSQL clusters.

    A topology implementing it promises that ``deploy_postgres`` converges a
    cluster to ``config`` idempotently (never re-initialising a data directory
    that holds data), that passwords are generated once and reused, and that
    no password is ever returned except inside a :class:`Secret`.
    """

    async def deploy_postgres(self, config: PgConfig) -> PgEndpoint:
        """Converge the cluster to ``config`` and return its endpoint."""
        ...

    async def postgres_endpoint(self, config: PgConfig, database: str) -> PgEndpoint:
        """The endpoint for ``database`` on the cluster ``config`` names."""
        ...

    async def postgres_replication(self, config: PgConfig) -> ReplicationState:
        """Whether the cluster is a primary or a replica, and how far behind."""
        ...

    async def follow_postgres(self, config: PgConfig, source: ReplicationSource) -> None:
        """Make the cluster a streaming replica of ``source``."""
        ...

    async def promote_postgres(self, config: PgConfig) -> None:
        """Promote a replica to a primary."""
        ...
