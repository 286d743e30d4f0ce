"""Debian/Ubuntu packages, planned from dpkg's own record of what is installed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from capabilities.command_runner import CommandRunner, CommandRunnerService
from harmony_py.errors import CommandFailedError, HarmonyError, ScoreValueError
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction

PackageState = Literal["present", "absent"]

# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters;
# optionally qualified by an architecture (libc6:amd64).
_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.\-]+(:[a-z0-9\-]+)?")
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
# Wait for another apt or dpkg run to finish instead of failing at once on its lock.
_APT_LOCK_WAIT = ("-o", "DPkg::Lock::Timeout=300")
_QUERY_FORMAT = "${Package}\t${db:Status-Abbrev}\n"


@dataclass(frozen=True)
class PackageScore(Score[CommandRunner]):
    """Packages installed (``state="present"``) or removed (``"absent"``) with apt.

    The plan reads dpkg's status for all the packages in one command; apply
    runs one ``apt-get install`` or ``apt-get remove`` for those that differ,
    then checks dpkg again. ``update_cache=True`` runs ``apt-get update`` first
    when something is to be installed.
    """

    packages: Sequence[str]
    state: PackageState = "present"
    update_cache: bool = False
    timeout_s: float | None = 1800.0

    def __post_init__(self) -> None:
        packages = (self.packages,) if isinstance(self.packages, str) else self.packages
        if not isinstance(packages, Sequence) or not packages:
            raise ScoreValueError(f"PackageScore.packages must be a non-empty list of names, got {self.packages!r}")
        for package in packages:
            if not isinstance(package, str) or not _PACKAGE_NAME.fullmatch(package):
                raise ScoreValueError(
                    f"PackageScore.packages: {package!r} is not a Debian package name "
                    "(lower case letters, digits, '+', '-', '.'; optionally ':arch')"
                )
        if self.state not in ("present", "absent"):
            raise ScoreValueError(f"PackageScore.state must be 'present' or 'absent', got {self.state!r}")
        object.__setattr__(self, "packages", tuple(dict.fromkeys(packages)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.packages)

    @property
    def name(self) -> str:
        return f"PackageScore({' '.join(self.names)} {self.state})"

    def interpret(self) -> PackageInterpret:
        return PackageInterpret(self)


class PackageInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: PackageScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        installed = await installed_packages(topology.command_runner(), self.score.names)
        if self.score.state == "present":
            return [
                Change(ChangeAction.CREATE, f"package {name}", f"install package {name}")
                for name in self.score.names
                if not installed.get(_base(name), False)
            ]
        return [
            Change(ChangeAction.DELETE, f"package {name}", f"remove package {name}")
            for name in self.score.names
            if installed.get(_base(name), False)
        ]

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        names = [change.target.removeprefix("package ") for change in changes]
        if self.score.state == "present":
            if self.score.update_cache:
                await _apt(runner, ("apt-get", *_APT_LOCK_WAIT, "-q", "update"), self.score.timeout_s)
            argv = ("apt-get", *_APT_LOCK_WAIT, "-q", "-y", "--no-install-recommends", "install", *names)
        else:
            argv = ("apt-get", *_APT_LOCK_WAIT, "-q", "-y", "remove", *names)
        await _apt(runner, argv, self.score.timeout_s)
        remaining = await self.plan(topology)
        if remaining:
            raise HarmonyError(
                f"apt-get succeeded but dpkg still reports: {'; '.join(c.summary for c in remaining)} needed"
            )


async def installed_packages(runner: CommandRunnerService, names: Sequence[str]) -> Mapping[str, bool]:
    """Whether each package is installed, by dpkg's status ("ii"); unknown packages are not."""
    result = await runner.run(("dpkg-query", "-W", "-f", _QUERY_FORMAT, "--", *names))
    # dpkg-query exits 1 when some name is unknown to it, and still lists the others.
    if result.exit_status not in (0, 1):
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
    installed: dict[str, bool] = {}
    for line in result.stdout_text.splitlines():
        package, _tab, status = line.partition("\t")
        installed[package] = status.startswith("ii")
    return installed


def _base(name: str) -> str:
    return name.partition(":")[0]


async def _apt(runner: CommandRunnerService, argv: tuple[str, ...], timeout_s: float | None) -> None:
    result = await runner.run(argv, env=_APT_ENV, timeout_s=timeout_s)
    if not result.ok:
        raise CommandFailedError(argv, result.exit_status, result.stderr_text)
