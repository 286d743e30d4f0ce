"""Debian packages on a host: dpkg's record of what is installed, and apt-get to change it.

The one place apt and dpkg are driven: ``PackageScore`` plans and converges
with these functions, and so do the adapters that install what they run
(PostgreSQL on hosts; the nginx balancer). apt-get waits for another apt or
dpkg run to release its lock instead of failing at once, never asks a
question, and installs no recommended packages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunnerService
from harmony_py.errors import CommandFailedError

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
APT_LOCK_WAIT = ("-o", "DPkg::Lock::Timeout=300")
"""Wait for another apt or dpkg run to finish instead of failing at once on its lock."""
DEFAULT_TIMEOUT_S = 1800.0
_QUERY_FORMAT = "${Package}\t${db:Status-Abbrev}\t${Version}\n"


@dataclass(frozen=True)
class Installed:
    """dpkg's record of one package: whether it is installed ("ii"), and which version."""

    installed: bool
    version: str


async def package_versions(runner: CommandRunnerService, names: Sequence[str]) -> Mapping[str, Installed]:
    """dpkg's record of each package it knows among ``names`` (unknown packages are left out)."""
    result = await runner.run(("dpkg-query", "-W", "-f", _QUERY_FORMAT, "--", *names))
    # dpkg-query exits 1 when some name is unknown to it, and still lists the others.
    if result.exit_status not in (0, 1):
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
    found: dict[str, Installed] = {}
    for line in result.stdout_text.splitlines():
        package, _tab, rest = line.partition("\t")
        status, _tab, version = rest.partition("\t")
        found[package] = Installed(status.startswith("ii"), version)
    return found


async def installed_packages(runner: CommandRunnerService, names: Sequence[str]) -> Mapping[str, bool]:
    """Whether each package is installed, by dpkg's status ("ii"); unknown packages are not."""
    return {name: record.installed for name, record in (await package_versions(runner, names)).items()}


async def candidate_versions(runner: CommandRunnerService, names: Sequence[str]) -> Mapping[str, str]:
    """The version apt would install of each package (``apt-cache policy``); packages without one are left out."""
    result = await runner.run(("apt-cache", "policy", "--", *names), env={**APT_ENV, "LC_ALL": "C"})
    if not result.ok:
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
    candidates: dict[str, str] = {}
    package = None
    for line in result.stdout_text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            package = line[:-1].partition(":")[0]
        elif package is not None and line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version != "(none)":
                candidates[package] = version
    return candidates


async def install_packages(
    runner: CommandRunnerService,
    packages: Sequence[str],
    *,
    update_cache: bool = False,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> None:
    """``apt-get install`` of ``packages`` (``name`` or ``name=version``; downgrades allowed),
    after ``apt-get update`` when ``update_cache``. Raises :class:`CommandFailedError` naming
    the command that failed; what dpkg then records is the caller's to check."""
    if update_cache:
        await apt_get(runner, "update", timeout_s=timeout_s)
    await apt_get(runner, "-y", "--no-install-recommends", "install", "--allow-downgrades", *packages, timeout_s=timeout_s)


async def remove_packages(
    runner: CommandRunnerService, packages: Sequence[str], *, timeout_s: float | None = DEFAULT_TIMEOUT_S
) -> None:
    """``apt-get remove`` of ``packages``."""
    await apt_get(runner, "-y", "remove", *packages, timeout_s=timeout_s)


async def apt_get(runner: CommandRunnerService, *arguments: str, timeout_s: float | None) -> None:
    """One ``apt-get`` run, non-interactive and waiting for the dpkg lock; raises unless it succeeds."""
    result = await runner.run(("apt-get", *APT_LOCK_WAIT, "-q", *arguments), env=APT_ENV, timeout_s=timeout_s)
    if not result.ok:
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
