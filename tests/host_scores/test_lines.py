"""LineInFileScore and BlockInFileScore: edits in place, with a diff, kept idempotent, file mode and owner kept."""

from __future__ import annotations

import os
from collections.abc import Callable

import anyio
import pytest

from harmony_py import ScoreState, ScoreValueError
from harmony_py.scores import BlockInFileScore, LineInFileScore

from .conftest import TopologyFactory, Workdir
from .helpers import plan_of, rounds

SSHD_CONFIG = "Port 22\n#PasswordAuthentication yes\nUsePAM yes\n"


def test_a_line_replaces_the_line_its_pattern_matches_with_a_diff(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("sshd_config")
    outside.write_text(SSHD_CONFIG)
    outside.chmod(0o644)
    score = LineInFileScore(inside, "PasswordAuthentication no", match=r"^#?\s*PasswordAuthentication\b")
    result = anyio.run(rounds, anywhere(), score)
    result.assert_converged()
    diff = result.planned.scores[0].changes[0].diff or ""
    assert "-#PasswordAuthentication yes\n" in diff and "+PasswordAuthentication no\n" in diff
    assert outside.read_text() == "Port 22\nPasswordAuthentication no\nUsePAM yes\n"


def test_a_missing_line_is_appended_once_and_a_missing_file_is_created(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("hosts.allow")
    outside.write_text("ALL: 127.0.0.1")  # no newline at the end
    created_inside, created = workdir.at("new.conf")
    result = anyio.run(rounds, anywhere(), LineInFileScore(inside, "sshd: 10.0.0.0/8"), LineInFileScore(created_inside, "a = 1", mode=0o640))
    result.assert_converged()
    assert outside.read_text() == "ALL: 127.0.0.1\nsshd: 10.0.0.0/8\n"
    assert created.read_text() == "a = 1\n" and created.stat().st_mode & 0o777 == 0o640


def test_absent_removes_every_matching_line(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("limits")
    outside.write_text("a\n* soft nofile 1024\nb\n* soft nofile 2048\n")
    result = anyio.run(rounds, anywhere(), LineInFileScore(inside, "", match=r"nofile", present=False))
    result.assert_converged()
    assert outside.read_text() == "a\nb\n"


def test_an_edit_keeps_the_files_mode_and_owner(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("owned")
    outside.write_text("x = 1\n")
    outside.chmod(0o640)
    os.chown(outside, 65534, 65534)  # nobody:nogroup, a file the writer does not own
    anyio.run(rounds, anywhere(), LineInFileScore(inside, "y = 2")).assert_converged()
    info = outside.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (65534, 65534, 0o640)
    assert outside.read_text() == "x = 1\ny = 2\n"


def test_the_diff_of_a_file_others_cannot_read_is_hidden(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("private")
    outside.write_text("password=hunter2\n")
    outside.chmod(0o600)
    report = anyio.run(plan_of, anywhere(), LineInFileScore(inside, "user=app"))
    (change,) = report.scores[0].changes
    assert change.diff is None and "diff hidden" in change.summary and "hunter2" not in repr(report)


def test_a_block_is_added_updated_in_place_and_removed_beside_another(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("hosts")
    outside.write_text("127.0.0.1 localhost\n")
    shop = BlockInFileScore(inside, "10.0.0.5 db\n10.0.0.6 cache\n", marker="# {mark} shop")
    blog = BlockInFileScore(inside, "10.0.1.5 blog\n", marker="# {mark} blog")
    anyio.run(rounds, anywhere(), shop, blog).assert_converged()
    assert outside.read_text() == (
        "127.0.0.1 localhost\n# BEGIN shop\n10.0.0.5 db\n10.0.0.6 cache\n# END shop\n# BEGIN blog\n10.0.1.5 blog\n# END blog\n"
    )
    moved = BlockInFileScore(inside, "10.0.0.7 db\n", marker="# {mark} shop")
    result = anyio.run(rounds, anywhere(), moved, BlockInFileScore(inside, "", marker="# {mark} blog", present=False))
    result.assert_converged()
    diff = result.planned.scores[0].changes[0].diff or ""
    assert "-10.0.0.5 db\n" in diff and "+10.0.0.7 db\n" in diff
    assert outside.read_text() == "127.0.0.1 localhost\n# BEGIN shop\n10.0.0.7 db\n# END shop\n"


def test_a_block_whose_end_marker_is_missing_is_left_for_a_person(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("broken")
    outside.write_text("# BEGIN shop\nhalf a block\n")
    report = anyio.run(plan_of, anywhere(), BlockInFileScore(inside, "x\n", marker="# {mark} shop"))
    assert report.scores[0].state is ScoreState.FAILED
    assert "has the begin marker '# BEGIN shop' but no end marker" in report.scores[0].message


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LineInFileScore("/etc/x", "a\nb"), "must be one line"),
        (lambda: LineInFileScore("/etc/x", "Port 22", match="^Listen"), "does not match"),
        (lambda: LineInFileScore("/etc/x", "a", match="("), "not a valid regular expression"),
        (lambda: BlockInFileScore("/etc/x", "a", marker="# managed"), "containing {mark}"),
        (lambda: BlockInFileScore("/etc/x", "# BEGIN x\n", marker="# {mark} x"), "must not contain its own marker"),
        (lambda: LineInFileScore("/etc/x", "a", mode=0o10000), "between 0o0 and 0o7777"),
    ],
)
def test_bad_input_is_refused_when_the_score_is_made(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        make()
