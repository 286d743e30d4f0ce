"""ApplicationPlatform for a Linux host over SSH: replicated containers behind nginx, PostgreSQL beside them.

``LinuxHostTopology.application_runtime()`` returns the runtime
:class:`RemoteApplications` builds, and the host provides PostgreSQL as
well: together an ``ApplicationPlatform``, so an ``ApplicationScore``
applies to one host unchanged (adr/0065).

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
  networks (adr/0067). Over TLS the database's CA certificate is written on
  the application's host and mounted into the replicas (adr/0100).

The host needs a Docker engine: one that does not answer makes the capability
check refuse application scores with the reason, before anything changes.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from capabilities.command_runner import CommandRunner
from capabilities.load_balancer import DockerWithLoadBalancer
from harmony_py.errors import ScoreValueError

from .containers import DEFAULT_ROOT, ReplicatedContainers
from .runtime import HostApplicationRuntime


@dataclasses.dataclass(frozen=True)
class RemoteApplications:
    """How an SSH host runs applications: the ``app_*`` settings of ``LinuxHostTopology``.

    ``address`` is where the balancer listens (``None``: the host's own
    address); ``host_paths`` are host directories bind-mounted read-only into
    every replica; ``backend_ports`` the ports replicas listen on (127.0.0.1).
    """

    address: str | None = None
    host_paths: tuple[str, ...] = ()
    backend_ports: range = range(20000, 21000)
    start_timeout_s: float = 30.0
    root: str = DEFAULT_ROOT
    """Where files the replicas mount live on the host (the database's CA certificate, by application)."""

    def runtime(self, name: str, host_address: str, host: DockerWithLoadBalancer) -> HostApplicationRuntime:
        """Replicated containers on ``host``'s engine behind its balancer."""
        address = self.address if self.address is not None else host_address
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ScoreValueError(
                f"{name}: applications are served on an IP address of the host, "
                f"got {address!r}; set app_address to the address the balancer should listen on"
            ) from None
        # The host writes the files replicas mount (the database's CA) through its command runner.
        files = host.command_runner() if isinstance(host, CommandRunner) else None
        containers = ReplicatedContainers(
            host, address, self.backend_ports, tuple(self.host_paths), self.start_timeout_s, files=files, root=self.root
        )
        return HostApplicationRuntime(containers, f"{name} (containers over SSH)")
