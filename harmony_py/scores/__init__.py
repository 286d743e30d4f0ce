"""The scores that ship with harmony_py."""

from .command import CommandScore
from .files import DirectoryScore, FileScore
from .postgresql import (
    PostgreSQLFailoverScore,
    PostgreSQLScore,
    PostgreSQLStatusScore,
    PostgreSQLSwitchoverScore,
)

__all__ = [
    "CommandScore",
    "DirectoryScore",
    "FileScore",
    "PostgreSQLFailoverScore",
    "PostgreSQLScore",
    "PostgreSQLStatusScore",
    "PostgreSQLSwitchoverScore",
]
