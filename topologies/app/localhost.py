"""ApplicationRuntime for this machine: supervised processes, or containers behind the balancer.

``LocalhostTopology`` gets the capability from :class:`LocalhostApplications`
(one of its bases). ``app_runtime`` chooses how applications run:

- ``"process"`` (the default, for debugging on one machine): the contract's
  command runs in its source directory as a runit-supervised process
  (:mod:`topologies.app.processes`); no container engine is needed.
- ``"docker"``: the contract's image runs as replicated containers behind the
  host's nginx balancer (:mod:`topologies.app.containers`), as on a
  Docker host in production. ``app_host_paths`` are bind-mounted read-only
  into every container (a developer machine sharing its toolchain; adr/0056).

Either way the application answers on ``app_address:<port>``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal, cast

from capabilities.command_runner import CommandRunnerService
from capabilities.load_balancer import DockerWithLoadBalancer
from harmony_py.errors import ScoreValueError

from .containers import ReplicatedContainers
from .processes import SupervisedProcesses
from .runtime import CONTRACTS, HostApplications

AppRuntimeKind = Literal["process", "docker"]
__all__ = ["CONTRACTS", "AppRuntimeKind", "LocalhostApplications"]


@dataclass(frozen=True, kw_only=True)
class LocalhostApplications(HostApplications):
    """Mixin for a host topology: provides ``ApplicationRuntime``."""

    app_runtime: AppRuntimeKind = "process"
    app_address: str = "127.0.0.1"
    apps_root: str = "/var/lib/harmony/apps"
    app_host_paths: tuple[str, ...] = ()
    app_backend_ports: range = range(20000, 21000)
    app_start_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.app_runtime not in ("process", "docker"):
            raise ScoreValueError(f"app_runtime must be 'process' or 'docker', got {self.app_runtime!r}")
        try:
            ipaddress.ip_address(self.app_address)
        except ValueError:
            raise ScoreValueError(f"app_address must be an IP address, got {self.app_address!r}") from None
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()

    def command_runner(self) -> CommandRunnerService:
        """The host's command runner; the topology this mixin is part of provides it."""
        raise NotImplementedError

    def _apps(self) -> SupervisedProcesses | ReplicatedContainers:
        if self.app_runtime == "docker":
            return ReplicatedContainers(
                cast(DockerWithLoadBalancer, self),
                self.app_address,
                self.app_backend_ports,
                self.app_host_paths,
                self.app_start_timeout_s,
            )
        return SupervisedProcesses(self.command_runner(), self.apps_root, self.app_address, self.app_start_timeout_s)

    def _platform_name(self) -> str:
        return f"{type(self).__name__} ({self.app_runtime} runtime)"
