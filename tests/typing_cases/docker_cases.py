"""Type-level contract of Docker, LoadBalancer and the scores needing them.

Each expected error carries `# type: ignore[<code>]`; tests/test_typing_contracts.py
runs mypy --strict --warn-unused-ignores here, so a rejection that disappears
fails as an unused ignore.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from typing_extensions import assert_type

from capabilities import (
    BalancedService,
    Backend,
    ContainerInfo,
    ContainerSpec,
    Docker,
    DockerWithLoadBalancer,
    Frontend,
    DockerService,
    LoadBalancer,
    LoadBalancerService,
)
from harmony_py import Maestro, TopologyReport
from harmony_py.scores import ContainerScore, ReplicatedServiceScore
from topologies import DockerTopology, FailoverTopology, LinuxHostTopology, LocalhostTopology, MultisiteTopology


class AppliancePool:
    """The balancer service of an appliance (a LoadBalancerService)."""

    async def service(self, name: str) -> BalancedService | None:
        raise NotImplementedError

    async def balance(
        self, frontend: Frontend, backends: Sequence[Backend], *, drain_timeout_s: float = 30.0
    ) -> None:
        raise NotImplementedError

    async def remove(self, name: str, *, drain_timeout_s: float = 30.0) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class BalancerOnly:
    """A load balancer appliance: LoadBalancer without Docker."""

    name: str = "balancer"

    def load_balancer(self) -> AppliancePool:
        return AppliancePool()

    async def ensure_ready(self) -> TopologyReport:
        raise NotImplementedError


spec = ContainerSpec(name="web", image="web:1")
container = ContainerScore(spec)
service = ReplicatedServiceScore("web", "web:1", 3, 8080)
engine = DockerTopology("unix:///run/docker.sock")
local = LocalhostTopology()
remote = LinuxHostTopology("web1", docker_socket="/run/docker.sock", balancer_root="/srv/harmony/nginx")

# ContainerScore needs Docker: an engine, or a host with one.
Maestro(engine).add(container)
Maestro(local).add(container)
# Docker is not lifted onto higher-order topologies (adr/0062): one topology per engine.
Maestro(FailoverTopology(engine, engine)).add(container)  # type: ignore[arg-type]
Maestro(MultisiteTopology(local, (local,))).add(container)  # type: ignore[arg-type]

# ReplicatedServiceScore needs Docker and LoadBalancer together.
Maestro(local).add(service)
# A host over SSH: its engine through the connection, nginx on the host.
Maestro(remote).add(service)
Maestro(remote).add(container, service)
Maestro(engine).add(service)  # type: ignore[arg-type]
Maestro(BalancerOnly()).add(service)  # type: ignore[arg-type]
Maestro(BalancerOnly()).add(container)  # type: ignore[arg-type]
# A failover runs no containers and balances nothing itself.
Maestro(FailoverTopology(local, local)).add(service)  # type: ignore[arg-type]

# The combined protocol is each capability, and only both make it.
engine_only: Docker = engine
both: DockerWithLoadBalancer = local
as_balancer: LoadBalancer = local
remote_both: DockerWithLoadBalancer = remote
pool: LoadBalancerService = AppliancePool()
not_both: DockerWithLoadBalancer = engine  # type: ignore[assignment]
not_docker: Docker = BalancerOnly()  # type: ignore[assignment]
not_engine: DockerService = AppliancePool()  # type: ignore[assignment]


async def direct_calls() -> None:
    # A capability is one accessor; its service has the unprefixed methods.
    info = await engine.docker().run_container(spec)
    assert_type(info, ContainerInfo)
    assert_type(await local.docker().image_id("web:1"), str | None)
    assert_type(await local.load_balancer().service("web"), BalancedService | None)
    assert_type(await remote.load_balancer().service("web"), BalancedService | None)
    # The old flat methods are gone: the error names the topology, the fix is the accessor.
    await local.run_container(spec)  # type: ignore[attr-defined]
    await local.balanced_service("web")  # type: ignore[attr-defined]
    # A failover has no engine of its own, whatever its members are.
    FailoverTopology(engine, engine).docker()  # type: ignore[attr-defined]
    MultisiteTopology(local, (local,)).load_balancer()  # type: ignore[attr-defined]


# Scores and specs are frozen values.
spec.image = "web:2"  # type: ignore[misc]
service.replicas = 4  # type: ignore[misc]
