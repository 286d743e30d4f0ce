"""What the engine needs on a host: Debian's etcd and Patroni in a virtualenv, planned as changes.

- ``etcd-server`` and ``etcd-client`` (etcd 3.4) through :mod:`harmony_py.hostops.packages`,
  the code ``PackageScore`` uses. Their own ``etcd`` service must not start nor be
  enabled (harmony_py runs its own members): on a host where systemd is PID 1 the unit is
  masked before the install; elsewhere a ``policy-rc.d`` refusing every start is in place
  for the install's length (unless the host has one already).
- Patroni :data:`PATRONI_VERSION` from the package index into :data:`~.layout.PATRONI_HOME`,
  a virtualenv made by the host's own ``/usr/bin/python3`` (an interpreter the
  ``postgres`` user can run; Debian's ``patroni`` 3.0.2 can lose acknowledged commits
  after a partition, adr/0081).

A host that has all of it plans nothing. Test hosts without the package index get
it beforehand, through this same code (scripts/install_ha_engine.py, run by scripts/test.sh).
"""

from __future__ import annotations

from collections.abc import Sequence

from capabilities.command_runner import CommandResult, CommandRunnerService, FileKind
from harmony_py.errors import CommandFailedError
from harmony_py.hostops.packages import apt_get, candidate_versions, install_packages, installed_packages
from harmony_py.values import Change, ChangeAction
from topologies.errors import HostPostgreSQLError

from .layout import PATRONI_HOME

PATRONI_VERSION = "4.1.5"
PATRONI_REQUIREMENTS = (f"patroni[etcd3,psycopg3]=={PATRONI_VERSION}", "psycopg[binary]>=3.1")
PACKAGES = ("etcd-server", "etcd-client", "python3", "python3-venv", "curl")
"""Debian packages of every participant (curl asks Patroni's REST API on the host itself)."""
HOST_PYTHON = "/usr/bin/python3"
POLICY_RC_D = "/usr/sbin/policy-rc.d"
DENY_STARTS = "#!/bin/sh\n# harmony_py: no service starts while the HA engine's packages install\nexit 101\n"
INSTALL_S = 1800.0
QUICK_S = 30.0


async def patroni_version(runner: CommandRunnerService) -> str | None:
    """The version of Patroni installed in :data:`PATRONI_HOME`, else None.

    Read from the name of its distribution record (``lib/python3.X/site-packages/patroni-V.dist-info``), not
    from ``patroni --version``: that starts Python and imports Patroni, about 0.7 s of the host's CPU on every
    plan of every member. That the installed program runs is checked once, after installing it.
    """
    if await runner.stat(f"{PATRONI_HOME}/bin/patroni") is None:
        return None
    result = await runner.run(
        ["find", f"{PATRONI_HOME}/lib", "-mindepth", "3", "-maxdepth", "3", "-name", "patroni-*.dist-info"],
        timeout_s=QUICK_S,
    )
    if not result.ok:
        return None
    found = sorted(
        line.rsplit("/", 1)[-1].removeprefix("patroni-").removesuffix(".dist-info")
        for line in result.stdout_text.splitlines()
        if line
    )
    return PATRONI_VERSION if PATRONI_VERSION in found else (found[0] if found else None)


async def _version_patroni_prints(runner: CommandRunnerService) -> str | None:
    """What ``patroni --version`` says (the program runs), else None."""
    result = await runner.run([f"{PATRONI_HOME}/bin/patroni", "--version"], timeout_s=QUICK_S)
    words = result.stdout_text.split()
    return words[-1] if result.ok and words else None


async def missing_packages(runner: CommandRunnerService) -> list[str]:
    found = await installed_packages(runner, PACKAGES)
    return [name for name in PACKAGES if not found.get(name, False)]


async def plan_install(runner: CommandRunnerService, target: str) -> list[Change]:
    """What :func:`install` would do on the host (observing only)."""
    changes = []
    missing = await missing_packages(runner)
    if missing:
        changes.append(Change(ChangeAction.CREATE, target, f"install {', '.join(missing)} with apt (their own services kept down)"))
    version = await patroni_version(runner)
    if version != PATRONI_VERSION:
        was = f" (found {version})" if version else ""
        changes.append(Change(ChangeAction.CREATE, target, f"install Patroni {PATRONI_VERSION} into {PATRONI_HOME}{was}"))
    return changes


async def install(runner: CommandRunnerService, target: str) -> None:
    """Install what :func:`plan_install` found missing; raises :class:`~topologies.errors.HostPostgreSQLError` naming the host and why."""
    await check_installable(runner, target)
    await install_checked(runner, target)


