"""One managed entry in a user's crontab, found again by its marker comment."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunner, CommandRunnerService
from harmony_py.diff import unified_diff
from harmony_py.errors import CommandFailedError, HarmonyError, ScoreValueError
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction

from .host_names import optional_account_name, user_entry

MARKER = "# harmony_py cron: {job}"
_JOB = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SPECIAL = ("@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (field name, lowest, highest, names usable as single values)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_ITEM = re.compile(r"(?P<range>\*|(?P<low>\d+)(?:-(?P<high>\d+))?)(?:/(?P<step>\d+))?")
_NO_CRONTAB = re.compile(r"no crontab for ")


def schedule_problem(schedule: str) -> str | None:
    """Why ``schedule`` is not a cron schedule (five fields, or an ``@`` word), or ``None`` when it is."""
    if schedule in _SPECIAL:
        return None
    fields = schedule.split()
    if len(fields) != len(_FIELDS):
        return f"a schedule has 5 fields (minute hour day-of-month month day-of-week) or is one of {', '.join(_SPECIAL)}; got {len(fields)} field(s)"
    for text, (field, low, high, names) in zip(fields, _FIELDS):
        if text.lower() in names:
            continue
        for item in text.split(","):
            problem = _item_problem(item, low, high)
            if problem is not None:
                return f"{field} {text!r}: {problem}"
    return None


def _item_problem(item: str, low: int, high: int) -> str | None:
    found = _ITEM.fullmatch(item)
    if found is None:
        return f"{item!r} is not '*', a number, a range a-b, or either with /step"
    numbers = [int(found[name]) for name in ("low", "high") if found[name] is not None]
    if any(not low <= number <= high for number in numbers):
        return f"{item!r} is outside {low}-{high}"
    if len(numbers) == 2 and numbers[0] > numbers[1]:
        return f"{item!r} is a range that runs backwards"
    if found["step"] is not None and int(found["step"]) == 0:
        return f"{item!r} has a step of 0"
    return None


@dataclass(frozen=True)
class CronScore(Score[CommandRunner]):
    """One entry, named ``job``, in the crontab of ``user`` (default: the account commands run as).

    The entry is two lines: a marker comment ``# harmony_py cron: <job>`` and
    ``<schedule> <command>`` below it; the rest of the crontab is left as it
    is. The schedule is checked when the score is made (five fields with
    their ranges, or ``@daily`` and the like). ``%`` means a newline to cron:
    write ``\\%`` for a literal one. ``present=False`` removes the entry.

    Example::

        CronScore("shop-backup", "15 3 * * *", "/usr/local/bin/shop-backup --quiet", user="shop")
    """

    job: str
    schedule: str
    command: str
    user: str | None = None
    present: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.job, str) or not _JOB.fullmatch(self.job):
            raise ScoreValueError(f"CronScore.job must be a name of letters, digits, '_', '.', '-', got {self.job!r}")
        where = f"CronScore({self.job})"
        if not isinstance(self.schedule, str):
            raise ScoreValueError(f"{where}.schedule must be a str such as '15 3 * * *', got {self.schedule!r}")
        object.__setattr__(self, "schedule", " ".join(self.schedule.split()))
        problem = schedule_problem(self.schedule)
        if problem is not None:
            raise ScoreValueError(f"{where}.schedule: {problem}")
        if not isinstance(self.command, str) or not self.command.strip() or "\n" in self.command or "\r" in self.command:
            raise ScoreValueError(f"{where}.command must be one non-empty line, got {self.command!r}")
        if re.search(r"(?<!\\)%", self.command):
            raise ScoreValueError(f"{where}.command: cron turns an unescaped % into a newline; write \\% for a literal %")
        optional_account_name(where, "user", self.user)
        if not isinstance(self.present, bool):
            raise ScoreValueError(f"{where}.present must be True or False, got {self.present!r}")

    @property
    def name(self) -> str:
        return f"CronScore({self.job})"

    @property
    def marker(self) -> str:
        return MARKER.format(job=self.job)

    @property
    def entry(self) -> str:
        return f"{self.schedule} {self.command}"

    def edit(self, crontab: str) -> str:
        """``crontab`` with this entry set (or removed) where it was, every other line as it was."""
        lines = crontab.split("\n")
        if lines[-1] == "":
            lines.pop()
        kept: list[str] = []
        placed = False
        index = 0
        while index < len(lines):
            if lines[index] != self.marker:
                kept.append(lines[index])
                index += 1
                continue
            if self.present and not placed:
                kept += [self.marker, self.entry]
                placed = True
            index += 2  # the marker and the entry under it (a duplicate is dropped)
        if self.present and not placed:
            kept += [self.marker, self.entry]
        return "".join(f"{line}\n" for line in kept)

    def interpret(self) -> CronInterpret:
        return CronInterpret(self)


class CronInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: CronScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        current = await self._crontab(runner)
        desired = self.score.edit(current)
        if desired == current:
            return []
        whose = f"crontab of {self.score.user or 'the login user'}"
        target = f"{whose}: {self.score.job}"
        # The diff shows this entry only: other lines of the crontab are not ours to show.
        ours = [line for line in current.split("\n") if line == self.score.marker]
        before = "".join(f"{line}\n" for line in _entry_lines(current, self.score.marker))
        after = "".join(f"{line}\n" for line in _entry_lines(desired, self.score.marker))
        diff = unified_diff(target, before.encode(), after.encode())
        if not self.score.present:
            return [Change(ChangeAction.DELETE, target, f"remove cron job {self.score.job} from the {whose}", diff)]
        if not ours:
            return [Change(ChangeAction.CREATE, target, f"add cron job {self.score.job} ({self.score.schedule}) to the {whose}", diff)]
        return [Change(ChangeAction.UPDATE, target, f"update cron job {self.score.job} in the {whose}", diff, "entry")]

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        if self.score.user is not None and await user_entry(runner, self.score.user) is None:
            raise HarmonyError(f"user {self.score.user!r} does not exist on the host; create it first (UserScore)")
        desired = self.score.edit(await self._crontab(runner))
        result = await runner.run(("crontab", *self._user_option(), "-"), stdin=desired.encode())
        if not result.ok:
            raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)

    async def _crontab(self, runner: CommandRunnerService) -> str:
        """The crontab's text; empty for a user without one, or without an account yet (an earlier score may make it)."""
        if self.score.user is not None and await user_entry(runner, self.score.user) is None:
            return ""
        result = await runner.run(("crontab", *self._user_option(), "-l"))
        if result.exit_status == 127:
            raise HarmonyError("the host has no crontab command; install cron (Debian package 'cron')")
        if not result.ok:
            if _NO_CRONTAB.search(result.stderr_text):
                return ""
            raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
        return result.stdout_text

    def _user_option(self) -> tuple[str, ...]:
        return () if self.score.user is None else ("-u", self.score.user)


def _entry_lines(crontab: str, marker: str) -> list[str]:
    lines = crontab.split("\n")
    found: list[str] = []
    for index, line in enumerate(lines):
        if line == marker:
            found.extend(lines[index : index + 2])
    return [line for line in found if line]
