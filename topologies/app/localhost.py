"""ApplicationRuntime for this machine: supervised processes, or containers behind the balancer.

``LocalhostTopology.application_runtime()`` returns a
:class:`~topologies.app.runtime.HostApplicationRuntime` built here;
``app_runtime`` chooses how applications run:

- ``"process"`` (the default, for debugging on one machine): the contract's
  command runs in its source directory as a runit-supervised process
  (:mod:`topologies.app.processes`), through the host's command runner; no
  container engine is needed.
- ``"docker"``: the contract's image runs as replicated containers behind the
  host's nginx balancer (:mod:`topologies.app.containers`), as on a
  Docker host in production. ``app_host_paths`` are bind-mounted read-only
  into every container (a developer machine sharing its toolchain; adr/0056).

Either way the application answers on ``app_address:<port>``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from harmony_py.errors import ScoreValueError

if TYPE_CHECKING:
    from capabilities.command_runner import CommandRunnerService
    from capabilities.load_balancer import DockerWithLoadBalancer

    from .runtime import HostApplicationRuntime

AppRuntimeKind = Literal["process", "docker"]
__all__ = ["AppRuntimeKind", "LocalApplications"]


@dataclass(frozen=True)
class LocalApplications:
    """How this machine runs applications: the ``app_*`` settings of ``LocalhostTopology``."""

    kind: AppRuntimeKind = "process"
    address: str = "127.0.0.1"
    root: str = "/var/lib/harmony/apps"
    host_paths: tuple[str, ...] = ()
    backend_ports: range = range(20000, 21000)
    start_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in ("process", "docker"):
            raise ScoreValueError(f"app_runtime must be 'process' or 'docker', got {self.kind!r}")
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            raise ScoreValueError(f"app_address must be an IP address, got {self.address!r}") from None

    def runtime(self, name: str, runner: CommandRunnerService, host: DockerWithLoadBalancer) -> HostApplicationRuntime:
        """The runtime of host ``name``: processes through ``runner``, or containers on ``host``'s engine and balancer."""
        # Imported here, not when LocalhostTopology is made: a plan that runs no application
        # does not load the container scores or http.client (adr/0106).
        from .containers import ReplicatedContainers
        from .processes import SupervisedProcesses
        from .runtime import HostApplicationRuntime

        platform = f"{name} ({self.kind} runtime)"
        if self.kind == "docker":
            containers = ReplicatedContainers(
                host, self.address, self.backend_ports, self.host_paths, self.start_timeout_s, files=runner, root=self.root
            )
            return HostApplicationRuntime(containers, platform)
        return HostApplicationRuntime(SupervisedProcesses(runner, self.root, self.address, self.start_timeout_s), platform)
