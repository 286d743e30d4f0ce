"""The two service supervisors ServiceScore drives: systemd (when it is PID 1) and runit.

Each backend observes a service (its definition file, whether it is enabled,
whether it runs) and changes it; ServiceScore decides what to change. Every
host call sits in these small methods (adr/0019).

- systemd: a unit ``/etc/systemd/system/<name>.service``, checked with
  ``systemd-analyze verify`` on the host before it is installed, then
  ``systemctl daemon-reload``, ``enable``/``disable``, ``start``/``stop``/``restart``.
- runit (Debian layout): a service directory ``/etc/sv/<name>`` with a ``run``
  script; enabled is the link ``/etc/service/<name>``; ``sv`` starts, stops and
  restarts it. Where no ``runsvdir`` supervises it yet, harmony_py starts a
  ``runsv`` for the directory itself (a second runsv for one directory exits
  on its lock, so one supervises it at a time).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import anyio

from capabilities.command_runner import CommandResult, CommandRunnerService, FileKind
from harmony_py.errors import HarmonyError

from .files import FileScore
from .links import read_link

SupervisorName = Literal["systemd", "runit"]
State = Literal["running", "stopped", "missing"]
"""``missing``: no supervisor knows the service (runit: no runsv for it; systemd: no unit)."""

RUNIT_SERVICES = "/etc/sv"
RUNIT_ENABLED = "/etc/service"
SYSTEMD_UNITS = "/etc/systemd/system"
WAIT_S = 15
"""How long ``sv -w`` waits for a service to reach the state asked for."""


@dataclass(frozen=True)
class Definition:
    """What a service runs: the program (argv), as whom, and where."""

    name: str
    argv: tuple[str, ...]
    user: str | None
    directory: str | None


class Supervisor(Protocol):
    name: SupervisorName

    def definition_file(self, definition: Definition) -> FileScore:
        """The file that defines the service (a unit, a run script), as a file score."""
        ...

    async def has_definition(self) -> bool: ...

    async def check(self, file: FileScore) -> None:
        """Refuse a definition the supervisor would not accept, before it is installed."""
        ...

    async def installed(self) -> None:
        """Tell the supervisor its definition changed."""
        ...

    async def is_enabled(self) -> bool: ...

    async def enable(self, enabled: bool) -> None: ...

    async def state(self) -> State: ...

    async def said(self) -> str:
        """What the supervisor says of the service, in a line or two (for errors)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def restart(self) -> None: ...


async def _checked(host: CommandRunnerService, argv: Sequence[str], what: str) -> CommandResult:
    result = await host.run(argv)
    if not result.ok:
        said = (result.stdout_text + result.stderr_text).strip().splitlines()
        raise HarmonyError(f"{what} failed: {said[-1] if said else f'exit status {result.exit_status}'}")
    return result


# -- runit -------------------------------------------------------------------------

_UPTIME = re.compile(r"run: [^:]*: \(pid \d+\) (?P<seconds>\d+)s")
_RUN_HEADER = "#!/bin/sh\n# harmony_py service {name}: written by ServiceScore, do not edit\nexec 2>&1\n"


