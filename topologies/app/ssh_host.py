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
  networks (adr/0067).

The host needs a Docker engine: one that does not answer makes the capability
check refuse application scores with the reason, before anything changes.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from capabilities.load_balancer import DockerWithLoadBalancer
from capabilities.postgresql import PgConfig, PgEndpoint
from harmony_py.errors import ScoreValueError
from topologies.postgres.host import is_loopback

from .containers import ReplicatedContainers
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
        containers = ReplicatedContainers(host, address, self.backend_ports, tuple(self.host_paths), self.start_timeout_s)
        return HostApplicationRuntime(containers, f"{name} (containers over SSH)")


def database_config(config: PgConfig, listen: tuple[str, ...], networks: tuple[str, ...]) -> PgConfig:
    """``config`` as a database host runs it: ``listen`` replaces loopback-only addresses, ``networks`` are added."""
    _check_network_settings(listen, networks)
    if listen and _only_loopback(config.listen_addresses) is not None:
        config = dataclasses.replace(config, listen_addresses=tuple(listen))
    if networks:
        config = dataclasses.replace(config, allowed_networks=tuple(dict.fromkeys((*config.allowed_networks, *networks))))
    return config


def loopback_endpoint(endpoint: PgEndpoint, config: PgConfig) -> PgEndpoint:
    """``endpoint`` at the server's loopback address when it listens nowhere else (adr/0066)."""
    loopback = _only_loopback(config.listen_addresses)
    return dataclasses.replace(endpoint, host=loopback) if loopback is not None else endpoint


def _only_loopback(addresses: tuple[str, ...]) -> str | None:
    """The first address when every one is a loopback address (``localhost`` included), else ``None``."""
    if not addresses or not all(is_loopback(address) for address in addresses):
        return None
    return "127.0.0.1" if addresses[0] == "localhost" else addresses[0]


def _check_network_settings(listen: tuple[str, ...], networks: tuple[str, ...]) -> None:
    for address in listen:
        if address not in ("*", "localhost"):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ScoreValueError(f"postgres_listen: {address!r} is not an IP address, '*' or 'localhost'") from None
    for network in networks:
        try:
            ipaddress.ip_network(network)
        except ValueError:
            raise ScoreValueError(f"postgres_networks: {network!r} is not a network such as 10.0.0.0/24") from None
