"""Properties over generated file trees: plan mutates nothing, apply converges, again is NOOP."""

from __future__ import annotations

import os
import shlex
import stat
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmony_py import ScoreState
from harmony_py.scores import CommandScore, DirectoryScore, FileScore

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


# -- the truth rule as a property: what apply reports as done, a fresh plan finds done ---------

# A guarded command, made from a template: some produce their effect, some never do, some fail.
# (command, creates, unless) with {p} for the guarded path; the property must hold for all of them.
_COMMANDS: list[tuple[str | tuple[str, ...], bool, str | tuple[str, ...] | None]] = [
    (("touch", "{p}"), True, None),
    ("printf %s 'made by sh' > {p}", True, None),
    (("true",), True, None),  # never creates it: its apply must fail, not report a change
    ("exit 3", True, None),
    (("touch", "{p}"), False, ("test", "-e", "{p}")),
    ("mkdir -p {p}", False, "test -d {p}"),
    (("true",), False, "test -e {p}"),  # the check keeps failing after the command
    (("touch", "{p}"), False, "false"),
]


def _command_score(template: tuple[str | tuple[str, ...], bool, str | tuple[str, ...] | None], path: Path) -> CommandScore:
    command, creates, unless = template

    def fill(text: str | tuple[str, ...]) -> str | tuple[str, ...]:
        # A shell string gets the path quoted; an argument list gets it as one argument.
        if isinstance(text, str):
            return text.replace("{p}", shlex.quote(str(path)))
        return tuple(str(path) if part == "{p}" else part for part in text)

    return CommandScore(fill(command), creates=str(path) if creates else None, unless=fill(unless) if unless is not None else None)


commands = st.lists(st.tuples(st.sampled_from(range(len(_COMMANDS))), names), max_size=4, unique_by=lambda item: item[1])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, steps=commands, existing=st.sets(st.integers(min_value=0, max_value=5), max_size=3))
def test_what_an_apply_reports_done_a_fresh_plan_finds_done(
    tree: dict[tuple[str, ...], tuple[str | bytes, int]],
    steps: list[tuple[int, str]],
    existing: set[int],
) -> None:
    """For files, directories and guarded commands: every score an apply reports changed or
    unchanged is unchanged in a plan by a fresh Maestro right after it; the others are failed."""
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        scores: list[FileScore | DirectoryScore | CommandScore] = list(_scores(root / "tree", tree))
        commands_root = root / "commands"
        commands_root.mkdir()
        scores += [_command_score(_COMMANDS[index], commands_root / name) for index, name in steps]
        # Some targets exist already, some with another mode: the apply starts from drift.
        for position in sorted(existing):
            drifted = scores[position] if position < len(scores) else None
            if isinstance(drifted, FileScore):
                target = Path(drifted.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(b"drifted")
                target.chmod(0o666)

        applied = apply(*scores)
        fresh = plan(*scores)
        for done, seen in zip(applied.scores, fresh.scores, strict=True):
            assert done.state in (ScoreState.CHANGED, ScoreState.UNCHANGED, ScoreState.FAILED, ScoreState.SKIPPED)
            if done.state in (ScoreState.CHANGED, ScoreState.UNCHANGED):
                assert seen.state is ScoreState.UNCHANGED, (done, seen)
