"""Topologies: concrete places scores run, and higher-order wrappers of them.

Adapters for SSH, Docker and Kubernetes import their libraries lazily, so
importing this package stays light.
"""

from typing import TYPE_CHECKING

from harmony_py.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .app.topology import ApplicationTopology
    from .docker.topology import DockerTopology
    from .host.host_group import HostGroup, linux_hosts
    from .host.linux_host import LinuxHostTopology
    from .host.local_instance import LocalInstance
    from .host.localhost import LocalhostTopology
    from .k8s.anywhere import K8sAnywhereTopology
    from .replicated.failover import FailoverTopology
    from .replicated.multisite import MultisiteTopology
    from .replicated.sharded import ShardedTopology

# Each topology's module is imported when first used (adr/0106): a file on localhost does not
# load the Kubernetes, Docker or replicated topologies, and asyncssh (under the SSH host and
# group) and the kubernetes client (imported by K8sAnywhereTopology on first use) stay unloaded.
_LAZY = {
    "ApplicationTopology": ".app.topology",
    "DockerTopology": ".docker.topology",
    "HostGroup": ".host.host_group",
    "linux_hosts": ".host.host_group",
    "LinuxHostTopology": ".host.linux_host",
    "LocalInstance": ".host.local_instance",
    "LocalhostTopology": ".host.localhost",
    "K8sAnywhereTopology": ".k8s.anywhere",
    "FailoverTopology": ".replicated.failover",
    "MultisiteTopology": ".replicated.multisite",
    "ShardedTopology": ".replicated.sharded",
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(globals(), _LAZY)


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
