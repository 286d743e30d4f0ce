"""Topologies: concrete places scores run, and higher-order wrappers of them.

Adapters for SSH, Docker and Kubernetes import their libraries lazily, so
importing this package stays light.
"""

from .docker_engine import DockerTopology
from typing import TYPE_CHECKING, Any

from .application_topology import ApplicationTopology
from .failover import FailoverTopology
from .k8s_anywhere import K8sAnywhereTopology  # imports the kubernetes client lazily, on first use
from .local_instance import LocalInstance
from .localhost import LocalhostTopology
from .markers import NotDocker, NotK8sClient, NotPostgreSQL
from .multisite import MultisiteTopology

if TYPE_CHECKING:
    from .host_group import HostGroup, linux_hosts
    from .linux_host import LinuxHostTopology

# These import asyncssh: loaded on first use, so `import topologies` stays light.
_LAZY = {
    "LinuxHostTopology": ".linux_host",
    "HostGroup": ".host_group",
    "linux_hosts": ".host_group",
}


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
    "NotDocker",
    "NotK8sClient",
    "NotPostgreSQL",
    "linux_hosts",
]
