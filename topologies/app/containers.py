"""Applications as replicated containers behind the load balancer, on any Docker host.

An application is a :class:`~harmony_py.scores.ReplicatedServiceScore`: its
replicas are containers of the contract's image on the host network, each on
a backend port of its own, and the balancer serves them together on
``address:port``. Rolling updates, health checks and the NOOP rule are that
score's; the contract's translation is
:func:`harmony_py.scores.application_containers.replicated_service`, shared
with ``render`` (adr/0056).

Nothing here assumes the host is this machine: the engine and the balancer
are reached through the host topology (a local socket, or one forwarded over
SSH), and a replica's health is Docker's health status, checked by the
engine inside the container, so it is observed wherever the host is
(adr/0065).
"""

from __future__ import annotations

from dataclasses import dataclass

from capabilities.application import AppSpec
from capabilities.load_balancer import DockerWithLoadBalancer
from harmony_py.scores.application_containers import replicated_service
from harmony_py.scores.replicated_service import SERVICE_LABEL, ReplicatedServiceScore
from harmony_py.values import Change


@dataclass(frozen=True)
class ReplicatedContainers:
    """The applications of one Docker host with a balancer, served on ``address``."""

    host: DockerWithLoadBalancer
    address: str
    backend_ports: range
    host_paths: tuple[str, ...] = ()
    start_timeout_s: float = 30.0

    def service(self, spec: AppSpec) -> ReplicatedServiceScore:
        return replicated_service(
            spec,
            address=self.address,
            backend_ports=self.backend_ports,
            host_paths=self.host_paths,
            start_timeout_s=self.start_timeout_s,
        )

    def url(self, spec: AppSpec) -> str:
        return f"http://{self.address}:{spec.port}"

    async def plan(self, spec: AppSpec) -> list[Change]:
        return list(await self.service(spec).interpret().plan(self.host))

    async def deploy(self, spec: AppSpec) -> list[Change]:
        outcome = await self.service(spec).interpret().apply(self.host)
        return list(outcome.changes)

    async def running(self, spec: AppSpec) -> bool:
        """The balancer serves the application from at least one replica."""
        balanced = await self.host.load_balancer().service(spec.name)
        return balanced is not None and bool(balanced.backends)

    async def remove(self, spec: AppSpec) -> None:
        """Stop serving the application and remove its replicas."""
        await self.host.load_balancer().remove(spec.name, drain_timeout_s=2.0)
        engine = self.host.docker()
        for info in await engine.list_containers({SERVICE_LABEL: spec.name}):
            await engine.remove_container(info.name)
