"""The scores that ship with harmony_py."""

from .command import CommandScore
from .files import DirectoryScore, FileScore

__all__ = ["CommandScore", "DirectoryScore", "FileScore"]