async def check_installable(runner: CommandRunnerService, target: str) -> None:
    """Refuse, changing nothing installed, when what the host lacks cannot be had.

    Run on every host before any host installs anything, so that one host that
    cannot get the engine leaves all of them as they were. apt's package lists
    are refreshed (``apt-get update``, no package changes); a Patroni to install
    is fetched into a temporary directory, removed afterwards.
    """
    missing = await missing_packages(runner)
    if missing:
        try:
            await apt_get(runner, "update", timeout_s=INSTALL_S)
        except CommandFailedError as failed:
            raise HostPostgreSQLError(f"{target}: apt-get update failed, so the HA engine cannot be installed: {failed}") from None
        candidates = await candidate_versions(runner, missing)
        unknown = [name for name in missing if name not in candidates]
        if unknown:
            raise HostPostgreSQLError(
                f"{target}: the HA engine cannot be installed: apt knows no {', '.join(unknown)} "
                "(the host needs Debian 12's main repository); nothing was installed"
            )
    # Without the host's python3 and its venv module yet, apt brings them; pip is then tried at install.
    if await patroni_version(runner) != PATRONI_VERSION and not {"python3", "python3-venv"} & set(missing):
        await _fetchable(runner, target)


async def _fetchable(runner: CommandRunnerService, target: str) -> None:
    """Patroni can be fetched from the package index the host's pip uses (tried in a throwaway virtualenv)."""
    made = await _checked(runner, ["mktemp", "-d", "/tmp/harmony-patroni-check.XXXXXXXX"], f"{target}: making a temporary directory")
    scratch = made.stdout_text.strip()
    try:
        await _checked(runner, [HOST_PYTHON, "-m", "venv", "--", f"{scratch}/venv"], f"{target}: making a virtualenv in {scratch}")
        result = await runner.run(
            [f"{scratch}/venv/bin/pip", "download", "--quiet", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
             "--dest", f"{scratch}/wheels", PATRONI_REQUIREMENTS[0]],
            timeout_s=INSTALL_S,
        )  # fmt: skip
        if not result.ok:
            raise HostPostgreSQLError(
                f"{target}: the HA engine cannot be installed: Patroni {PATRONI_VERSION} cannot be fetched from the "
                f"package index ({_last_line(result)}); nothing was installed on any host. Give the host access to "
                f"the index, or install Patroni into {PATRONI_HOME} beforehand (scripts/install_ha_engine.py)"
            )
    finally:
        await runner.run(["rm", "-rf", "--", scratch], timeout_s=QUICK_S)


async def install_checked(runner: CommandRunnerService, target: str) -> None:
    """Install what is missing, once :func:`check_installable` passed on every host."""
    missing = await missing_packages(runner)
    if missing:
        await _install_packages(runner, target, missing)
    if await patroni_version(runner) != PATRONI_VERSION:
        await _install_patroni(runner, target)


async def _install_packages(runner: CommandRunnerService, target: str, missing: Sequence[str]) -> None:
    systemd = await runner.stat("/run/systemd/system")
    policy_written = False
    if systemd is not None and systemd.kind is FileKind.DIRECTORY:
        # Masked before the package exists: its postinst can neither enable nor start it.
        await _checked(runner, ["systemctl", "mask", "etcd.service"], f"{target}: masking etcd.service")
    elif await runner.stat(POLICY_RC_D) is None:
        await runner.write_file(POLICY_RC_D, DENY_STARTS.encode(), mode=0o755)
        policy_written = True
    try:
        await install_packages(runner, list(missing), timeout_s=INSTALL_S)
    except CommandFailedError as failed:
        raise HostPostgreSQLError(f"{target}: installing {', '.join(missing)} failed: {failed}") from None
    finally:
        if policy_written:
            await runner.run(["rm", "-f", "--", POLICY_RC_D], timeout_s=QUICK_S)


async def _install_patroni(runner: CommandRunnerService, target: str) -> None:
    await _checked(runner, ["mkdir", "-p", "-m", "0755", "--", PATRONI_HOME.rsplit("/", 1)[0]], f"{target}: making {PATRONI_HOME}")
    if await runner.stat(f"{PATRONI_HOME}/bin/pip") is None:
        await _checked(runner, [HOST_PYTHON, "-m", "venv", "--", PATRONI_HOME], f"{target}: making the virtualenv {PATRONI_HOME}")
    result = await runner.run(
        [f"{PATRONI_HOME}/bin/pip", "install", "--quiet", "--no-cache-dir", "--disable-pip-version-check", *PATRONI_REQUIREMENTS],
        timeout_s=INSTALL_S,
    )
    if not result.ok:
        raise HostPostgreSQLError(
            f"{target}: installing Patroni {PATRONI_VERSION} into {PATRONI_HOME} failed: {_last_line(result)}"
        )
    # The venv is root's: postgres must read and run it whatever root's umask was.
    await _checked(runner, ["chmod", "-R", "go+rX", "--", PATRONI_HOME], f"{target}: opening {PATRONI_HOME} to postgres")
    found = await _version_patroni_prints(runner)
    if found != PATRONI_VERSION:
        raise HostPostgreSQLError(f"{target}: Patroni {PATRONI_VERSION} was installed but {PATRONI_HOME}/bin/patroni says {found}")


async def _checked(runner: CommandRunnerService, argv: Sequence[str], what: str) -> CommandResult:
    result = await runner.run(argv, timeout_s=INSTALL_S)
    if not result.ok:
        raise HostPostgreSQLError(f"{what} failed: {_last_line(result)}")
    return result


def _last_line(result: CommandResult) -> str:
    lines = (result.stderr_text.strip() or result.stdout_text.strip()).splitlines()
    return lines[-1] if lines else f"exit status {result.exit_status}"

