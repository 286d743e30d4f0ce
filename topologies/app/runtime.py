"""ApplicationRuntime for one host, whatever runs the applications on it and however it is reached.

:class:`HostApplications` is the part every host topology shares: it checks
the contract's version and hands the work to the host's runner of
applications (:class:`HostApps`): supervised processes
(:mod:`topologies.app.processes`) or replicated containers behind the
host's balancer (:mod:`topologies.app.containers`). A host mixin says
which, and what it is called (``LocalhostApplications`` on this machine,
``SshHostApplications`` on a host over SSH).

Nothing here reaches the application itself: the runner checks its health
where it runs (Docker's health status for containers, see adr/0065).
"""

from __future__ import annotations

from typing import Protocol

from capabilities.application import ApplicationRuntime, AppSpec, check_contract
from harmony_py.values import Change
from topologies.gap_hooks import asks_for

CONTRACTS = range(1, 2)
"""Application contract versions a host honours."""


class HostApps(Protocol):
    """How one host runs applications (supervised processes, replicated containers)."""

    def url(self, spec: AppSpec) -> str: ...

    async def plan(self, spec: AppSpec) -> list[Change]: ...

    async def deploy(self, spec: AppSpec) -> list[Change]: ...

    async def running(self, spec: AppSpec) -> bool: ...

    async def remove(self, spec: AppSpec) -> None: ...


class HostApplications:
    """Mixin for a host topology: provides ``ApplicationRuntime`` through the runner ``_apps()`` returns."""

    def _apps(self) -> HostApps:
        raise NotImplementedError

    def _platform_name(self) -> str:
        return type(self).__name__

    def application_contracts(self) -> range:
        return CONTRACTS

    async def plan_application(self, spec: AppSpec) -> list[Change]:
        check_contract(self._platform_name(), CONTRACTS, spec.name, spec.contract)
        return await self._apps().plan(spec)

    async def deploy_application(self, spec: AppSpec) -> list[Change]:
        check_contract(self._platform_name(), CONTRACTS, spec.name, spec.contract)
        return await self._apps().deploy(spec)

    async def application_url(self, spec: AppSpec) -> str | None:
        apps = self._apps()
        return apps.url(spec) if await apps.running(spec) else None

    async def remove_application(self, spec: AppSpec) -> None:
        """Stop the application and remove what runs it (not part of the capability; tests and tear-downs)."""
        await self._apps().remove(spec)


def includes_runtime(capability: type) -> bool:
    """Whether ``capability`` asks for what ``ApplicationRuntime`` provides (so the runner must work)."""
    return asks_for(capability, ApplicationRuntime)