class Runit:
    name: SupervisorName = "runit"

    def __init__(self, host: CommandRunnerService, service: str) -> None:
        self.host = host
        self.service = service
        self.directory = f"{RUNIT_SERVICES}/{service}"
        self.link = f"{RUNIT_ENABLED}/{service}"

    def definition_file(self, definition: Definition) -> FileScore:
        lines = [_RUN_HEADER.format(name=definition.name)]
        if definition.directory is not None:
            lines.append(f"cd {shlex.quote(definition.directory)} || exit 1\n")
        as_user = ("chpst", "-u", definition.user) if definition.user is not None else ()
        lines.append(f"exec {shlex.join((*as_user, *definition.argv))}\n")
        return FileScore(f"{self.directory}/run", "".join(lines), mode=0o755)

    async def has_definition(self) -> bool:
        return await self.host.stat(f"{self.directory}/run") is not None

    async def check(self, file: FileScore) -> None:
        await _checked(self.host, ("sh", "-n", "-c", file.desired_bytes().decode()), f"checking the run script of {self.service}")

    async def installed(self) -> None:
        """runsv runs ./run afresh at each start: nothing to reload."""

    async def is_enabled(self) -> bool:
        found = await self.host.stat(self.link)
        return found is not None and found.kind is FileKind.SYMLINK and await read_link(self.host, self.link) == self.directory

    async def enable(self, enabled: bool) -> None:
        if enabled:
            if await self.host.stat(RUNIT_ENABLED) is None:
                await self.host.make_directory(RUNIT_ENABLED, mode=0o755)
            await _checked(self.host, ("ln", "-sfn", "--", self.directory, self.link), f"enabling {self.service}")
        else:
            await _checked(self.host, ("rm", "-f", "--", self.link), f"disabling {self.service}")

    async def state(self) -> State:
        result = await self.host.run(("sv", "status", self.directory))
        text = result.stdout_text.strip()
        if result.exit_status == 127:
            raise HarmonyError("the host has neither systemd as PID 1 nor runit's sv; install runit (Debian package 'runit')")
        if text.startswith("run:"):
            return "running"
        if text.startswith(("down:", "finish:")):
            return "stopped"
        return "missing"

    async def said(self) -> str:
        return (await self.host.run(("sv", "status", self.directory))).stdout_text.strip()

    async def start(self) -> None:
        if await self.state() == "missing":
            await self._start_runsv()
        await _checked(self.host, ("sv", "-w", str(WAIT_S), "start", self.directory), f"starting {self.service}")
        await self._settled()

    async def stop(self) -> None:
        if await self.state() == "missing":
            return
        await _checked(self.host, ("sv", "-w", str(WAIT_S), "stop", self.directory), f"stopping {self.service}")
        if not await self.is_enabled():
            # Neither wanted running nor enabled: its runsv (ours, or runsvdir's) has nothing left to do.
            await self.host.run(("sv", "exit", self.directory))

    async def restart(self) -> None:
        if await self.state() == "missing":
            await self.start()
            return
        await _checked(self.host, ("sv", "-w", str(WAIT_S), "restart", self.directory), f"restarting {self.service}")
        await self._settled()

    async def _settled(self) -> None:
        """Wait until the service has run for a second: sv reports "ok" as soon as it is up, even if it exits at once."""
        with anyio.move_on_after(WAIT_S):
            while True:
                said = await self.said()
                found = _UPTIME.match(said)
                if found is not None and int(found["seconds"]) >= 1:
                    return
                await anyio.sleep(0.2)

    async def _start_runsv(self) -> None:
        # setsid -f: runsv outlives this apply in a session of its own; its output goes nowhere,
        # so the command returns at once. It starts ./run unless a ./down file says not to.
        script = 'exec setsid -f runsv "$1" </dev/null >/dev/null 2>&1'
        await _checked(self.host, ("sh", "-c", script, "sh", self.directory), f"starting runsv for {self.service}")
        # runsv opens supervise/ok once it is ready to take commands; sv needs it. The FIFO
        # exists a moment before runsv opens it (sv then says "runsv not running"): ask sv.
        for _ in range(50):
            if await self.host.stat(f"{self.directory}/supervise/ok") is not None and (await self.host.run(("sv", "status", self.directory))).ok:
                return
            await anyio.sleep(0.1)
        raise HarmonyError(f"runsv for {self.service} did not become ready ({self.directory}/supervise/ok is missing)")


# -- systemd -----------------------------------------------------------------------


def systemd_quote(argument: str) -> str:
    """One ExecStart argument: double-quoted, C escapes, and ``$``/``%`` doubled (no expansion by systemd)."""
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


