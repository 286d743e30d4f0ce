"""A command guarded so that it runs only while its effect is missing."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from capabilities.command_runner import CommandRunner, CommandRunnerService, GuardCheck
from harmony_py.errors import CommandFailedError, HarmonyError, ScoreValueError
from harmony_py.observations import observed_exit
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import MASK, Change, ChangeAction, Secret

from .validate import absolute_path

Part = str | Secret
Command = str | Secret | tuple[Part, ...]
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _as_command(score: str, field: str, value: object) -> Command:
    if isinstance(value, (str, Secret)):
        text = value.reveal() if isinstance(value, Secret) else value
        if not text.strip():
            raise ScoreValueError(f"{score}.{field} must not be empty")
        return value
    if isinstance(value, Sequence) and value and all(isinstance(part, (str, Secret)) for part in value):
        return tuple(value)
    # A Secret inside ``value`` shows as Secret('********') here.
    raise ScoreValueError(
        f"{score}.{field} must be a shell string, a Secret, or a non-empty list of strings and Secrets, got {value!r}"
    )


def argv_of(command: Command) -> tuple[str, ...]:
    """The argv to run, secrets revealed: a shell string runs through ``sh -c``, a sequence as exactly those arguments."""
    if isinstance(command, (str, Secret)):
        return ("sh", "-c", _reveal(command))
    return tuple(_reveal(part) for part in command)


def display(command: Command) -> str:
    """The command as the user wrote it, each Secret masked: ``curl -u ******** https://x``."""
    if isinstance(command, (str, Secret)):
        return str(command)
    return " ".join(MASK if isinstance(part, Secret) else shlex.quote(part) for part in command)


def masked(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with every value of ``secrets`` replaced by the mask (longest first, so none shows in part)."""
    for value in sorted({secret.reveal() for secret in secrets}, key=len, reverse=True):
        if value:
            text = text.replace(value, MASK)
    return text


def _masked_argv(command: Command) -> tuple[str, ...]:
    if isinstance(command, (str, Secret)):
        return ("sh", "-c", str(command))
    return tuple(str(part) for part in command)


def _reveal(part: Part) -> str:
    return part.reveal() if isinstance(part, Secret) else part


def _secrets_of(command: Command | None) -> list[Secret]:
    if command is None or isinstance(command, str):
        return []
    if isinstance(command, Secret):
        return [command]
    return [part for part in command if isinstance(part, Secret)]


def _as_env(value: object) -> Mapping[str, Part]:
    if not isinstance(value, Mapping):
        raise ScoreValueError(f"CommandScore.env must be a mapping of names to str or Secret, got {type(value).__name__}")
    for name, item in value.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise ScoreValueError(f"CommandScore.env: {name!r} is not a valid environment variable name")
        if not isinstance(item, (str, Secret)):
            raise ScoreValueError(f"CommandScore.env[{name!r}] must be str or Secret, got {type(item).__name__}")
        if "\0" in _reveal(item):
            raise ScoreValueError(f"CommandScore.env[{name!r}] contains a NUL byte")
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class CommandScore(Score[CommandRunner]):
    """Run ``command`` unless its guard shows the work is already done.

    ``creates``: a path the command produces; the command runs while it is
    missing. ``unless``: a check command; the command runs while the check
    fails. At least one guard is required: a command without one would run,
    and report a change, on every apply. After running, the guard is checked
    again, so a command that does not produce its effect fails at once instead
    of silently running again next time.

    ``command`` (and ``unless``) is a shell string run by ``sh -c``, or a list
    of arguments run as they are; either may be a :class:`Secret`, or hold
    Secrets among the arguments. ``env`` sets environment variables for the
    command and its check; values may be Secrets. Plans, reports and failure
    messages show every Secret as ``********``, also where the command echoes
    it. Prefer ``env`` for a secret: arguments are visible to other users of
    the machine (``ps``), the environment is not.

    Example::

        CommandScore('curl -fsS -u "$CREDS" -o /srv/app/data https://example.com/data',
                     creates="/srv/app/data", env={"CREDS": Secret("user:pw")})
    """

    command: str | Secret | Sequence[Part]
    creates: str | None = None
    unless: str | Secret | Sequence[Part] | None = None
    timeout_s: float | None = None
    env: Mapping[str, Part] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", _as_command("CommandScore", "command", self.command))
        object.__setattr__(self, "env", _as_env(self.env))
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
        return hash((self.command_value, self.creates, self.unless_value))

    def observed_paths(self) -> tuple[str, ...]:
        """The ``creates=`` path its plan stats, for a batched observation (harmony_py/observations.py)."""
        return (self.creates,) if isinstance(self.creates, str) else ()

    def observed_guards(self) -> tuple[GuardCheck, ...]:
        """The ``unless=`` check its plan runs, for a batched observation (harmony_py/observations.py)."""
        unless = self.unless_value
        return () if unless is None else (GuardCheck(argv_of(unless), self.revealed_env()),)

    @property
    def command_value(self) -> Command:
        return _as_command("CommandScore", "command", self.command)

    @property
    def unless_value(self) -> Command | None:
        return None if self.unless is None else _as_command("CommandScore", "unless", self.unless)

    @property
    def secrets(self) -> list[Secret]:
        """Every Secret the score holds, to mask wherever output is shown."""
        env_secrets = [value for value in self.env.values() if isinstance(value, Secret)]
        return [*_secrets_of(self.command_value), *_secrets_of(self.unless_value), *env_secrets]

    def revealed_env(self) -> dict[str, str] | None:
        return {name: _reveal(value) for name, value in self.env.items()} or None

    @property
    def name(self) -> str:
        return f"CommandScore({display(self.command_value)})"

    def interpret(self) -> CommandInterpret:
        return CommandInterpret(self)


class CommandInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: CommandScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        if await self._done(topology.command_runner()):
            return []
        shown = display(self.score.command_value)
        return [Change(ChangeAction.RUN, shown, f"run {shown}")]

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        command = self.score.command_value
        result = await runner.run(argv_of(command), env=self.score.revealed_env(), timeout_s=self.score.timeout_s)
        if not result.ok:
            # Only masked text goes into the error: it is shown, logged and put in --json.
            raise CommandFailedError(
                _masked_argv(command), result.exit_status, masked(result.stderr_text, self.score.secrets), shown=display(command)
            )
        if not await self._done(runner):
            raise HarmonyError(
                f"{display(command)} succeeded but its guard still says it is needed "
                f"({self._guard()}); a second apply would run it again"
            )

    async def _done(self, runner: CommandRunnerService) -> bool:
        if self.score.creates is not None and await runner.stat(self.score.creates) is not None:
            return True
        unless = self.score.unless_value
        if unless is not None:
            argv, env = argv_of(unless), self.score.revealed_env()
            known = observed_exit(runner, argv, env)
            if known is not None:
                return known == 0
            check = await runner.run(argv, env=env)
            return check.ok
        return False

    def _guard(self) -> str:
        if self.score.creates is not None:
            return f"{self.score.creates} does not exist"
        unless = self.score.unless_value
        return f"unless check {display(unless) if unless is not None else ''} fails"
