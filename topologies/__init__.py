"""Topologies: concrete places scores run, and higher-order wrappers of them.

Adapters for SSH, Docker and Kubernetes import their libraries lazily, so
importing this package stays light.
"""

from typing import TYPE_CHECKING, Any

from .app.topology import ApplicationTopology
from .docker.topology import DockerTopology
from .host.local_instance import LocalInstance
from .host.localhost import LocalhostTopology
from .k8s.anywhere import K8sAnywhereTopology  # imports the kubernetes client lazily, on first use
from .replicated.failover import FailoverTopology
from .replicated.multisite import MultisiteTopology
from .replicated.sharded import ShardedTopology

if TYPE_CHECKING:
    from .host.host_group import HostGroup, linux_hosts
    from .host.linux_host import LinuxHostTopology

# These import asyncssh: loaded on first use, so `import topologies` stays light.
_LAZY = {
    "LinuxHostTopology": ".host.linux_host",
    "HostGroup": ".host.host_group",
    "linux_hosts": ".host.host_group",
}


if not TYPE_CHECKING:
    # Hidden from type checkers, which read the imports above instead: a module
    # __getattr__ would make them accept any name imported from this package.

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "ApplicationTopology",
    "DockerTopology",
    "FailoverTopology",
    "K8sAnywhereTopology",
    "LocalInstance",
    "HostGroup",
    "LinuxHostTopology",
    "LocalhostTopology",
    "MultisiteTopology",
    "ShardedTopology",
    "linux_hosts",
]
