"""ApplicationPlatform for a Linux host over SSH: replicated containers behind nginx, PostgreSQL beside them.

``LinuxHostTopology`` gets the application runtime from
:class:`SshHostApplications` (one of its bases), and PostgreSQL from its
``postgresql()`` service (``topologies.postgres.host.HostPostgreSQL``): together an ``ApplicationPlatform``, so an
``ApplicationScore`` applies to one host unchanged (adr/0065).

- The application is the contract's image as replicated containers behind
  the host's nginx balancer: :class:`~topologies.app.containers.ReplicatedContainers`,
  the runtime of a Docker host, driven through the engine's socket forwarded
  over the SSH connection and the balancer's commands run over it. Replicas
  are judged healthy by Docker's health status, which the engine checks inside
  each container on the host: nothing has to reach the host from here.
- The balancer listens on ``app_address``, by default the address harmony_py
  reaches the host at (which must then be an IP address).
- The database is PostgreSQL on the same host. A server that listens on
  loopback only (the default) can be reached from that host only, so its
  endpoint names that loopback address: the application's containers share
  the host's network and connect there (adr/0066). A server listening
  elsewhere keeps the host's advertised address (adr/0025).
- Or the database is on other hosts (``ApplicationTopology(runtime=host,
  database=FailoverTopology[LinuxHostTopology](a, b))``): the application's
  contract says nothing of networks, so each database host says where its
  servers listen and whom they accept: ``postgres_listen`` replaces a score's
  loopback-only listen addresses, ``postgres_networks`` is added to its allowed
  networks (adr/0067).

The host needs a Docker engine: one that does not answer makes the capability
check refuse application scores with the reason, before anything changes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import cast

from capabilities.load_balancer import DockerWithLoadBalancer
from harmony_py.errors import ScoreValueError
from topologies.gap_hooks import inherited_gaps

from .containers import ReplicatedContainers
from .runtime import HostApplications, includes_runtime


@dataclasses.dataclass(frozen=True, kw_only=True)
class SshHostApplications(HostApplications):
    """Mixin for an SSH host topology (``host``, Docker, a balancer, PostgreSQL): provides ``ApplicationRuntime``.

    ``app_host_paths`` are host directories bind-mounted read-only into every
    replica; ``app_backend_ports`` the ports replicas listen on (127.0.0.1).
    """

    app_address: str | None = None
    app_host_paths: tuple[str, ...] = ()
    app_backend_ports: range = range(20000, 21000)
    app_start_timeout_s: float = 30.0
    postgres_listen: tuple[str, ...] = ()
    """Where this host's PostgreSQL servers listen when a score asks for loopback only (empty: as the score says)."""
    postgres_networks: tuple[str, ...] = ()
    """Networks (CIDR) this host's PostgreSQL servers accept besides the score's own (see ``HostPlacement``)."""

    def _app_address(self) -> str:
        address = self.app_address if self.app_address is not None else str(getattr(self, "host", ""))
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ScoreValueError(
                f"{getattr(self, 'name', type(self).__name__)}: applications are served on an IP address of the host, "
                f"got {address!r}; set app_address to the address the balancer should listen on"
            ) from None
        return address

    def _apps(self) -> ReplicatedContainers:
        return ReplicatedContainers(
            cast(DockerWithLoadBalancer, self),
            self._app_address(),
            self.app_backend_ports,
            tuple(self.app_host_paths),
            self.app_start_timeout_s,
        )

    def _platform_name(self) -> str:
        return f"{getattr(self, 'name', type(self).__name__)} (containers over SSH)"

    def capability_gaps(self, capability: type) -> list[str]:
        """The host's own answer, plus: applications need the engine the last probe found (ensure_ready asks it)."""
        gaps = inherited_gaps(super(), self, capability)
        link = getattr(self, "_docker_link", None)
        problem = getattr(link, "problem", None)
        if not gaps and problem is not None and includes_runtime(capability):
            gaps.append(f"applications run in containers here, but {problem}")
        return gaps
