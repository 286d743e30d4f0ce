"""The database's CA certificate placed beside an application, through the host's command runner.

An application on another machine than its database cannot read the endpoint's
``sslrootcert`` (a path on the database's host): the platform writes the CA
certificate into the application's own directory and the program's
``DATABASE_URL`` names that copy (:func:`capabilities.application.authorities_beside`).
A certificate is public, so it is written 0644 and a plan shows it whole.
libpq reads it on every new connection: a changed one needs no restart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from capabilities.application import AppSpec
from capabilities.command_runner import CommandRunnerService
from harmony_py.diff import unified_diff
from harmony_py.values import Change, ChangeAction

AUTHORITY_MODE = 0o644


async def authority_changes(runner: CommandRunnerService, spec: AppSpec, files: Mapping[str, str]) -> list[Change]:
    """Each CA certificate file of ``spec`` whose content differs from ``files`` (or is missing)."""
    changes: list[Change] = []
    for path, content in files.items():
        current = await runner.read_file(path)
        if current == content.encode():
            continue
        action = ChangeAction.CREATE if current is None else ChangeAction.UPDATE
        diff = unified_diff(path, current or b"", content.encode())
        changes.append(Change(action, path, f"{action.value} the database's CA certificate of {spec.name}", diff=diff))
    return changes


async def write_authorities(runner: CommandRunnerService, files: Mapping[str, str], changes: Sequence[Change]) -> None:
    """Write the files ``changes`` names (their directory exists, readable by the program's user)."""
    for change in changes:
        await runner.write_file(change.target, files[change.target].encode(), mode=AUTHORITY_MODE)
