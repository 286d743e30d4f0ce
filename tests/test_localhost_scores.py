"""FileScore, DirectoryScore and CommandScore on the local machine."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harmony_py import ChangeAction, ScoreState, ScoreValueError, Secret
from harmony_py.scores import CommandScore, DirectoryScore, FileScore

from .helpers import all_in, apply, everything_said, plan, states


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_file_is_created_then_noop_and_plan_is_empty(tmp_path: Path) -> None:
    target = tmp_path / "motd"
    score = FileScore(str(target), "hello\n", mode=0o640)
    first = apply(score)
    assert states(first) == [ScoreState.CHANGED]
    assert target.read_text() == "hello\n" and _mode(target) == 0o640
    assert all_in(apply(score), ScoreState.UNCHANGED)
    assert not plan(score).has_changes


def test_plan_shows_a_unified_diff_and_touches_nothing(tmp_path: Path) -> None:
    target = tmp_path / "conf"
    target.write_text("port = 80\nworkers = 4\n")
    target.chmod(0o644)
    report = plan(FileScore(str(target), "port = 8080\nworkers = 4\n"))
    (change,) = report.scores[0].changes
    assert change.action is ChangeAction.UPDATE and change.attribute == "content"
    assert change.diff is not None
    assert "-port = 80\n" in change.diff and "+port = 8080\n" in change.diff
    assert target.read_text() == "port = 80\nworkers = 4\n"


def test_mode_only_change_keeps_content(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("same")
    target.chmod(0o600)
    report = apply(FileScore(str(target), "same", mode=0o644))
    assert [c.attribute for c in report.scores[0].changes] == ["mode"]
    assert _mode(target) == 0o644


def test_secret_file_is_0600_and_its_content_appears_in_no_report(tmp_path: Path) -> None:
    target = tmp_path / "token"
    secret = "s3cr3t-value-that-must-not-leak"
    score = FileScore(str(target), Secret(secret))
    planned, applied = plan(score), apply(score)
    assert _mode(target) == 0o600 and target.read_text() == secret
    target.write_text("changed by hand")
    replanned = plan(score)
    assert replanned.has_changes
    for report in (planned, applied, replanned):
        assert secret not in everything_said(report)
        assert "changed by hand" not in everything_said(report)
    assert secret not in repr(score) and secret not in str(score)


def test_diff_of_a_file_others_cannot_read_is_hidden(tmp_path: Path) -> None:
    target = tmp_path / "private"
    target.write_text("password=hunter2\n")
    target.chmod(0o600)
    report = plan(FileScore(str(target), "password=changed\n", mode=0o600))
    assert "hunter2" not in everything_said(report)


def test_directory_created_with_parents_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    score = DirectoryScore(str(target), mode=0o750)
    assert states(apply(score)) == [ScoreState.CHANGED]
    assert target.is_dir() and _mode(target) == 0o750
    assert all_in(apply(score), ScoreState.UNCHANGED)


def test_a_file_where_a_directory_is_wanted_fails_clearly_and_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "x"
    target.write_text("keep me")
    report = apply(DirectoryScore(str(target)))
    assert states(report) == [ScoreState.FAILED]
    assert "is a file, not a directory" in report.scores[0].message
    assert target.read_text() == "keep me"


def test_command_runs_until_its_creates_guard_holds(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    score = CommandScore(["sh", "-c", f"echo ran >> {tmp_path}/log; touch {marker}"], creates=str(marker))
    assert states(apply(score)) == [ScoreState.CHANGED]
    assert all_in(apply(score), ScoreState.UNCHANGED)
    assert (tmp_path / "log").read_text() == "ran\n"


def test_command_with_unless_guard(tmp_path: Path) -> None:
    target = tmp_path / "line"
    score = CommandScore(f"echo hi > '{target}'", unless=["test", "-s", str(target)])
    assert states(apply(score)) == [ScoreState.CHANGED]
    assert all_in(apply(score), ScoreState.UNCHANGED)


def test_command_whose_guard_never_holds_fails_instead_of_rerunning(tmp_path: Path) -> None:
    report = apply(CommandScore("true", creates=str(tmp_path / "never")))
    assert states(report) == [ScoreState.FAILED]
    assert "a second apply would run it again" in report.scores[0].message


def test_failing_command_reports_its_stderr_and_skips_the_rest(tmp_path: Path) -> None:
    after = tmp_path / "after"
    report = apply(
        CommandScore("echo boom >&2; exit 3", creates=str(tmp_path / "x")),
        FileScore(str(after), "x"),
    )
    assert states(report) == [ScoreState.FAILED, ScoreState.SKIPPED]
    assert "exited 3: boom" in report.scores[0].message
    assert not after.exists()


def test_unguarded_command_is_refused() -> None:
    with pytest.raises(ScoreValueError, match="needs a guard"):
        CommandScore("echo hi")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FileScore("relative/path", "x"), "must be an absolute path"),
        (lambda: FileScore("/tmp/x", "x", mode=-1), "between 0o0 and 0o7777"),
        (lambda: FileScore("/tmp/x", "x", mode=0o10000), "between 0o0 and 0o7777"),
        (lambda: FileScore("/tmp/x", 42), "must be str, bytes or Secret"),  # type: ignore[arg-type]
        (lambda: DirectoryScore("/"), "must not be the root"),
        (lambda: DirectoryScore("/tmp/x", mode="755"), "must be an int"),  # type: ignore[arg-type]
        (lambda: CommandScore([], creates="/tmp/x"), "non-empty list"),
    ],
)
def test_bad_values_are_refused_when_the_score_is_built(build: object, message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        build()  # type: ignore[operator]


async def test_a_program_that_stops_reading_its_input_reports_its_exit_status() -> None:
    from topologies import LocalhostTopology

    host = LocalhostTopology()
    early = await host.command_runner().run(["sh", "-c", "echo bye; exit 3"], stdin=b"x" * 10_000_000)
    assert (early.exit_status, early.stdout) == (3, b"bye\n")
    assert (await host.command_runner().run(["cat"])).stdout == b""  # no input: end of file at once, never the terminal
