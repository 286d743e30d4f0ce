"""Topologies: concrete places scores run, and higher-order wrappers of them.

Adapters for SSH, Docker and Kubernetes import their libraries lazily, so
importing this package stays light.
"""

from .failover import FailoverTopology
from .local_instance import LocalInstance
from .localhost import LocalhostTopology
from .markers import NotDocker, NotK8sClient, NotPostgreSQL
from .multisite import MultisiteTopology

__all__ = [
    "FailoverTopology",
    "LocalInstance",
    "LocalhostTopology",
    "MultisiteTopology",
    "NotDocker",
    "NotK8sClient",
    "NotPostgreSQL",
]
