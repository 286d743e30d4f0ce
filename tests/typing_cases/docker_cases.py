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
    LoadBalancer,
)
from harmony_py import Maestro, TopologyReport
from harmony_py.scores import ContainerScore, ReplicatedServiceScore
from topologies import DockerTopology, FailoverTopology, LinuxHostTopology, LocalhostTopology, MultisiteTopology


@dataclass(frozen=True)
class BalancerOnly:
    """A load balancer appliance: LoadBalancer without Docker."""

    name: str = "balancer"

    async def balanced_service(self, service: str) -> BalancedService | None:
        raise NotImplementedError

    async def balance(
        self, frontend: Frontend, backends: Sequence[Backend], *, drain_timeout_s: float = 30.0
    ) -> None:
        raise NotImplementedError

    async def remove_balanced_service(self, service: str, *, drain_timeout_s: float = 30.0) -> None:
        raise NotImplementedError

    async def ensure_ready(self) -> TopologyReport:
        raise NotImplementedError


spec = ContainerSpec(name="web", image="web:1")
container = ContainerScore(spec)
service = ReplicatedServiceScore("web", "web:1", 3, 8080)
engine = DockerTopology("unix:///run/docker.sock")
local = LocalhostTopology()
remote = LinuxHostTopology("web1", docker_socket="/run/docker.sock", balancer_root="/srv/harmony/nginx")

# ContainerScore needs Docker: an engine, a host with one, and failovers of either.
Maestro(engine).add(container)
Maestro(local).add(container)
Maestro(FailoverTopology(engine, engine)).add(container)
Maestro(MultisiteTopology(local, (local,))).add(container)

# ReplicatedServiceScore needs Docker and LoadBalancer together.
Maestro(local).add(service)
# A host over SSH: its engine through the connection, nginx on the host.
Maestro(remote).add(service)
Maestro(remote).add(container, service)
Maestro(engine).add(service)  # type: ignore[arg-type]
Maestro(BalancerOnly()).add(service)  # type: ignore[arg-type]
Maestro(BalancerOnly()).add(container)  # type: ignore[arg-type]
# A failover runs containers on each member but balances nothing itself.
Maestro(FailoverTopology(local, local)).add(service)  # type: ignore[arg-type]

# The combined protocol is each capability, and only both make it.
engine_only: Docker = engine
both: DockerWithLoadBalancer = local
as_balancer: LoadBalancer = local
remote_both: DockerWithLoadBalancer = remote
not_both: DockerWithLoadBalancer = engine  # type: ignore[assignment]
not_docker: Docker = BalancerOnly()  # type: ignore[assignment]


async def direct_calls() -> None:
    info = await FailoverTopology(engine, engine).run_container(spec)
    assert_type(info, ContainerInfo)
    assert_type(await FailoverTopology(engine, engine).image_id("web:1"), str | None)
    assert_type(await local.balanced_service("web"), BalancedService | None)
    # A failover of topologies without Docker has no containers to run.
    await FailoverTopology(BalancerOnly(), BalancerOnly()).run_container(spec)  # type: ignore[arg-type]
    await FailoverTopology(BalancerOnly(), BalancerOnly()).start_container("web")  # type: ignore[arg-type]


# Scores and specs are frozen values.
spec.image = "web:2"  # type: ignore[misc]
service.replicas = 4  # type: ignore[misc]
