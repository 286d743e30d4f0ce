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

A database over TLS has its CA certificate written on the host, in
``<root>/<name>/DATABASE_URL.root.crt`` (0644), through the host's command
runner; that directory is bind-mounted read-only into every replica at the
same path, and ``DATABASE_URL`` names the file (:mod:`topologies.app.authorities`).
The directory, not the file, is mounted: a rewritten certificate (a new file
renamed over the old) is seen by running replicas without a restart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from capabilities.application import AppSpec, PlacedEnvironment, authorities_beside
from capabilities.command_runner import CommandRunnerService
from capabilities.load_balancer import DockerWithLoadBalancer
from harmony_py.scores.application_containers import replicated_service
from harmony_py.scores.replicated_service import SERVICE_LABEL, ReplicatedServiceScore
from harmony_py.values import Change

from .authorities import authority_changes, write_authorities

DEFAULT_ROOT = "/var/lib/harmony/apps"


@dataclass(frozen=True)
class ReplicatedContainers:
    """The applications of one Docker host with a balancer, served on ``address``."""

    host: DockerWithLoadBalancer
    address: str
    backend_ports: range
    host_paths: tuple[str, ...] = ()
    start_timeout_s: float = 30.0
    files: CommandRunnerService | None = None
    """The host's command runner, which writes the files replicas mount (None: nothing is placed)."""
    root: str = DEFAULT_ROOT

    def directory(self, spec: AppSpec) -> str:
        return f"{self.root.rstrip('/')}/{spec.name}"

    def placed(self, spec: AppSpec) -> PlacedEnvironment:
        """The replicas' environment, database URLs verifying with CA files beside the application."""
        if self.files is None:
            return PlacedEnvironment(dict(spec.env), {})
        return authorities_beside(spec, self.directory(spec))

    def service(self, spec: AppSpec) -> ReplicatedServiceScore:
        placed = self.placed(spec)
        mounted = (self.directory(spec),) if placed.files else ()
        return replicated_service(
            dataclasses.replace(spec, env=placed.env),
            address=self.address,
            backend_ports=self.backend_ports,
            host_paths=(*self.host_paths, *mounted),
            start_timeout_s=self.start_timeout_s,
        )

    def url(self, spec: AppSpec) -> str:
        return f"http://{self.address}:{spec.port}"

    async def plan(self, spec: AppSpec) -> list[Change]:
        return [*await self._authority_changes(spec), *await self.service(spec).interpret().plan(self.host)]

    async def deploy(self, spec: AppSpec) -> list[Change]:
        # The certificate first: a replica started by this deploy connects with it at once.
        written = await self._authority_changes(spec)
        if written and self.files is not None:
            await self.files.make_directory(self.directory(spec), mode=0o755)
            await write_authorities(self.files, self.placed(spec).files, written)
        outcome = await self.service(spec).interpret().apply(self.host)
        return [*written, *outcome.changes]

    async def _authority_changes(self, spec: AppSpec) -> list[Change]:
        if self.files is None:
            return []
        return await authority_changes(self.files, spec, self.placed(spec).files)

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
