"""The scores that ship with harmony_py."""

from harmony_py.errors import ManifestError, UpdateFailedError, UpdateRolledBackError

from .application import ApplicationScore, ApplicationServiceScore, PostgreSQLDatabase
from .command import CommandScore
from .container import ContainerScore
from .files import DirectoryScore, FileScore
from .k8s import K8sDeploymentScore, K8sResourceScore, NamespaceScore
from .package import PackageScore
from .postgresql import (
    PostgreSQLFailoverScore,
    PostgreSQLScore,
    PostgreSQLStatusScore,
    PostgreSQLSwitchoverScore,
)
from .replicated_service import ReplicatedServiceScore, UpdatePolicy

__all__ = [
    "ApplicationScore",
    "ApplicationServiceScore",
    "PostgreSQLDatabase",
    "CommandScore",
    "ContainerScore",
    "DirectoryScore",
    "FileScore",
    "K8sDeploymentScore",
    "K8sResourceScore",
    "ManifestError",
    "NamespaceScore",
    "PackageScore",
    "PostgreSQLFailoverScore",
    "PostgreSQLScore",
    "PostgreSQLStatusScore",
    "PostgreSQLSwitchoverScore",
    "ReplicatedServiceScore",
    "UpdateFailedError",
    "UpdatePolicy",
    "UpdateRolledBackError",
]
