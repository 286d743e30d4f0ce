"""The scores that ship with harmony_py."""

from .command import CommandScore
from .container import ContainerScore
from .files import DirectoryScore, FileScore
from .replicated_service import ReplicatedServiceScore, UpdateFailedError, UpdatePolicy, UpdateRolledBackError

__all__ = [
    "ContainerScore",
    "ReplicatedServiceScore",
    "UpdateFailedError",
    "UpdatePolicy",
    "UpdateRolledBackError",
    "CommandScore",
    "DirectoryScore",
    "FileScore",
]
