"""A service under the host's supervisor: defined, enabled, running, and restarted when what it reads changed."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from capabilities.command_runner import CommandRunner
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.outputs import Ref
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.triggers import Changed, Watched, changes_seen, watch
from harmony_py.values import Change, ChangeAction

from .files import FileScore
from .host_names import optional_account_name
from .supervisors import Definition, Supervisor, supervisor_of
from .validate import absolute_path

_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")
_CHANGES_DEFINITION = ("", "content")


@dataclass(frozen=True)
class ServiceScore(Score[CommandRunner]):
    """The service ``service``: running (or not), enabled at boot (or not), restarted when ``restart_on`` changed.

    The supervisor is systemd where it is PID 1 and runit otherwise
    (``supervisor=`` forces one). With ``command`` (a shell string, or an
    argv list) the score also writes the service's definition, run as
    ``user`` in ``directory``: a systemd unit (checked with
    ``systemd-analyze verify`` before it is installed) or a runit run script;
    a changed definition restarts a running service. Without ``command`` the
    service must already be defined (by its package).

    ``restart_on`` lists scores of the same maestro (e.g. the service's
    configuration file): when one of them changed something in this apply,
    the service is restarted, as handlers do in Ansible; the plan says so when
    one of them has changes to make. The service is applied after them.

    Example::

        config = TemplateScore("/etc/shop/app.ini", "port = {{ port }}\\n", {"port": 8080})
        ServiceScore("shop", command=["/srv/shop/bin/serve", "--config", "/etc/shop/app.ini"],
                     user="shop", restart_on=[config])
    """

    service: str
    command: str | Sequence[str] | None = None
    user: str | None = None
    directory: str | None = None
    running: bool = True
    enabled: bool = True
    restart_on: Sequence[Watched] = ()
    supervisor: Literal["auto", "systemd", "runit"] = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.service, str) or not _SERVICE.fullmatch(self.service) or self.service.endswith(".service"):
            raise ScoreValueError(
                f"ServiceScore.service must be a service name (letters, digits, '_', '.', '@', '-'; no '.service'), got {self.service!r}"
            )
        where = f"ServiceScore({self.service})"
        if self.command is not None:
            object.__setattr__(self, "command", _command(where, self.command))
        optional_account_name(where, "user", self.user)
        if self.directory is not None:
            object.__setattr__(self, "directory", absolute_path(where, "directory", self.directory))
        for field in ("running", "enabled"):
            if not isinstance(getattr(self, field), bool):
                raise ScoreValueError(f"{where}.{field} must be True or False, got {getattr(self, field)!r}")
        if self.supervisor not in ("auto", "systemd", "runit"):
            raise ScoreValueError(f"{where}.supervisor must be 'auto', 'systemd' or 'runit', got {self.supervisor!r}")
        if isinstance(self.restart_on, (str, bytes)) or not isinstance(self.restart_on, Sequence):
            raise ScoreValueError(f"{where}.restart_on must be a list of scores, got {self.restart_on!r}")
        try:
            object.__setattr__(self, "restart_on", tuple(watch(value) for value in self.restart_on))
        except TypeError as exc:
            raise ScoreValueError(f"{where}.restart_on: {exc}") from None

    @property
    def name(self) -> str:
        return f"ServiceScore({self.service})"

    @property
    def definition(self) -> Definition | None:
        command = self.command
        if command is None:
            return None
        argv = ("/bin/sh", "-c", command) if isinstance(command, str) else tuple(command)
        return Definition(self.service, argv, self.user, self.directory)

    @property
    def watched(self) -> tuple[Ref[Changed] | Changed, ...]:
        return tuple(watch(value) for value in self.restart_on)

    def interpret(self) -> ServiceInterpret:
        return ServiceInterpret(self)


def _command(where: str, value: object) -> str | tuple[str, ...]:
    if isinstance(value, str):
        if not value.strip() or "\n" in value:
            raise ScoreValueError(f"{where}.command must be one non-empty line of shell, got {value!r}")
        return value
    if isinstance(value, Sequence) and value and all(isinstance(part, str) and "\n" not in part for part in value):
        return tuple(value)
    raise ScoreValueError(f"{where}.command must be a shell string or a non-empty list of strings, got {value!r}")


class ServiceInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: ServiceScore) -> None:
        self.score = score
        self.target = f"service {score.service}"

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        score = self.score
        supervisor = await supervisor_of(runner, score.service, score.supervisor)
        changes: list[Change] = []
        redefined = False
        file = self._file(supervisor)
        if file is not None:
            file_changes = await file.interpret().plan(topology)
            changes += file_changes
            redefined = any(change.attribute in _CHANGES_DEFINITION for change in file_changes)
        elif not await supervisor.has_definition():
            raise HarmonyError(
                f"the host's {supervisor.name} has no service {score.service}; give ServiceScore a command= to define it"
            )
        if await supervisor.is_enabled() != score.enabled:
            verb = "enable" if score.enabled else "disable"
            changes.append(Change(ChangeAction.UPDATE, self.target, f"{verb} {score.service} ({supervisor.name})", attribute="enabled"))
        state = await supervisor.state()
        triggers = changes_seen(score.watched)
        if score.running and state != "running":
            changes.append(Change(ChangeAction.RUN, self.target, f"start {score.service} ({supervisor.name})", attribute="start"))
        elif score.running and (redefined or triggers):
            because = ", ".join([*(["its definition changes"] if redefined else []), *(f"{t} changed" for t in triggers)])
            changes.append(Change(ChangeAction.RUN, self.target, f"restart {score.service}: {because}", attribute="restart"))
        elif not score.running and state == "running":
            changes.append(Change(ChangeAction.RUN, self.target, f"stop {score.service} ({supervisor.name})", attribute="stop"))
        return changes

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        score = self.score
        supervisor = await supervisor_of(runner, score.service, score.supervisor)
        file = self._file(supervisor)
        if file is not None:
            await self._define(topology, supervisor, file)
        attributes = {change.attribute for change in changes}
        if "enabled" in attributes:
            await supervisor.enable(score.enabled)
        if "start" in attributes:
            await supervisor.start()
        elif "restart" in attributes:
            await supervisor.restart()
        elif "stop" in attributes:
            await supervisor.stop()
        state = await supervisor.state()
        if (state == "running") != score.running:
            wanted = "running" if score.running else "stopped"
            raise HarmonyError(f"{score.service} is {state} after the change, not {wanted} ({supervisor.name}: {await supervisor.said()})")

    def _file(self, supervisor: Supervisor) -> FileScore | None:
        definition = self.score.definition
        return None if definition is None else supervisor.definition_file(definition)

    async def _define(self, topology: CommandRunner, supervisor: Supervisor, file: FileScore) -> None:
        runner = topology.command_runner()
        interpret = file.interpret()
        pending = await interpret.plan(topology)
        if not pending:
            return
        await supervisor.check(file)
        directory = posixpath.dirname(file.path)
        if await runner.stat(directory) is None:
            await runner.make_directory(directory, mode=0o755)
        await interpret.converge(topology, pending)
        await supervisor.installed()
