"""The scores that ship with harmony_py."""

from typing import TYPE_CHECKING

from harmony_py.lazy_exports import lazy_exports

if TYPE_CHECKING:
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

# Each score's module is imported when the score is first used (adr/0106): a file that uses
# two scores does not load Kubernetes manifests, jinja2 or PostgreSQL's scores.
_LAZY = {
    "ManifestError": "harmony_py.errors",
    "UpdateFailedError": "harmony_py.errors",
    "UpdateRolledBackError": "harmony_py.errors",
    "ApplicationScore": ".application",
    "ApplicationServiceScore": ".application",
    "PostgreSQLDatabase": ".application",
    "AptRepositoryScore": ".apt_repository",
    "CommandScore": ".command",
    "ContainerScore": ".container",
    "CronScore": ".cron",
    "DownloadScore": ".downloads",
    "DirectoryScore": ".files",
    "FileScore": ".files",
    "GitCheckoutScore": ".git",
    "K8sDeploymentScore": ".k8s",
    "K8sResourceScore": ".k8s",
    "NamespaceScore": ".k8s",
    "BlockInFileScore": ".lines",
    "LineInFileScore": ".lines",
    "LinkScore": ".links",
    "PackageScore": ".package",
    "PostgreSQLFailoverScore": ".postgresql",
    "PostgreSQLScore": ".postgresql",
    "PostgreSQLStatusScore": ".postgresql",
    "PostgreSQLSwitchoverScore": ".postgresql",
    "PostgreSQLShardMapScore": ".postgresql_shards",
    "ReplicatedServiceScore": ".replicated_service",
    "UpdatePolicy": ".replicated_service",
    "ServiceScore": ".services",
    "SysctlScore": ".sysctl",
    "TemplateScore": ".templates",
    "GroupScore": ".users",
    "UserScore": ".users",
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(globals(), _LAZY)

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
