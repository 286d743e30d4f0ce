"""The scores that ship with harmony_py."""

from .command import CommandScore
from .files import DirectoryScore, FileScore
from .k8s import K8sDeploymentScore, K8sResourceScore, NamespaceScore
from .k8s_manifests import ManifestError

__all__ = [
    "CommandScore",
    "DirectoryScore",
    "FileScore",
    "K8sDeploymentScore",
    "K8sResourceScore",
    "ManifestError",
    "NamespaceScore",
]
