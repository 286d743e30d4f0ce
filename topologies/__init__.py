"""Topologies: concrete places scores run, and higher-order wrappers of them.

Adapters for SSH, Docker and Kubernetes import their libraries lazily, so
importing this package stays light.
"""

from .docker_engine import DockerTopology
from .failover import FailoverTopology
from .k8s_anywhere import K8sAnywhereTopology  # imports the kubernetes client lazily, on first use
from .local_instance import LocalInstance
from .localhost import LocalhostTopology
from .markers import NotDocker, NotK8sClient, NotPostgreSQL
from .multisite import MultisiteTopology

__all__ = [
    "DockerTopology",
    "FailoverTopology",
    "K8sAnywhereTopology",
    "LocalInstance",
    "LocalhostTopology",
    "MultisiteTopology",
    "NotDocker",
    "NotK8sClient",
    "NotPostgreSQL",
]
