"""The base of higher-order topologies: one leader and its followers.

A capability accessor here exists for every ``ReplicatedTopology[T]``, but
each is two overloads: one whose ``self`` is ``ReplicatedTopology[<Capability>]``,
and a fallback taking a marker no caller has. mypy therefore accepts the call,
and the structural match against the capability Protocol, only when ``T``
provides the capability (see adr/0002). ``T_co`` must stay covariant and the
subclasses frozen for that to hold.

The run-time check mirrors it: :meth:`capability_gaps` asks each sub-topology.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, TypeVar, overload

import anyio

from capabilities.docker import ContainerInfo, ContainerSpec, Docker
from capabilities.k8s import K8sClient, Manifest, WatchEvent
from capabilities.postgresql import PostgreSQL, PostgreSQLCluster, PostgreSQLServer
from harmony_py.capability_check import capability_gaps, member_gaps, member_needs
from harmony_py.errors import MemberError, one_error
from harmony_py.topology import TopologyReport, close_topology
from topologies.postgres.cluster import ReplicatedPostgreSQL

from ._markers import _NotDocker, _NotK8sClient, _NotPostgreSQL

T_co = TypeVar("T_co", covariant=True)
R = TypeVar("R")

# What each member must provide for the topology to provide a capability
# (when it is not the capability itself).
_MEMBERS_NEED: dict[type, type] = {PostgreSQL: PostgreSQLServer, PostgreSQLCluster: PostgreSQLServer}


class ReplicatedTopology(Generic[T_co]):
    """A leader topology and follower topologies that mirror it."""

    @property
    @abstractmethod
    def leader(self) -> T_co:
        """The member that holds the writable copy."""

    @property
    @abstractmethod
    def followers(self) -> tuple[T_co, ...]:
        """The members that follow the leader."""

    @abstractmethod
    def member_labels(self) -> tuple[str, ...]:
        """A label per member, leader first, used in reports and errors."""

    @property
    def members(self) -> tuple[T_co, ...]:
        return (self.leader, *self.followers)

    @property
    def name(self) -> str:
        kinds = ", ".join(type(member).__name__ for member in self.members)
        return f"{type(self).__name__}[{kinds}]"

    async def ensure_ready(self) -> TopologyReport:
        reports = await _on_all(self, _ensure_ready)
        facts = {
            f"{label}.{key}": value
            for label, report in zip(self.member_labels(), reports)
            for key, value in report.facts.items()
        }
        return TopologyReport(self.name, facts)

    async def aclose(self) -> None:
        """Close what the members keep open (SSH connections); the Maestro calls it at the end."""
        for member in self.members:
            await close_topology(member)

    def capability_gaps(self, capability: type) -> list[str]:
        own = member_gaps(self, capability)
        if own:
            return own
        gaps = [
            f"{label}: {gap}"
            for label, member in zip(self.member_labels(), self.members)
            for needed in member_needs(capability, _MEMBERS_NEED)
            for gap in capability_gaps(member, needed)
        ]
        return list(dict.fromkeys(gaps))  # a part named by two needs is said once

    # -- PostgreSQL: one primary, streaming replicas (orchestration in topologies/postgres/cluster.py) --

    @overload
    def postgresql(self: ReplicatedTopology[PostgreSQLServer]) -> ReplicatedPostgreSQL: ...
    @overload
    def postgresql(self: ReplicatedTopology[object], members_not_postgresql_servers: _NotPostgreSQL) -> ReplicatedPostgreSQL: ...
    def postgresql(self: ReplicatedTopology[Any], members_not_postgresql_servers: Any = None) -> ReplicatedPostgreSQL:
        """The cluster of the members' PostgreSQL servers (``PostgreSQLCluster``), when they are servers."""
        return ReplicatedPostgreSQL(self.member_labels(), [member.postgresql() for member in self.members])

    # -- Docker: every member runs the same containers ---------------------

    @overload
    async def image_id(self: ReplicatedTopology[Docker], reference: str) -> str | None: ...
    @overload
    async def image_id(self: ReplicatedTopology[object], reference: _NotDocker) -> str | None: ...
    async def image_id(self: ReplicatedTopology[Any], reference: Any) -> str | None:
        # Present only when every member has it, so a plan shows what some member lacks.
        ids: list[str | None] = await _on_all(self, lambda member: member.image_id(reference))
        return None if None in ids else ids[0]

    @overload
    async def ensure_image(self: ReplicatedTopology[Docker], reference: str) -> str: ...
    @overload
    async def ensure_image(self: ReplicatedTopology[object], reference: _NotDocker) -> str: ...
    async def ensure_image(self: ReplicatedTopology[Any], reference: Any) -> str:
        ids: list[str] = await _on_all(self, lambda member: member.ensure_image(reference))
        return ids[0]

    @overload
    async def run_container(self: ReplicatedTopology[Docker], spec: ContainerSpec) -> ContainerInfo: ...
    @overload
    async def run_container(self: ReplicatedTopology[object], spec: _NotDocker) -> ContainerInfo: ...
    async def run_container(self: ReplicatedTopology[Any], spec: Any) -> ContainerInfo:
        infos: list[ContainerInfo] = await _on_all(self, lambda member: member.run_container(spec))
        return infos[0]

    @overload
    async def start_container(self: ReplicatedTopology[Docker], name: str) -> ContainerInfo: ...
    @overload
    async def start_container(self: ReplicatedTopology[object], name: _NotDocker) -> ContainerInfo: ...
    async def start_container(self: ReplicatedTopology[Any], name: Any) -> ContainerInfo:
        infos: list[ContainerInfo] = await _on_all(self, lambda member: member.start_container(name))
        return infos[0]

    @overload
    async def inspect_container(self: ReplicatedTopology[Docker], name: str) -> ContainerInfo | None: ...
    @overload
    async def inspect_container(self: ReplicatedTopology[object], name: _NotDocker) -> ContainerInfo | None: ...
    async def inspect_container(self: ReplicatedTopology[Any], name: Any) -> ContainerInfo | None:
        info: ContainerInfo | None = await self.leader.inspect_container(name)
        return info

    @overload
    async def stop_container(self: ReplicatedTopology[Docker], name: str, *, timeout_s: float = 10.0) -> None: ...
    @overload
    async def stop_container(
        self: ReplicatedTopology[object], name: _NotDocker, *, timeout_s: float = 10.0
    ) -> None: ...
    async def stop_container(self: ReplicatedTopology[Any], name: Any, *, timeout_s: float = 10.0) -> None:
        await _on_all(self, lambda member: member.stop_container(name, timeout_s=timeout_s))

    @overload
    async def remove_container(self: ReplicatedTopology[Docker], name: str) -> None: ...
    @overload
    async def remove_container(self: ReplicatedTopology[object], name: _NotDocker) -> None: ...
    async def remove_container(self: ReplicatedTopology[Any], name: Any) -> None:
        await _on_all(self, lambda member: member.remove_container(name))

    @overload
    async def list_containers(
        self: ReplicatedTopology[Docker], labels: Mapping[str, str]
    ) -> list[ContainerInfo]: ...
    @overload
    async def list_containers(self: ReplicatedTopology[object], labels: _NotDocker) -> list[ContainerInfo]: ...
    async def list_containers(self: ReplicatedTopology[Any], labels: Any) -> list[ContainerInfo]:
        infos: list[ContainerInfo] = await self.leader.list_containers(labels)
        return infos

    @overload
    async def wait_healthy(self: ReplicatedTopology[Docker], name: str, *, timeout_s: float) -> ContainerInfo: ...
    @overload
    async def wait_healthy(
        self: ReplicatedTopology[object], name: _NotDocker, *, timeout_s: float
    ) -> ContainerInfo: ...
    async def wait_healthy(self: ReplicatedTopology[Any], name: Any, *, timeout_s: float) -> ContainerInfo:
        infos: list[ContainerInfo] = await _on_all(
            self, lambda member: member.wait_healthy(name, timeout_s=timeout_s)
        )
        return infos[0]

    # -- K8sClient: every member cluster gets the same objects -------------

    @overload
    async def k8s_apply(
        self: ReplicatedTopology[K8sClient],
        manifest: Manifest,
        *,
        field_manager: str,
        dry_run: bool = False,
        force_conflicts: bool = False,
    ) -> dict[str, Any]: ...
    @overload
    async def k8s_apply(
        self: ReplicatedTopology[object],
        manifest: _NotK8sClient,
        *,
        field_manager: str,
        dry_run: bool = False,
        force_conflicts: bool = False,
    ) -> dict[str, Any]: ...
    async def k8s_apply(
        self: ReplicatedTopology[Any],
        manifest: Any,
        *,
        field_manager: str,
        dry_run: bool = False,
        force_conflicts: bool = False,
    ) -> dict[str, Any]:
        applied: list[dict[str, Any]] = await _on_all(
            self,
            lambda member: member.k8s_apply(
                manifest, field_manager=field_manager, dry_run=dry_run, force_conflicts=force_conflicts
            ),
        )
        return applied[0]

    @overload
    async def k8s_get(
        self: ReplicatedTopology[K8sClient], api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None: ...
    @overload
    async def k8s_get(
        self: ReplicatedTopology[object], api_version: _NotK8sClient, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None: ...
    async def k8s_get(
        self: ReplicatedTopology[Any], api_version: Any, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.leader.k8s_get(api_version, kind, name, namespace)
        return found

    @overload
    async def k8s_list(
        self: ReplicatedTopology[K8sClient],
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]: ...
    @overload
    async def k8s_list(
        self: ReplicatedTopology[object],
        api_version: _NotK8sClient,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]: ...
    async def k8s_list(
        self: ReplicatedTopology[Any],
        api_version: Any,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self.leader.k8s_list(api_version, kind, namespace, label_selector)
        return found

    @overload
    async def k8s_delete(
        self: ReplicatedTopology[K8sClient], api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> bool: ...
    @overload
    async def k8s_delete(
        self: ReplicatedTopology[object], api_version: _NotK8sClient, kind: str, name: str, namespace: str | None = None
    ) -> bool: ...
    async def k8s_delete(
        self: ReplicatedTopology[Any], api_version: Any, kind: str, name: str, namespace: str | None = None
    ) -> bool:
        deleted: list[bool] = await _on_all(
            self, lambda member: member.k8s_delete(api_version, kind, name, namespace)
        )
        return any(deleted)

    @overload
    def k8s_watch(
        self: ReplicatedTopology[K8sClient],
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        name: str | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]]: ...
    @overload
    def k8s_watch(
        self: ReplicatedTopology[object],
        api_version: _NotK8sClient,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        name: str | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]]: ...
    def k8s_watch(
        self: ReplicatedTopology[Any],
        api_version: Any,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        name: str | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]]:
        # The leader's objects are the ones reads report; followers mirror them.
        watch: AbstractAsyncContextManager[AsyncIterator[WatchEvent]] = self.leader.k8s_watch(
            api_version, kind, namespace, label_selector, name=name
        )
        return watch

    @overload
    async def k8s_wait(
        self: ReplicatedTopology[K8sClient],
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        condition: str,
        timeout_s: float,
    ) -> dict[str, Any]: ...
    @overload
    async def k8s_wait(
        self: ReplicatedTopology[object],
        api_version: _NotK8sClient,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        condition: str,
        timeout_s: float,
    ) -> dict[str, Any]: ...
    async def k8s_wait(
        self: ReplicatedTopology[Any],
        api_version: Any,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        condition: str,
        timeout_s: float,
    ) -> dict[str, Any]:
        reached: list[dict[str, Any]] = await _on_all(
            self,
            lambda member: member.k8s_wait(
                api_version, kind, name, namespace, condition=condition, timeout_s=timeout_s
            ),
        )
        return reached[0]


async def _ensure_ready(member: Any) -> TopologyReport:
    report: TopologyReport = await member.ensure_ready()
    return report


async def _on_all(topology: ReplicatedTopology[Any], call: Callable[[Any], Awaitable[R]]) -> list[R]:
    """Run ``call`` on every member concurrently; results in member order.

    Every member runs to its end (one failing does not cancel the others), so
    a failure names each member that failed, by its label, one line each.
    """
    members, labels = topology.members, topology.member_labels()
    results: list[R | None] = [None] * len(members)
    failures: dict[int, MemberError] = {}

    async def one(index: int, member: Any) -> None:
        try:
            results[index] = await call(member)
        except Exception as exc:
            failures[index] = MemberError(labels[index], exc)

    async with anyio.create_task_group() as group:
        for index, member in enumerate(members):
            group.start_soon(one, index, member)
    if failures:
        raise one_error([failures[index] for index in sorted(failures)])
    return results  # type: ignore[return-value]
