"""Capabilities: what a topology can do, as runtime-checkable Protocols.

Each names an industry concept, never a tool, so that swapping the tool
under a topology does not break the scores written against it. This package
holds Protocols and the plain values they exchange: no I/O, no adapters.
"""

from .command_runner import CommandResult, CommandRunner, FileKind, FileStat
from .docker import (
    ContainerError,
    ContainerInfo,
    ContainerSpec,
    Docker,
    HealthCheck,
    ImageNotFoundError,
    Mount,
    Port,
)
from .k8s import (
    ExecResult,
    ROLLOUT,
    K8sApiError,
    K8sClient,
    K8sConflictError,
    K8sError,
    K8sNotReadyError,
    K8sPodClient,
    K8sPods,
    K8sUnknownKindError,
    Manifest,
    WatchEvent,
)
from .load_balancer import (
    BalancedService,
    Backend,
    DockerWithLoadBalancer,
    Frontend,
    LoadBalancer,
    LoadBalancerError,
)
from .postgresql import (
    ClusterStatus,
    MemberStatus,
    PgConfig,
    PgEndpoint,
    PgUser,
    PostgreSQL,
    PostgreSQLCluster,
    PostgreSQLServer,
    ReplicationRole,
    ReplicationSource,
    ReplicationState,
    StandbyInfo,
)

__all__ = [
    "Backend",
    "BalancedService",
    "ContainerError",
    "DockerWithLoadBalancer",
    "Frontend",
    "ImageNotFoundError",
    "LoadBalancer",
    "LoadBalancerError",
    "Port",
    "ClusterStatus",
    "MemberStatus",
    "PostgreSQLCluster",
    "PostgreSQLServer",
    "StandbyInfo",
    "CommandResult",
    "CommandRunner",
    "ContainerInfo",
    "ContainerSpec",
    "Docker",
    "FileKind",
    "FileStat",
    "HealthCheck",
    "K8sApiError",
    "K8sClient",
    "K8sConflictError",
    "K8sError",
    "K8sNotReadyError",
    "K8sPodClient",
    "K8sPods",
    "K8sUnknownKindError",
    "ExecResult",
    "Manifest",
    "Mount",
    "PgConfig",
    "PgEndpoint",
    "PgUser",
    "PostgreSQL",
    "ReplicationRole",
    "ReplicationSource",
    "ReplicationState",
    "ROLLOUT",
    "WatchEvent",
]
