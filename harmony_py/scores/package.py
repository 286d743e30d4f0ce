"""Debian/Ubuntu packages, planned from dpkg's own record of what is installed.

apt and dpkg are driven by :mod:`harmony_py.hostops.packages`, which the
adapters that install what they run (PostgreSQL on hosts) use too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from capabilities.command_runner import CommandRunner
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.hostops.packages import (
    Installed,
    candidate_versions,
    install_packages,
    installed_packages,
    package_versions,
    remove_packages,
)
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction

PackageState = Literal["present", "absent", "latest"]

# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters;
# optionally qualified by an architecture (libc6:amd64).
_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.\-]+(:[a-z0-9\-]+)?")
# Debian policy 5.6.12: [epoch:]upstream_version[-debian_revision], upstream starting with a digit.
_VERSION = re.compile(r"([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*")


@dataclass(frozen=True)
class Wanted:
    """One entry of ``PackageScore.packages``: ``name`` or ``name=version``."""

    name: str
    version: str | None

    @property
    def base(self) -> str:
        return self.name.partition(":")[0]

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}={self.version}"


def _wanted(entry: object) -> Wanted:
    if not isinstance(entry, str):
        raise ScoreValueError(f"PackageScore.packages: {entry!r} is not a package name")
    name, equals, version = entry.partition("=")
    if not _PACKAGE_NAME.fullmatch(name):
        raise ScoreValueError(
            f"PackageScore.packages: {name!r} is not a Debian package name "
            "(lower case letters, digits, '+', '-', '.'; optionally ':arch')"
        )
    if equals and not _VERSION.fullmatch(version):
        raise ScoreValueError(f"PackageScore.packages: {version!r} in {entry!r} is not a Debian version")
    return Wanted(name, version if equals else None)


@dataclass(frozen=True)
class PackageScore(Score[CommandRunner]):
    """Packages installed (``state="present"``), upgraded (``"latest"``) or removed (``"absent"``) with apt.

    An entry ``"name=version"`` pins that exact version: apt installs,
    upgrades or downgrades to it, and the plan names both versions. With
    ``"latest"`` the plan compares the installed version with apt's
    candidate (``apt-cache policy``). The plan reads dpkg's status of all the
    packages in one command; apply runs one ``apt-get install`` or
    ``apt-get remove`` for those that differ, then checks dpkg again.
    ``update_cache=True`` runs ``apt-get update`` first when something is to
    be installed (the candidate a "latest" plan names is from the lists as
    they are).

    Example::

        PackageScore(["nginx", "postgresql-15=15.8-0+deb12u1"])
    """

    packages: Sequence[str]
    state: PackageState = "present"
    update_cache: bool = False
    timeout_s: float | None = 1800.0

    def __post_init__(self) -> None:
        packages = (self.packages,) if isinstance(self.packages, str) else self.packages
        if not isinstance(packages, Sequence) or not packages:
            raise ScoreValueError(f"PackageScore.packages must be a non-empty list of names, got {self.packages!r}")
        wanted = [_wanted(entry) for entry in packages]
        if self.state not in ("present", "absent", "latest"):
            raise ScoreValueError(f"PackageScore.state must be 'present', 'absent' or 'latest', got {self.state!r}")
        pinned = [str(entry) for entry in wanted if entry.version is not None]
        if pinned and self.state != "present":
            raise ScoreValueError(f"PackageScore: a version ({', '.join(pinned)}) goes with state='present' only")
        bases = [entry.base for entry in wanted]
        if len(set(bases)) != len(bases):
            raise ScoreValueError(f"PackageScore.packages names a package twice: {', '.join(map(str, wanted))}")
        object.__setattr__(self, "packages", tuple(str(entry) for entry in wanted))

    @property
    def wanted(self) -> tuple[Wanted, ...]:
        return tuple(_wanted(entry) for entry in self.packages)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.wanted)

    @property
    def name(self) -> str:
        return f"PackageScore({' '.join(self.packages)} {self.state})"

    def interpret(self) -> PackageInterpret:
        return PackageInterpret(self)


class PackageInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: PackageScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        found = await package_versions(runner, self.score.names)
        state = self.score.state
        if state == "absent":
            return [
                Change(ChangeAction.DELETE, f"package {entry.name}", f"remove package {entry.name}")
                for entry in self.score.wanted
                if _installed(found, entry)
            ]
        candidates = await candidate_versions(runner, self.score.names) if state == "latest" else {}
        changes = []
        for entry in self.score.wanted:
            wanted_version = entry.version or candidates.get(entry.base)
            target = f"package {entry}"
            if not _installed(found, entry):
                shown = f"{entry.name} {wanted_version}" if wanted_version else entry.name
                changes.append(Change(ChangeAction.CREATE, target, f"install package {shown}"))
            elif wanted_version is not None and found[entry.base].version != wanted_version:
                verb = "upgrade" if state == "latest" else "change"
                summary = f"{verb} package {entry.name} {found[entry.base].version} -> {wanted_version}"
                changes.append(Change(ChangeAction.UPDATE, target, summary, attribute="version"))
        return changes

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        names = [change.target.removeprefix("package ") for change in changes]
        if self.score.state != "absent":
            await install_packages(runner, names, update_cache=self.score.update_cache, timeout_s=self.score.timeout_s)
        else:
            await remove_packages(runner, names, timeout_s=self.score.timeout_s)
        remaining = await self.plan(topology)
        if remaining:
            raise HarmonyError(
                f"apt-get succeeded but dpkg still reports: {'; '.join(c.summary for c in remaining)} needed"
            )


def _installed(found: Mapping[str, Installed], entry: Wanted) -> bool:
    record = found.get(entry.base)
    return record is not None and record.installed


__all__ = [
    "Installed", "PackageInterpret", "PackageScore", "PackageState", "Wanted",
    "candidate_versions", "installed_packages", "package_versions",
]  # fmt: skip
