"""HostTopology: what every host topology is, this machine or a Linux host over SSH.

It declares the accessors a host provides, with the service Protocols they
return, and no behaviour: each host builds its own services by composition
(:class:`~topologies.host.localhost.LocalhostTopology` a
:class:`~topologies.host.local_runner.LocalCommandRunner`,
:class:`~topologies.host.linux_host.LinuxHostTopology` an
:class:`~topologies.host.ssh.runner.SshCommandRunner`). Being the common base
of the hosts, it is what mypy joins two different hosts to, so a pair of them
keeps what both provide.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

# For type checkers only: a host's own accessors declare what they return (adr/0110).
if TYPE_CHECKING:
    from capabilities.application import ApplicationRuntimeService
    from capabilities.command_runner import CommandRunnerService
    from capabilities.docker import DockerService
    from capabilities.load_balancer import LoadBalancerService
    from capabilities.postgresql import PostgreSQLServerService
    from harmony_py.topology import TopologyReport


class HostTopology(ABC):
    """A machine scores run on: provides ``CommandRunner`` through :meth:`command_runner` and
    ``ApplicationRuntime`` through :meth:`application_runtime` and ``PostgreSQLServer`` through :meth:`postgresql`."""

    @property
    @abstractmethod
    def name(self) -> str:
        """A short human name, shown in plans and errors."""

    @abstractmethod
    async def ensure_ready(self) -> TopologyReport:
        """Reach the machine and report its facts (the OS, the user)."""

    @abstractmethod
    def command_runner(self) -> CommandRunnerService:
        """The host's runner of programs and files, created once per topology object."""

    @abstractmethod
    def docker(self) -> DockerService:
        """The host's Docker engine (usable when one answers: ``capability_gaps`` says), created once."""

    @abstractmethod
    def load_balancer(self) -> LoadBalancerService:
        """The host's load balancer (an nginx instance of harmony_py's own)."""

    @abstractmethod
    def application_runtime(self) -> ApplicationRuntimeService:
        """The host's runner of applications (supervised processes, or containers behind its balancer)."""

    @abstractmethod
    def postgresql(self) -> PostgreSQLServerService:
        """The host's PostgreSQL server service, driven through :meth:`command_runner`."""
