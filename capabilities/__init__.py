"""Capabilities: what a topology can do, as runtime-checkable Protocols.

Each names an industry concept, never a tool, so that swapping the tool
under a topology does not break the scores written against it. This package
holds Protocols and the plain values they exchange: no I/O, no adapters.
"""

from .command_runner import CommandResult, CommandRunner, FileKind, FileStat
from .docker import ContainerInfo, ContainerSpec, Docker, HealthCheck, Mount
from .k8s import K8sClient, Manifest
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
    "K8sClient",
    "Manifest",
    "Mount",
    "PgConfig",
    "PgEndpoint",
    "PgUser",
    "PostgreSQL",
    "ReplicationRole",
    "ReplicationSource",
    "ReplicationState",
]
