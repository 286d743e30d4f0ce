"""The scores that ship with harmony_py."""

from .command import CommandScore
from .files import DirectoryScore, FileScore
from .package import PackageScore

__all__ = ["CommandScore", "DirectoryScore", "FileScore", "PackageScore"]
