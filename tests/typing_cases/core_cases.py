"""Type-level contract of the core: what mypy must accept and what it must reject.

Each expected error carries `# type: ignore[<code>]`; tests/test_typing_contracts.py
runs mypy --strict --warn-unused-ignores here, so a rejection that disappears
fails as an unused ignore. The real topologies serve as examples: localhost
(CommandRunner, PostgreSQLServer, Docker, LoadBalancer), a Docker engine (Docker
only) and a Kubernetes cluster (K8sClient).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from typing_extensions import assert_type

from capabilities import CommandRunner, K8sClient, PgConfig, PostgreSQL, PostgreSQLServer
from harmony_py import Change, Interpret, Maestro, Score
from harmony_py.scores import CommandScore, DirectoryScore, FileScore, PostgreSQLScore
from topologies import DockerTopology, FailoverTopology, K8sAnywhereTopology, LocalhostTopology, MultisiteTopology


@runtime_checkable
class CommandsAndK8s(CommandRunner, K8sClient, Protocol):
    """Two capabilities at once: a topology must provide both."""


@dataclass(frozen=True)
class NeedsCommandsAndK8s(Score[CommandsAndK8s]):
    def interpret(self) -> Interpret[CommandsAndK8s]:
        raise NotImplementedError


MYPY = False
"""True for mypy only: mypy reads the name as always true, pyright's config defines it false."""

local = LocalhostTopology()
docker = DockerTopology()
cluster = K8sAnywhereTopology()
database = PostgreSQLScore("app", port=5433)
config = PgConfig("app")

# Valid programs, with what mypy infers.
files = Maestro(local).add(DirectoryScore("/srv/app"), FileScore("/srv/app/conf", "x"))
assert_type(files, Maestro[LocalhostTopology])
assert_type(Maestro(local).add(CommandScore("true", unless="true")).add(), Maestro[LocalhostTopology])
assert_type(FailoverTopology(local, local), FailoverTopology[LocalhostTopology])
assert_type(MultisiteTopology(local, (local, local)), MultisiteTopology[LocalhostTopology])
Maestro(local).add(database, FileScore("/etc/motd", "hi"))
Maestro(FailoverTopology(local, local)).add(database)
Maestro(MultisiteTopology(local, (local, local))).add(database)

# A PostgreSQL score on a topology without PostgreSQL.
Maestro(docker).add(database)  # type: ignore[arg-type]
Maestro(cluster).add(FileScore("/etc/motd", "hi"))  # type: ignore[arg-type]

# On FailoverTopology[X] / MultisiteTopology[X]: accepted iff X has it.
Maestro(FailoverTopology(docker, docker)).add(database)  # type: ignore[arg-type]
Maestro(MultisiteTopology(docker, (docker,))).add(database)  # type: ignore[arg-type]

# A higher-order topology does not pass CommandRunner through: files go to a host.
Maestro(FailoverTopology(local, local)).add(FileScore("/etc/motd", "hi"))  # type: ignore[arg-type]

# A score needing two capabilities where only one is present.
Maestro(local).add(NeedsCommandsAndK8s())  # type: ignore[arg-type]
Maestro(cluster).add(NeedsCommandsAndK8s())  # type: ignore[arg-type]

# Mixed sub-topologies: the checkers disagree by design (tests/test_typing_contracts.py, "if MYPY").
mixed = FailoverTopology(local, cluster)
if MYPY:  # mypy joins the members to object, which has no capability ...
    assert_type(mixed, FailoverTopology[object])
    Maestro(mixed).add(database)  # type: ignore[arg-type]
else:  # pyright keeps the union, and both members are PostgreSQL servers.
    assert_type(mixed, FailoverTopology[LocalhostTopology | K8sAnywhereTopology])
    Maestro(mixed).add(database)
# ... and naming the parameter makes mypy check each member instead.
Maestro(FailoverTopology[PostgreSQLServer](local, LocalhostTopology("b"))).add(database)
FailoverTopology[PostgreSQLServer](local, docker)  # type: ignore[arg-type]
as_capability: PostgreSQL = FailoverTopology(local, local)
not_capability: PostgreSQL = FailoverTopology(docker, docker)  # type: ignore[assignment]


async def direct_calls() -> None:
    assert_type(await FailoverTopology(local, local).postgresql().deploy(config), list[Change])
    # A direct capability call on a failover of a topology without it.
    await FailoverTopology(docker, docker).postgresql().deploy(config)  # type: ignore[call-arg]
    await MultisiteTopology(docker, (docker,)).postgresql().switchover(config, "site[0]")  # type: ignore[call-arg]
    FailoverTopology(local, local).docker()  # type: ignore[attr-defined]  # Docker is not lifted (adr/0062)
    FailoverTopology(local, local).k8s_client()  # type: ignore[attr-defined]


# Scores are frozen values; maestro accepts only scores.
FileScore("/etc/motd", "hi").path = "/etc/issue"  # type: ignore[misc]
Maestro(local).add("not a score")  # type: ignore[arg-type]
