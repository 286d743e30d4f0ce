"""A path that is not UTF-8 (a str from os.fsdecode, holding surrogate escapes) works like any other on this machine."""

from __future__ import annotations

import os
from pathlib import Path

from harmony_py import ScoreState
from harmony_py.scores import CommandScore, DirectoryScore, FileScore

from .helpers import apply, states

RAW_NAME = b"caf\xe9-\xff"
"""Latin-1 bytes, as an old file system or archive leaves them: not valid UTF-8."""


def non_utf8_scores(root: Path) -> list[DirectoryScore | FileScore | CommandScore]:
    directory = os.path.join(str(root), os.fsdecode(RAW_NAME))
    return [
        DirectoryScore(directory),
        FileScore(os.path.join(directory, os.fsdecode(b"f\xff")), "content\n"),
        CommandScore(["sh", "-c", 'echo ok > "$1"', "sh", os.path.join(directory, "made")], creates=os.path.join(directory, "made")),
    ]


def test_non_utf8_paths_on_localhost_converge_then_stay_unchanged(tmp_path: Path) -> None:
    scores = non_utf8_scores(tmp_path)
    assert states(apply(*scores)) == [ScoreState.CHANGED] * 3
    assert states(apply(*scores)) == [ScoreState.UNCHANGED] * 3
    directory = os.path.join(bytes(tmp_path), RAW_NAME)
    assert sorted(os.listdir(directory)) == [b"f\xff", b"made"]