class Systemd:
    name: SupervisorName = "systemd"

    def __init__(self, host: CommandRunnerService, service: str) -> None:
        self.host = host
        self.service = service
        self.unit = f"{service}.service"

    def definition_file(self, definition: Definition) -> FileScore:
        service = [f"ExecStart={' '.join(map(systemd_quote, definition.argv))}", "Restart=on-failure"]
        if definition.user is not None:
            service.append(f"User={definition.user}")
        if definition.directory is not None:
            service.append(f"WorkingDirectory={definition.directory}")
        text = (
            f"# harmony_py service {definition.name}: written by ServiceScore, do not edit\n"
            f"[Unit]\nDescription={definition.name} (harmony_py)\nAfter=network.target\n\n"
            "[Service]\n" + "".join(f"{line}\n" for line in service) + "\n"
            "[Install]\nWantedBy=multi-user.target\n"
        )
        return FileScore(f"{SYSTEMD_UNITS}/{self.unit}", text, mode=0o644)

    async def has_definition(self) -> bool:
        result = await self.host.run(("systemctl", "cat", "--", self.unit))
        return result.ok

    async def check(self, file: FileScore) -> None:
        await verify_unit(self.host, self.unit, file.desired_bytes())

    async def installed(self) -> None:
        await _checked(self.host, ("systemctl", "daemon-reload"), "systemctl daemon-reload")

    async def is_enabled(self) -> bool:
        result = await self.host.run(("systemctl", "is-enabled", "--", self.unit))
        return result.stdout_text.strip() in ("enabled", "enabled-runtime", "static", "alias")

    async def enable(self, enabled: bool) -> None:
        verb = "enable" if enabled else "disable"
        await _checked(self.host, ("systemctl", verb, "--", self.unit), f"systemctl {verb} {self.unit}")

    async def state(self) -> State:
        result = await self.host.run(("systemctl", "is-active", "--", self.unit))
        answer = result.stdout_text.strip()
        if answer in ("active", "reloading", "activating"):
            return "running"
        return "stopped" if await self.has_definition() else "missing"

    async def said(self) -> str:
        result = await self.host.run(("systemctl", "status", "--no-pager", "--lines=2", "--", self.unit))
        return " / ".join(line.strip() for line in result.stdout_text.splitlines()[:4])

    async def start(self) -> None:
        await _checked(self.host, ("systemctl", "start", "--", self.unit), f"systemctl start {self.unit}")

    async def stop(self) -> None:
        await _checked(self.host, ("systemctl", "stop", "--", self.unit), f"systemctl stop {self.unit}")

    async def restart(self) -> None:
        await _checked(self.host, ("systemctl", "restart", "--", self.unit), f"systemctl restart {self.unit}")


async def verify_unit(host: CommandRunnerService, unit: str, content: bytes) -> None:
    """``systemd-analyze verify`` on the host, of ``content`` as the unit ``unit``, before it is installed anywhere."""
    directory = (await _checked(host, ("mktemp", "-d", "--tmpdir", "harmony-unit.XXXXXX"), "mktemp")).stdout_text.strip()
    try:
        await host.write_file(f"{directory}/{unit}", content, mode=0o644)
        result = await host.run(("systemd-analyze", "verify", "--", f"{directory}/{unit}"))
        if not result.ok:
            said = [line.replace(f"{directory}/", "") for line in result.stderr_text.strip().splitlines()]
            raise HarmonyError(f"systemd-analyze verify refuses {unit}: {'; '.join(said) or f'exit status {result.exit_status}'}")
    finally:
        await host.run(("rm", "-rf", "--", directory))


async def supervisor_of(host: CommandRunnerService, service: str, wanted: Literal["auto", "systemd", "runit"]) -> Supervisor:
    """The supervisor of ``host``: systemd when it runs as PID 1 (``/run/systemd/system`` exists), runit otherwise."""
    if wanted == "auto":
        booted = await host.stat("/run/systemd/system")
        wanted = "systemd" if booted is not None and booted.kind is FileKind.DIRECTORY else "runit"
    return Systemd(host, service) if wanted == "systemd" else Runit(host, service)

