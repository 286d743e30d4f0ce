"""ApplicationRuntime for one host, whatever runs the applications on it and however it is reached.

:class:`HostApplicationRuntime` is the service every host topology returns
from ``application_runtime()``: it checks the contract's version and hands
the work to the host's runner of applications (:class:`HostApps`):
supervised processes built on the host's command runner
(:mod:`topologies.app.processes`), or replicated containers behind the
host's balancer (:mod:`topologies.app.containers`). The host topology says
which, and what the platform is called in errors.

Nothing here reaches the application itself: the runner checks its health
where it runs (Docker's health status for containers, see adr/0065).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from capabilities.application import AppSpec, check_contract
from harmony_py.values import Change

CONTRACTS = range(1, 2)
"""Application contract versions a host honours."""


class HostApps(Protocol):
    """How one host runs applications (supervised processes, replicated containers)."""

    def url(self, spec: AppSpec) -> str: ...

    async def plan(self, spec: AppSpec) -> list[Change]: ...

    async def deploy(self, spec: AppSpec) -> list[Change]: ...

    async def running(self, spec: AppSpec) -> bool: ...

    async def remove(self, spec: AppSpec) -> None: ...


@dataclass(frozen=True)
class HostApplicationRuntime:
    """``ApplicationRuntimeService`` of one host: the contract checked, the work done by ``apps``.

    ``platform`` names the host and how it runs applications, in a refused
    contract's error (``localhost (process runtime)``).
    """

    apps: HostApps
    platform: str

    def contracts(self) -> range:
        return CONTRACTS

    async def plan(self, spec: AppSpec) -> list[Change]:
        check_contract(self.platform, CONTRACTS, spec.name, spec.contract)
        return await self.apps.plan(spec)

    async def deploy(self, spec: AppSpec) -> list[Change]:
        check_contract(self.platform, CONTRACTS, spec.name, spec.contract)
        return await self.apps.deploy(spec)

    async def url(self, spec: AppSpec) -> str | None:
        return self.apps.url(spec) if await self.apps.running(spec) else None

    async def remove(self, spec: AppSpec) -> None:
        """Stop the application and remove what runs it (not part of the capability; tests and tear-downs)."""
        await self.apps.remove(spec)
