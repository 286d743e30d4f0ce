"""The engine's daemons under the host's supervisor, converged by ``ServiceScore``'s own code.

systemd where it is PID 1, runit elsewhere (:mod:`harmony_py.scores.supervisors`):
a daemon is a service definition (a unit or a run script) that is enabled and
running. Its program starts with an empty environment plus what it names, so
nothing of the shell or the supervisor that started it leaks in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunnerService
from harmony_py.scores.services import ServiceScore
from harmony_py.scores.supervisors import State, supervisor_of
from harmony_py.values import Change

SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Daemon:
    """A program kept running by the host's supervisor as ``user``."""

    service: str
    argv: tuple[str, ...]
    user: str
    env: Mapping[str, str]

    def score(self) -> ServiceScore:
        names = {"PATH": SEARCH_PATH, "LANG": "C.UTF-8", **self.env}
        command = ("env", "-i", *(f"{key}={value}" for key, value in names.items()), *self.argv)
        return ServiceScore(self.service, command=command, user=self.user, running=True, enabled=True)


@dataclass(frozen=True)
class _Host:
    """The ``CommandRunner`` a score's interpret takes, made of one runner."""

    runner: CommandRunnerService

    def command_runner(self) -> CommandRunnerService:
        return self.runner


async def plan_daemon(runner: CommandRunnerService, daemon: Daemon, target: str) -> list[Change]:
    """What converging ``daemon`` would change (its definition, enabling, starting), named for ``target``."""
    found = await daemon.score().interpret().plan(_Host(runner))
    return [Change(c.action, target, f"{daemon.service}: {c.summary}", c.diff, c.attribute) for c in found]


async def converge_daemon(runner: CommandRunnerService, daemon: Daemon, changes: Sequence[Change]) -> None:
    """Make what :func:`plan_daemon` found (a changed definition restarts a running daemon)."""
    await daemon.score().interpret().converge(_Host(runner), changes)


async def ensure_daemon(runner: CommandRunnerService, daemon: Daemon, target: str) -> list[Change]:
    changes = await plan_daemon(runner, daemon, target)
    if changes:
        await converge_daemon(runner, daemon, changes)
    return changes


async def daemon_state(runner: CommandRunnerService, service: str) -> State:
    return await (await supervisor_of(runner, service, "auto")).state()


async def stop_daemon(runner: CommandRunnerService, service: str) -> None:
    await (await supervisor_of(runner, service, "auto")).stop()
