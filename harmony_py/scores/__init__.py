"""The scores that ship with harmony_py."""

from harmony_py.errors import ManifestError, UpdateFailedError, UpdateRolledBackError

from .application import ApplicationScore, ApplicationServiceScore, PostgreSQLDatabase
from .apt_repository import AptRepositoryScore
from .command import CommandScore
from .container import ContainerScore
from .cron import CronScore
from .downloads import DownloadScore
from .files import DirectoryScore, FileScore
from .git import GitCheckoutScore
from .k8s import K8sDeploymentScore, K8sResourceScore, NamespaceScore
from .lines import BlockInFileScore, LineInFileScore
from .links import LinkScore
from .package import PackageScore
from .postgresql import (
    PostgreSQLFailoverScore,
    PostgreSQLScore,
    PostgreSQLStatusScore,
    PostgreSQLSwitchoverScore,
)
from .postgresql_shards import PostgreSQLShardMapScore
from .replicated_service import ReplicatedServiceScore, UpdatePolicy
from .services import ServiceScore
from .sysctl import SysctlScore
from .templates import TemplateScore
from .users import GroupScore, UserScore

__all__ = [
    "ApplicationScore",
    "ApplicationServiceScore",
    "AptRepositoryScore",
    "BlockInFileScore",
    "PostgreSQLDatabase",
    "CommandScore",
    "ContainerScore",
    "CronScore",
    "DirectoryScore",
    "DownloadScore",
    "FileScore",
    "GitCheckoutScore",
    "GroupScore",
    "K8sDeploymentScore",
    "K8sResourceScore",
    "LineInFileScore",
    "LinkScore",
    "ManifestError",
    "NamespaceScore",
    "PackageScore",
    "PostgreSQLFailoverScore",
    "PostgreSQLScore",
    "PostgreSQLShardMapScore",
    "PostgreSQLStatusScore",
    "PostgreSQLSwitchoverScore",
    "ReplicatedServiceScore",
    "ServiceScore",
    "SysctlScore",
    "TemplateScore",
    "UpdateFailedError",
    "UpdatePolicy",
    "UpdateRolledBackError",
    "UserScore",
]
