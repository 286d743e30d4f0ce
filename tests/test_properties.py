"""Properties over generated file trees: plan mutates nothing, apply converges, again is NOOP."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmony_py import ScoreState
from harmony_py.scores import DirectoryScore, FileScore

from .helpers import all_in, apply, plan

# Names with the characters that break naive tools: spaces, quotes, $(), newlines, non-ASCII.
_TRICKY = " '\"$()`;&|*?\\\n\tàé中🙂-_."
names = (
    st.text(alphabet=st.sampled_from(list(_TRICKY) + list("abcXYZ019")), min_size=1, max_size=12)
    .filter(lambda name: name not in (".", "..") and "/" not in name)
    .filter(lambda name: len(name.encode()) < 200)
)
contents = st.one_of(st.text(max_size=300), st.binary(max_size=300))
modes = st.sampled_from([0o600, 0o640, 0o644, 0o755, 0o700])
trees = st.dictionaries(
    keys=st.lists(names, min_size=1, max_size=3).map(tuple),
    values=st.tuples(contents, modes),
    min_size=1,
    max_size=6,
)


def _snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    found: dict[str, tuple[int, bytes | None]] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            info = os.lstat(path)
            found[str(path)] = (info.st_mode, path.read_bytes() if stat.S_ISREG(info.st_mode) else None)
    return found


def _scores(root: Path, tree: dict[tuple[str, ...], tuple[str | bytes, int]]) -> list[FileScore | DirectoryScore]:
    scores: list[FileScore | DirectoryScore] = []
    directories: set[tuple[str, ...]] = set()
    files = {parts: value for parts, value in tree.items() if not any(parts == other[: len(parts)] and other != parts for other in tree)}
    for parts in files:
        for depth in range(1, len(parts)):
            directories.add(parts[:depth])
    for parts in sorted(directories, key=len):
        scores.append(DirectoryScore(str(root.joinpath(*parts)), mode=0o755))
    for parts, (content, mode) in files.items():
        scores.append(FileScore(str(root.joinpath(*parts)), content, mode=mode))
    return scores


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees)
def test_plan_mutates_nothing_apply_converges_and_second_apply_is_noop(
    tree: dict[tuple[str, ...], tuple[str | bytes, int]],
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        scores = _scores(root, tree)
        before = _snapshot(root)
        planned = plan(*scores)
        assert _snapshot(root) == before
        assert all(score.state is ScoreState.PENDING for score in planned.scores)

        applied = apply(*scores)
        assert applied.ok, [s.message for s in applied.scores]
        for score in scores:
            path = Path(score.path)
            if isinstance(score, FileScore):
                assert path.read_bytes() == score.desired_bytes()
                assert stat.S_IMODE(os.lstat(path).st_mode) == score.desired_mode
            else:
                assert path.is_dir()

        assert all_in(apply(*scores), ScoreState.UNCHANGED)
        assert not plan(*scores).has_changes
