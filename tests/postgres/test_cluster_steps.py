"""The replicated deploy is ordered steps run by the server's runner (issue 12, "One engine").

No server runs here: each member is a small in-memory server that records what
the cluster walk asks of it, so the tests state which calls a plan and a deploy make, and when.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import anyio

from capabilities.postgresql import (
    PgConfig,
    ReplicationRole,
    ReplicationSource,
    ReplicationState,
    StandbyInfo,
)
from harmony_py.values import Change
from topologies.postgres.cluster import ReplicatedPostgreSQL

Log = list[str]


@dataclass
class RecordingServer:
    """One member: its state, and every call logged; ``deploy`` starts it (the primary ``upstream`` is given)."""

    label: str
    port: int
    log: Log
    state: ReplicationState
    starts_as: ReplicationState

    async def address(self, config: PgConfig) -> str:
        return f"127.0.0.1:{self.port}"

    async def replication(self, config: PgConfig) -> ReplicationState:
        self.log.append(f"{self.label} status")
        return self.state

    async def plan(self, config: PgConfig) -> list[Change]:
        self.log.append(f"{self.label} plan")
        return []

    async def deploy(self, config: PgConfig) -> list[Change]:
        self.log.append(f"{self.label} deploy")
        self.state = self.starts_as
        return []

    async def set_standbys(self, config: PgConfig, standbys: tuple[str, ...], slots: tuple[str, ...]) -> None:
        self.log.append(f"{self.label} standbys {standbys}")
        streaming = tuple(StandbyInfo(name, "streaming", "sync", 0) for name in standbys)
        self.state = replace(self.state, sync_standbys=standbys, slots=slots, standbys=streaming)

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"{self.label}: the walk asked for {name}")


def _cluster(log: Log) -> ReplicatedPostgreSQL:
    stopped = ReplicationState(ReplicationRole.STOPPED)
    primary = RecordingServer("primary", 5432, log, stopped, ReplicationState(ReplicationRole.PRIMARY))
    replica = RecordingServer(
        "replica", 5433, log, stopped, ReplicationState(ReplicationRole.REPLICA, upstream="127.0.0.1:5432")
    )
    return ReplicatedPostgreSQL(["primary", "replica"], [primary, replica])  # type: ignore[list-item]  # a recording fake of the protocol's used part


def test_a_plan_of_a_shut_down_cluster_lists_its_starts_and_converges_nothing() -> None:
    log: Log = []
    planned = anyio.run(_cluster(log).plan, PgConfig("app"))
    assert [change.summary for change in planned] == ["primary: start PostgreSQL", "replica: start PostgreSQL"]
    assert sorted(log) == ["primary status", "replica status"]


def test_a_deploy_of_a_shut_down_cluster_starts_it_then_plans_the_members_on_what_runs() -> None:
    log: Log = []
    made = anyio.run(_cluster(log).deploy, PgConfig("app"))
    assert [change.summary for change in made] == [
        "primary: start PostgreSQL",
        "replica: start PostgreSQL",
        "primary: synchronous standbys -> replica (every commit waits for all)",
    ]
    started = log.index("replica deploy")
    assert log[: started + 1][-2:] == ["primary deploy", "replica deploy"]
    # Observed again once started: the members step sees a primary and a streaming replica.
    assert sorted(log[started + 1 : started + 3]) == ["primary status", "replica status"]
    assert sorted(log[started + 3 : started + 5]) == ["primary plan", "replica plan"]
    assert log[started + 5] == "primary standbys ('replica',)"
