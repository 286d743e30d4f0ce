"""Type-level contract of the core: what mypy must accept and what it must reject.

Each expected error carries `# type: ignore[<code>]`; tests/test_typing_contracts.py
runs mypy --strict --warn-unused-ignores here, so a rejection that disappears
fails as an unused ignore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from typing_extensions import assert_type

from capabilities import (
    CommandRunner,
    PgConfig,
    PgEndpoint,
    PostgreSQL,
    ReplicationSource,
    ReplicationState,
)
from harmony_py import Interpret, Maestro, Score, TopologyReport
from harmony_py.scores import CommandScore, DirectoryScore, FileScore
from topologies import FailoverTopology, LocalhostTopology, MultisiteTopology


class PostgreSQLMethods:
    """The PostgreSQL members (only their types matter here)."""

    async def deploy_postgres(self, config: PgConfig) -> PgEndpoint:
        raise NotImplementedError

    async def postgres_endpoint(self, config: PgConfig, database: str) -> PgEndpoint:
        raise NotImplementedError

    async def postgres_replication(self, config: PgConfig) -> ReplicationState:
        raise NotImplementedError

    async def follow_postgres(self, config: PgConfig, source: ReplicationSource) -> None:
        raise NotImplementedError

    async def promote_postgres(self, config: PgConfig) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class PgHost(PostgreSQLMethods, LocalhostTopology):
    """PostgreSQL and CommandRunner."""


@dataclass(frozen=True)
class PgOnly(PostgreSQLMethods):
    """PostgreSQL without CommandRunner."""

    name: str = "pg-only"

    async def ensure_ready(self) -> TopologyReport:
        raise NotImplementedError


@dataclass(frozen=True)
class NeedsPostgreSQL(Score[PostgreSQL]):
    def interpret(self) -> Interpret[PostgreSQL]:
        raise NotImplementedError


@runtime_checkable
class PostgreSQLWithCommands(PostgreSQL, CommandRunner, Protocol):
    """Both at once: a topology must provide both."""


@dataclass(frozen=True)
class NeedsBoth(Score[PostgreSQLWithCommands]):
    def interpret(self) -> Interpret[PostgreSQLWithCommands]:
        raise NotImplementedError


local = LocalhostTopology()
pg = PgHost()
config = PgConfig(name="main")

# Valid programs, with what mypy infers.
files = Maestro(local).add(DirectoryScore("/srv/app"), FileScore("/srv/app/conf", "x"))
assert_type(files, Maestro[LocalhostTopology])
assert_type(Maestro(local).add(CommandScore("true", unless="true")).add(), Maestro[LocalhostTopology])
assert_type(Maestro(pg).add(NeedsPostgreSQL(), FileScore("/etc/motd", "hi")), Maestro[PgHost])
assert_type(FailoverTopology(pg, pg), FailoverTopology[PgHost])
Maestro(FailoverTopology(pg, pg)).add(NeedsPostgreSQL())
Maestro(MultisiteTopology(pg, (pg, pg))).add(NeedsPostgreSQL())

# A PostgreSQL score on a topology without PostgreSQL.
Maestro(local).add(NeedsPostgreSQL())  # type: ignore[arg-type]

# On FailoverTopology[X] / MultisiteTopology[X]: accepted iff X has PostgreSQL.
Maestro(FailoverTopology(local, local)).add(NeedsPostgreSQL())  # type: ignore[arg-type]
Maestro(MultisiteTopology(local, (local,))).add(NeedsPostgreSQL())  # type: ignore[arg-type]

# A higher-order topology does not pass CommandRunner through: files go to a host.
Maestro(FailoverTopology(pg, pg)).add(FileScore("/etc/motd", "hi"))  # type: ignore[arg-type]

# A score needing two capabilities where only one is present.
Maestro(local).add(NeedsBoth())  # type: ignore[arg-type]
Maestro(pg).add(NeedsBoth())
Maestro(FailoverTopology(pg, pg)).add(NeedsBoth())  # type: ignore[arg-type]

# Mixed sub-topologies join to object, which has no capability ...
mixed = FailoverTopology(local, PgOnly())
assert_type(mixed, FailoverTopology[object])
Maestro(mixed).add(NeedsPostgreSQL())  # type: ignore[arg-type]
# ... and naming the parameter makes mypy check each member instead.
Maestro(FailoverTopology[PostgreSQL](pg, PgOnly())).add(NeedsPostgreSQL())
FailoverTopology[PostgreSQL](local, pg)  # type: ignore[arg-type]
Maestro(PgOnly()).add(NeedsBoth())  # type: ignore[arg-type]


async def direct_calls() -> None:
    endpoint = await FailoverTopology(pg, pg).deploy_postgres(config)
    assert_type(endpoint, PgEndpoint)
    # A direct capability call on a failover of a topology without it.
    await FailoverTopology(local, local).deploy_postgres(config)  # type: ignore[arg-type]
    await MultisiteTopology(local, (local,)).promote_postgres(config)  # type: ignore[arg-type]
    # (LocalhostTopology offers Docker, so PgOnly stands for a host without it.)
    await FailoverTopology(PgOnly(), PgOnly()).run_container(config)  # type: ignore[arg-type]
    await FailoverTopology(pg, pg).k8s_get("v1", "Pod", "x")  # type: ignore[arg-type]


# Scores are frozen values; maestro accepts only scores.
FileScore("/etc/motd", "hi").path = "/etc/issue"  # type: ignore[misc]
Maestro(local).add("not a score")  # type: ignore[arg-type]
