"""CronScore on the throw-away host: one marked entry in a user's crontab, the rest left alone."""

from __future__ import annotations

import anyio
import pytest

from harmony_py import ChangeAction, ScoreValueError
from harmony_py.scores import CronScore, UserScore
from harmony_py.scores.cron import schedule_problem

from .conftest import TopologyFactory
from .helpers import apply_of, rounds
from .private_host import PrivateHost


def _crontab(private: PrivateHost, user: str) -> str:
    return private.run("crontab", "-u", user, "-l", check=False).stdout


def test_an_entry_is_added_updated_in_place_and_removed_leaving_other_lines(private: PrivateHost, ssh_login: TopologyFactory) -> None:
    anyio.run(rounds, ssh_login(), UserScore("hztcron")).assert_converged()
    private.run("sh", "-c", "printf 'MAILTO=\"\"\\n0 * * * * /bin/true\\n' | crontab -u hztcron -")
    backup = CronScore("backup", "15 3 * * *", "/usr/local/bin/backup --quiet", user="hztcron")
    result = anyio.run(rounds, ssh_login(), backup)
    result.assert_converged()
    (change,) = result.planned.scores[0].changes
    assert change.action is ChangeAction.CREATE and "+15 3 * * * /usr/local/bin/backup --quiet\n" in (change.diff or "")
    assert "/bin/true" not in (change.diff or "")  # other lines of the crontab are not shown
    assert _crontab(private, "hztcron") == 'MAILTO=""\n0 * * * * /bin/true\n# harmony_py cron: backup\n15 3 * * * /usr/local/bin/backup --quiet\n'

    later = CronScore("backup", "@daily", "/usr/local/bin/backup --quiet", user="hztcron")
    moved = anyio.run(rounds, ssh_login(), later)
    moved.assert_converged()
    diff = moved.planned.scores[0].changes[0].diff or ""
    assert "-15 3 * * * /usr/local/bin/backup --quiet\n" in diff and "+@daily /usr/local/bin/backup --quiet\n" in diff
    assert _crontab(private, "hztcron").count("backup") == 2  # marker and entry, once

    anyio.run(rounds, ssh_login(), CronScore("backup", "@daily", "x", user="hztcron", present=False)).assert_converged()
    assert _crontab(private, "hztcron") == 'MAILTO=""\n0 * * * * /bin/true\n'
    private.run("crontab", "-u", "hztcron", "-r")
    anyio.run(rounds, ssh_login(), UserScore("hztcron", present=False, remove_home=True)).assert_converged()


def test_the_login_users_own_crontab_without_user(private: PrivateHost, ssh_login: TopologyFactory) -> None:
    score = CronScore("hzt-rotate", "*/5 * * * 1-5", "/bin/echo rotate", present=True)
    anyio.run(rounds, ssh_login(), score).assert_converged()
    assert "*/5 * * * 1-5 /bin/echo rotate" in _crontab(private, "root")  # through sudo the login is root too
    anyio.run(rounds, ssh_login(), CronScore("hzt-rotate", "@hourly", "x", present=False)).assert_converged()
    assert "hzt-rotate" not in _crontab(private, "root")


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("* * * *", "a schedule has 5 fields"),
        ("60 * * * *", "minute '60': '60' is outside 0-59"),
        ("* 5-2 * * *", "runs backwards"),
        ("* * 0 * *", "day of month '0'"),
        ("*/0 * * * *", "a step of 0"),
        ("@often", "a schedule has 5 fields"),
        ("* * * foo *", "month 'foo'"),
    ],
)
def test_schedules_are_checked_field_by_field(schedule: str, problem: str) -> None:
    assert problem in (schedule_problem(schedule) or "")
    with pytest.raises(ScoreValueError, match="CronScore\\(job\\).schedule"):
        CronScore("job", schedule, "/bin/true")


@pytest.mark.parametrize("schedule", ["@reboot", "0 0 * * 0", "*/15 8-18 1,15 jan mon", "5 4 * * sun", "0-59/10 * * * 7"])
def test_valid_schedules_are_accepted(schedule: str) -> None:
    assert schedule_problem(schedule) is None


def test_a_percent_sign_and_a_newline_in_the_command_are_refused() -> None:
    with pytest.raises(ScoreValueError, match=r"write \\% for a literal %"):
        CronScore("job", "@daily", "date +%F > /tmp/day")
    with pytest.raises(ScoreValueError, match="one non-empty line"):
        CronScore("job", "@daily", "a\nb")
    assert CronScore("job", "@daily", r"date +\%F").command == r"date +\%F"


def test_an_entry_of_a_user_that_does_not_exist_is_absent_and_cannot_be_added(ssh_login: TopologyFactory) -> None:
    absent = anyio.run(rounds, ssh_login(), CronScore("job", "@daily", "/bin/true", user="hztnobody", present=False))
    absent.assert_converged()
    assert not absent.planned.has_changes
    report = anyio.run(apply_of, ssh_login(), CronScore("job", "@daily", "/bin/true", user="hztnobody"))
    assert "user 'hztnobody' does not exist on the host; create it first (UserScore)" in report.scores[0].message
