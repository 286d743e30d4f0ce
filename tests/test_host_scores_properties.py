"""Properties of the everyday host scores on this machine, under a temporary directory.

For generated files and directories with an owner and group, links, line
and block edits, templates (secrets included), downloads and git checkouts,
over file states made beforehand: the plan
mutates nothing, apply converges, the second apply is all NOOP, and the plan
after it is empty. The edits themselves are pure functions: applied to their
own result they change nothing.

Scores that change system state (users, groups, cron, sysctl, services,
packages) have example-based idempotency tests on the throw-away SSH host
(tests/host_scores/), not properties on this machine.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmony_py import Score, ScoreState, Secret
from harmony_py.scores import (
    BlockInFileScore,
    DirectoryScore,
    DownloadScore,
    FileScore,
    GitCheckoutScore,
    LineInFileScore,
    LinkScore,
    TemplateScore,
)
from harmony_py.scores.lines import with_block, with_line, without_block, without_line

from .helpers import all_in, apply, plan
from .host_scores.web import WebServer, serving

_TRICKY = " '\"$()`;&|*?\\\tàé中🙂-_."
names = (
    st.text(alphabet=st.sampled_from(list(_TRICKY) + list("abcXYZ019")), min_size=1, max_size=12)
    .filter(lambda name: name not in (".", "..") and "/" not in name)
    .filter(lambda name: len(name.encode()) < 200)
)
one_line = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r\0"), max_size=40)
text_files = st.lists(one_line, max_size=6).map(lambda lines: "".join(f"{line}\n" for line in lines))


@dataclass(frozen=True)
class Case:
    """Files to lay down before the run, and the scores, under one directory."""

    prepare: Callable[[Path], None]
    scores: Callable[[Path], list[Score[Any]]]


def _nothing(_: Path) -> None:
    return None


# Accounts every Debian host has, with their ids here: owners are names, resolved on the host.
USERS = {"root": 0, "daemon": 1, "nobody": 65534}
GROUPS = {"root": 0, "adm": 4, "nogroup": 65534}


@st.composite
def owned(draw: st.DrawFn) -> Case:
    """A file or directory with a drawn owner and/or group, over nothing, or over one owned by someone else."""
    name, directory = draw(names), draw(st.booleans())
    owner, group = draw(st.none() | st.sampled_from(sorted(USERS))), draw(st.none() | st.sampled_from(sorted(GROUPS)))
    before = draw(st.none() | st.tuples(st.sampled_from(sorted(USERS.values())), st.sampled_from(sorted(GROUPS.values()))))
    content, mode = draw(text_files), draw(st.sampled_from([0o600, 0o640, 0o644, 0o750, 0o2755]))

    def prepare(root: Path) -> None:
        if before is None:
            return
        path = root / name
        path.mkdir() if directory else path.write_text("stale\n")
        os.chown(path, *before)

    def scores(root: Path) -> list[Score[Any]]:
        if directory:
            return [DirectoryScore(str(root / name), mode=mode, owner=owner, group=group)]
        return [FileScore(str(root / name), content, mode=mode, owner=owner, group=group)]

    return Case(prepare, scores)


@st.composite
def links(draw: st.DrawFn) -> Case:
    name = draw(names)
    target = draw(one_line.filter(bool).filter(lambda target: posixpath.normpath(target) != name))  # not itself: refused
    before = draw(st.sampled_from(["nothing", "other link", "file"]))

    def prepare(root: Path) -> None:
        if before == "other link":
            os.symlink("elsewhere", root / name)
        elif before == "file":
            (root / name).write_text("a file\n")

    return Case(prepare, lambda root: [LinkScore(str(root / name), target, force=before == "file")])


@st.composite
def lines(draw: st.DrawFn) -> Case:
    name, existing, line = draw(names), draw(st.none() | text_files), draw(one_line)
    present = draw(st.booleans())
    match = re.escape(line[: draw(st.integers(0, len(line)))]) if draw(st.booleans()) else None

    def prepare(root: Path) -> None:
        if existing is not None:
            (root / name).write_text(existing)

    return Case(prepare, lambda root: [LineInFileScore(str(root / name), line, match=match, present=present)])


@st.composite
def blocks(draw: st.DrawFn) -> Case:
    name, existing = draw(names), draw(st.none() | text_files)
    block, marker = draw(text_files), "# {mark} " + draw(st.text(alphabet="abc-", min_size=1, max_size=5))
    present = draw(st.booleans())

    def prepare(root: Path) -> None:
        if existing is not None:
            (root / name).write_text(existing)

    return Case(prepare, lambda root: [BlockInFileScore(str(root / name), block, marker=marker, present=present)])


@st.composite
def templates(draw: st.DrawFn) -> Case:
    name = draw(names)
    values = draw(st.lists(one_line, max_size=3))
    # Prefixed so that finding it in a report means it leaked, not that a path or value happens to contain it.
    secret = draw(st.none() | one_line.filter(lambda value: "*" not in value).map(lambda value: f"tok3n-{value}"))
    if secret is not None and any(secret in value for value in values):
        secret = None
    template = "{% for v in values %}value = {{ v }}\n{% endfor %}" + ("token = {{ token }}\n" if secret is not None else "")
    context: dict[str, object] = {"values": values}
    if secret is not None:
        context["token"] = Secret(secret)
    stale = draw(st.none() | text_files)

    def prepare(root: Path) -> None:
        if stale is not None:
            (root / name).write_text(stale)

    return Case(prepare, lambda root: [TemplateScore(str(root / name), template, context)])


@st.composite
def downloads(draw: st.DrawFn, server: WebServer) -> Case:
    name, content = draw(names), draw(st.binary(max_size=200))
    published = hashlib.sha256(content).hexdigest()
    (server.root / published).write_bytes(content)
    fetch = draw(st.sampled_from(["host", "controller"]))
    stale = draw(st.none() | st.binary(max_size=20))

    def prepare(root: Path) -> None:
        if stale is not None:
            (root / name).write_bytes(stale)

    return Case(prepare, lambda root: [DownloadScore(server.url(published), str(root / name), published, fetch=fetch)])  # type: ignore[arg-type]


@st.composite
def checkouts(draw: st.DrawFn) -> Case:
    contents = draw(st.lists(one_line, min_size=1, max_size=3))
    ref = draw(st.sampled_from(["main", "v1", "commit"]))

    def scores(root: Path) -> list[Score[Any]]:
        origin = root / "origin"
        env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@invalid", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@invalid", "PATH": "/usr/bin:/bin"}
        subprocess.run(["git", "init", "-q", "-b", "main", str(origin)], check=True, env=env)
        for index, content in enumerate(contents):
            (origin / "file").write_text(content)
            subprocess.run(["git", "-C", str(origin), "add", "file"], check=True, env=env)
            subprocess.run(["git", "-C", str(origin), "commit", "-q", "--allow-empty", "-m", f"c{index}"], check=True, env=env)
            if index == 0:
                subprocess.run(["git", "-C", str(origin), "tag", "v1"], check=True, env=env)
        wanted = ref
        if ref == "commit":
            wanted = subprocess.run(["git", "-C", str(origin), "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
        return [GitCheckoutScore(str(origin), str(root / "checkout"), wanted)]

    return Case(_nothing, scores)


def _snapshot(root: Path) -> dict[str, tuple[int, bytes | str | None]]:
    found: dict[str, tuple[int, bytes | str | None]] = {}
    for directory, dirs, files in os.walk(root):
        for entry in dirs + files:
            path = Path(directory) / entry
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                found[str(path)] = (info.st_mode, path.read_bytes())
            elif stat.S_ISLNK(info.st_mode):
                found[str(path)] = (info.st_mode, os.readlink(path))
            else:
                found[str(path)] = (info.st_mode, None)
    return found


@pytest.fixture(scope="module")
def server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory() as root, serving(Path(root), "127.0.0.1") as web:
        yield web


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_plan_mutates_nothing_apply_converges_and_second_apply_is_noop(server: WebServer, data: st.DataObject) -> None:
    kinds = st.one_of(owned(), links(), lines(), blocks(), templates(), downloads(server), checkouts())
    cases = data.draw(st.lists(kinds, min_size=1, max_size=4))
    with tempfile.TemporaryDirectory() as temporary:
        scores: list[Score[Any]] = []
        for index, case in enumerate(cases):
            root = Path(temporary) / f"case{index}"
            root.mkdir()
            case.prepare(root)
            scores += case.scores(root)
        before = _snapshot(Path(temporary))
        plan(*scores)
        assert _snapshot(Path(temporary)) == before

        applied = apply(*scores)
        assert applied.ok, [s.message for s in applied.scores]
        second = apply(*scores)
        assert all_in(second, ScoreState.UNCHANGED), [(s.name, s.changes) for s in second.scores if s.changes]
        assert not plan(*scores).has_changes
        for score in scores:
            if isinstance(score, TemplateScore):
                assert Path(score.path).read_text() == score.rendered()
                assert all(value not in repr(applied) for value in score.secret_values() if len(value) > 3)
            elif isinstance(score, LinkScore):
                assert os.readlink(score.path) == score.target
            elif isinstance(score, (FileScore, DirectoryScore)):
                found = os.lstat(score.path)
                assert stat.S_IMODE(found.st_mode) == score.mode
                assert score.owner is None or found.st_uid == USERS[score.owner]
                assert score.group is None or found.st_gid == GROUPS[score.group]


@settings(max_examples=200, deadline=None)
@given(text=text_files, line=one_line, cut=st.integers(0, 40), use_match=st.booleans())
def test_a_line_edit_applied_to_its_own_result_changes_nothing(text: str, line: str, cut: int, use_match: bool) -> None:
    match = re.compile(re.escape(line[:cut])) if use_match else None
    once = with_line(text, line, match)
    assert with_line(once, line, match) == once
    assert line in once.split("\n")
    gone = without_line(once, line, match)
    assert without_line(gone, line, match) == gone and line not in gone.split("\n")[:-1]


@settings(max_examples=200, deadline=None)
@given(text=text_files, block=text_files)
def test_a_block_edit_applied_to_its_own_result_changes_nothing(text: str, block: str) -> None:
    begin, end = "# BEGIN hzt", "# END hzt"
    if begin in text.split("\n") or end in text.split("\n") or begin in block.split("\n") or end in block.split("\n"):
        return
    once = with_block(text, block, begin, end)
    assert with_block(once, block, begin, end) == once
    assert without_block(once, begin, end) == (text if text.endswith("\n") or not text else text + "\n")
