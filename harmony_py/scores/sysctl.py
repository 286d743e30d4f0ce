"""A kernel parameter: its live value, and a file under /etc/sysctl.d/ that sets it again at boot."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunner, CommandRunnerService
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction

from .files import FileScore

SYSCTL_DIRECTORY = "/etc/sysctl.d"
_KEY = re.compile(r"[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)+")


@dataclass(frozen=True)
class SysctlScore(Score[CommandRunner]):
    """The kernel parameter ``key`` set to ``value`` now (``sysctl -w``) and, with ``persist``, at boot.

    The plan reads the live value (``sysctl -n``) and, with ``persist=True``,
    the file ``/etc/sysctl.d/60-harmony-<key>.conf`` (one ``key = value``
    line). Values compare as words, so ``"4096 87380"`` matches the kernel's
    tab-separated answer. Apply writes the file, sets the value, and reads it
    back: a value the kernel does not keep (clamped, refused) fails, naming
    what it kept.

    Example::

        SysctlScore("net.ipv4.ip_forward", 1)
    """

    key: str
    value: str | int
    persist: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY.fullmatch(self.key):
            raise ScoreValueError(f"SysctlScore.key must be a dotted kernel parameter such as net.ipv4.ip_forward, got {self.key!r}")
        where = f"SysctlScore({self.key})"
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int)):
            raise ScoreValueError(f"{where}.value must be a str or int, got {type(self.value).__name__}")
        text = " ".join(str(self.value).split())
        if not text or "=" in text or "#" in text:
            raise ScoreValueError(f"{where}.value must be non-empty words without '=' or '#', got {self.value!r}")
        if not isinstance(self.persist, bool):
            raise ScoreValueError(f"{where}.persist must be True or False, got {self.persist!r}")

    @property
    def name(self) -> str:
        return f"SysctlScore({self.key})"

    @property
    def wanted(self) -> str:
        return " ".join(str(self.value).split())

    @property
    def file(self) -> FileScore:
        """The boot-time setting, as a file converged exactly like FileScore."""
        return FileScore(f"{SYSCTL_DIRECTORY}/60-harmony-{self.key.replace('/', '.')}.conf", f"{self.key} = {self.wanted}\n")

    def interpret(self) -> SysctlInterpret:
        return SysctlInterpret(self)


class SysctlInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: SysctlScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        changes: list[Change] = []
        if self.score.persist:
            changes += await self.score.file.interpret().plan(topology)
        live = await live_value(runner, self.score.key)
        if live != self.score.wanted:
            summary = f"sysctl {self.score.key}: {live} -> {self.score.wanted}"
            changes.append(Change(ChangeAction.UPDATE, f"sysctl {self.score.key}", summary, attribute="live"))
        return changes

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        if self.score.persist:
            file = self.score.file.interpret()
            file_changes = await file.plan(topology)
            if file_changes:
                await file.converge(topology, file_changes)
        if any(change.attribute == "live" for change in changes):
            key, wanted = self.score.key, self.score.wanted
            result = await runner.run(("sysctl", "-q", "-w", f"{key}={wanted}"))
            if not result.ok:
                raise HarmonyError(f"sysctl -w {key}={wanted} failed: {result.stderr_text.strip() or result.exit_status}")
            kept = await live_value(runner, key)
            if kept != wanted:
                raise HarmonyError(f"the kernel kept {key} = {kept} after setting {wanted}")


async def live_value(runner: CommandRunnerService, key: str) -> str:
    """The live value of ``key``, as words separated by one space."""
    result = await runner.run(("sysctl", "-n", "--", key))
    if not result.ok:
        said = result.stderr_text.strip() or f"exit status {result.exit_status}"
        raise HarmonyError(f"cannot read sysctl {key} on the host: {said}")
    return " ".join(result.stdout_text.split())
