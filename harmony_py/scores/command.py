"""A command guarded so that it runs only while its effect is missing."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from capabilities.command_runner import CommandRunner
from harmony_py.errors import CommandFailedError, HarmonyError, ScoreValueError
from harmony_py.outcome import Change, ChangeAction
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.secret import Secret

from .validate import absolute_path

Command = str | tuple[str, ...]


def _as_command(score: str, field: str, value: object) -> Command:
    if isinstance(value, str):
        if not value.strip():
            raise ScoreValueError(f"{score}.{field} must not be empty")
        return value
    if isinstance(value, Sequence) and value and all(isinstance(part, str) for part in value):
        return tuple(value)
    raise ScoreValueError(
        f"{score}.{field} must be a shell string or a non-empty list of strings, got {value!r}"
    )


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _as_env(score: str, field: str, value: object) -> dict[str, str | Secret]:
    if not isinstance(value, Mapping):
        raise ScoreValueError(f"{score}.{field} must be a mapping of variable names to str or Secret values")
    env: dict[str, str | Secret] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise ScoreValueError(f"{score}.{field}: {name!r} is not an environment variable name")
        if not isinstance(item, (str, Secret)):
            raise ScoreValueError(f"{score}.{field}[{name!r}] must be a str or a Secret, got {type(item).__name__}")
        plain = item.reveal() if isinstance(item, Secret) else item
        if "\0" in plain:
            raise ScoreValueError(f"{score}.{field}[{name!r}] must not contain a NUL byte")
        env[name] = item
    return env


def argv_of(command: Command) -> tuple[str, ...]:
    """A shell string runs through ``sh -c``; a sequence runs as exactly those arguments."""
    return ("sh", "-c", command) if isinstance(command, str) else command


def display(command: Command) -> str:
    return command if isinstance(command, str) else shlex.join(command)


@dataclass(frozen=True)
class CommandScore(Score[CommandRunner]):
    """Run ``command`` unless its guard shows the work is already done.

    ``creates``: a path the command produces; the command runs while it is
    missing. ``unless``: a check command; the command runs while the check
    fails. At least one guard is required: a command without one would run,
    and report a change, on every apply. After running, the guard is checked
    again, so a command that does not produce its effect fails at once instead
    of silently running again next time.

    ``env``: variables the command and its ``unless`` check see, on top of the
    small base every program gets (``PATH``, ``HOME``, ``USER``, ``LOGNAME``,
    ``TMPDIR``, ``LANG=C.UTF-8``); nothing else of the operator's environment
    reaches them. A value may be a ``Secret``: it is never shown.
    """

    command: str | Sequence[str]
    creates: str | None = None
    unless: str | Sequence[str] | None = None
    timeout_s: float | None = None
    env: Mapping[str, str | Secret] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", _as_command("CommandScore", "command", self.command))
        object.__setattr__(self, "env", MappingProxyType(_as_env("CommandScore", "env", self.env)))
        if self.creates is None and self.unless is None:
            raise ScoreValueError(
                f"CommandScore({display(self.command_value)}) needs a guard, creates= or unless=, "
                "so that a second apply changes nothing"
            )
        if self.creates is not None:
            object.__setattr__(self, "creates", absolute_path("CommandScore", "creates", self.creates))
        if self.unless is not None:
            object.__setattr__(self, "unless", _as_command("CommandScore", "unless", self.unless))

    def __hash__(self) -> int:
        # The generated hash would cover the env mapping, which is unhashable; these fields suffice.
        return hash((self.command, self.creates, self.unless))

    @property
    def command_value(self) -> Command:
        return _as_command("CommandScore", "command", self.command)

    @property
    def name(self) -> str:
        return f"CommandScore({display(self.command_value)})"

    def interpret(self) -> CommandInterpret:
        return CommandInterpret(self)


class CommandInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: CommandScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        if await self._done(topology):
            return []
        shown = display(self.score.command_value)
        return [Change(ChangeAction.RUN, shown, f"run {shown}")]

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        argv = argv_of(self.score.command_value)
        result = await topology.run(argv, env=self._env(), timeout_s=self.score.timeout_s)
        if not result.ok:
            raise CommandFailedError(argv, result.exit_status, result.stderr_text)
        if not await self._done(topology):
            raise HarmonyError(
                f"{display(self.score.command_value)} succeeded but its guard still says it is needed "
                f"({self._guard()}); a second apply would run it again"
            )

    async def _done(self, topology: CommandRunner) -> bool:
        if self.score.creates is not None and await topology.stat(self.score.creates) is not None:
            return True
        if self.score.unless is not None:
            check = await topology.run(argv_of(_as_command("CommandScore", "unless", self.score.unless)), env=self._env())
            return check.ok
        return False

    def _env(self) -> dict[str, str]:
        return {name: value.reveal() if isinstance(value, Secret) else value for name, value in self.score.env.items()}

    def _guard(self) -> str:
        if self.score.creates is not None:
            return f"{self.score.creates} does not exist"
        return f"unless check {display(_as_command('CommandScore', 'unless', self.score.unless))} fails"
