"""Applications as supervised processes on one host: the debugging runtime.

Each application is a runit service directory ``<root>/<name>``: a ``run``
script (the command, started in the application's source directory) and an
``env`` directory holding one 0600 file per variable, which ``chpst -e`` turns
into the program's environment. ``runsv`` keeps the program running and
restarts it when it exits; ``sv`` starts, restarts and asks it (adr/0057).
Secrets therefore live only in 0600 files and in the program's environment,
never on a command line (which ``ps`` shows) nor in a change. A database over TLS
has its CA certificate written beside them (``<root>/<name>/DATABASE_URL.root.crt``,
0644) and ``DATABASE_URL`` names that copy (:mod:`topologies.app.authorities`).

One process serves the application on ``address:port``: on a developer's
machine the replica count is not reproduced (the change says so).

Health is part of what a plan observes: a program that runs (``sv status``
says ``run``) but does not answer its health path with a 2xx is a pending
restart, naming what the probe got and the last line of its log (adr/0035).
The probe is one HTTP GET from this machine, bounded by ``PROBE_TIMEOUT_S``.
"""

from __future__ import annotations

import http.client
import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import anyio
import anyio.to_thread

from capabilities.application import AppSpec, PlacedEnvironment, authorities_beside
from capabilities.command_runner import CommandRunnerService
from harmony_py.errors import ScoreValueError
from harmony_py.values import Change, ChangeAction, Secret
from topologies.errors import ApplicationStartError
from topologies.log_tail import TAIL_LINES, last_lines

from .authorities import authority_changes, write_authorities

RUNSV = "runsv"
SV = "sv"
CHPST = "chpst"
_HEADER = "#!/bin/sh\n# harmony_py application {name}: rewritten by every apply, do not edit\n"
PROBE_TIMEOUT_S = 2.0
"""How long one health probe may take: a plan probes each process once."""
LOG_TAIL_BYTES = 8192
"""How much of the end of a program's log is read to show its last lines (the log itself grows unbounded)."""


@dataclass(frozen=True)
class SupervisedProcesses:
    """The applications of one host, under ``root``, answering on ``address``."""

    runner: CommandRunnerService
    root: str
    address: str
    start_timeout_s: float = 30.0

    def directory(self, spec: AppSpec) -> str:
        return f"{self.root.rstrip('/')}/{spec.name}"

    def url(self, spec: AppSpec) -> str:
        return f"http://{self.address}:{spec.port}"

    def placed(self, spec: AppSpec) -> PlacedEnvironment:
        """The program's environment, its database URLs verifying with CA files in its own directory."""
        placed = authorities_beside(spec, self.directory(spec))
        return PlacedEnvironment({**placed.env, "PORT": str(spec.port), "HOST": self.address}, placed.files)

    def environment(self, spec: AppSpec) -> dict[str, str | Secret]:
        return self.placed(spec).env

    def run_script(self, spec: AppSpec) -> str:
        if spec.source is None:
            raise ScoreValueError(
                f"application {spec.name}: running it as a local process needs its source directory "
                "(ApplicationScore.source), where its command runs"
            )
        directory = self.directory(spec)
        return (
            _HEADER.format(name=spec.name)
            + f"cd {shlex.quote(spec.source)} || exit 1\n"
            # A clean environment: the program sees its own variables, PATH and HOME, nothing else of harmony's.
            + f'exec env -i PATH="$PATH" HOME="$HOME" {CHPST} -e {shlex.quote(directory + "/env")} {shlex.join(spec.command)}'
            + f" >>{shlex.quote(directory + '/app.log')} 2>&1\n"
        )

    async def plan(self, spec: AppSpec) -> list[Change]:
        placed = self.placed(spec)
        return [*await authority_changes(self.runner, spec, placed.files), *await self._program_changes(spec, placed)]

    async def _program_changes(self, spec: AppSpec, placed: PlacedEnvironment) -> list[Change]:
        directory = self.directory(spec)
        script = self.run_script(spec)
        current = await self.runner.read_file(f"{directory}/run")
        where = f"{self.address}:{spec.port}"
        if current is None:
            note = f" (1 process; {spec.replicas} replicas run on the other platforms)" if spec.replicas > 1 else ""
            return [Change(ChangeAction.CREATE, spec.name, f"run `{shlex.join(spec.command)}` supervised on {where}{note}")]
        changes: list[Change] = []
        if current.decode() != script:
            changes.append(Change(ChangeAction.UPDATE, spec.name, f"run `{shlex.join(spec.command)}` on {where}"))
        changed = await self._changed_variables(directory, placed.env)
        if changed:
            changes.append(Change(ChangeAction.UPDATE, spec.name, f"set environment {', '.join(changed)}"))
        if changes:
            changes.append(Change(ChangeAction.RUN, spec.name, "restart it"))
            return changes
        status = await self._status(directory)
        if status is None:
            changes.append(Change(ChangeAction.RUN, spec.name, "start it"))
        else:
            trouble = await self._trouble(spec, status)
            if trouble is not None:
                changes.append(Change(ChangeAction.RUN, spec.name, f"restart {spec.name}: {trouble}", attribute="health"))
        return changes

    async def deploy(self, spec: AppSpec) -> list[Change]:
        placed = self.placed(spec)
        files = await authority_changes(self.runner, spec, placed.files)
        program = await self._program_changes(spec, placed)
        if not files and not program:
            return []
        directory = self.directory(spec)
        await self.runner.make_directory(self.root, mode=0o755)
        await self.runner.make_directory(directory, mode=0o700)
        await write_authorities(self.runner, placed.files, files)
        if not program:
            return files
        await self.runner.make_directory(f"{directory}/env", mode=0o700)
        await self._write_environment(directory, placed.env)
        await self.runner.write_file(f"{directory}/run", self.run_script(spec).encode(), mode=0o700)
        if await self._status(directory) is None:
            await self._start_supervisor(directory)
            await self._wait_healthy(spec)
        else:
            # A program that keeps crashing never reports "run" for long: sv's complaint is kept
            # for the error, and the health wait decides (its error carries the log's tail).
            wait_s = max(1, min(10, math.ceil(self.start_timeout_s)))
            restarted = await self.runner.run([SV, "-w", str(wait_s), "restart", directory])
            await self._wait_healthy(spec, "" if restarted.ok else restarted.stdout_text.strip())
        return [*files, *program]

    async def running(self, spec: AppSpec) -> bool:
        return await self._running(self.directory(spec))

    async def remove(self, spec: AppSpec) -> None:
        """Stop the program and its supervisor, and remove the service directory."""
        directory = self.directory(spec)
        await self.runner.run([SV, "-w", "10", "force-stop", directory])
        await self.runner.run([SV, "exit", directory])
        await self.runner.run(["rm", "-rf", "--", directory])

    async def _changed_variables(self, directory: str, wanted: Mapping[str, str | Secret]) -> list[str]:
        listing = await self.runner.run(["ls", "-1", "--", f"{directory}/env"])
        present = set(listing.stdout.decode().split()) if listing.ok else set()
        changed = sorted(present - set(wanted))
        for key, value in wanted.items():
            content = await self.runner.read_file(f"{directory}/env/{key}")
            if content != _env_file(key, value):
                changed.append(key)
        return sorted(changed)

    async def _write_environment(self, directory: str, wanted: Mapping[str, str | Secret]) -> None:
        listing = await self.runner.run(["ls", "-1", "--", f"{directory}/env"])
        for stale in set(listing.stdout.decode().split()) - set(wanted):
            await self.runner.run(["rm", "-f", "--", f"{directory}/env/{stale}"])
        for key, value in wanted.items():
            await self.runner.write_file(f"{directory}/env/{key}", _env_file(key, value), mode=0o600)

    async def _running(self, directory: str) -> bool:
        status = await self._status(directory)
        return status is not None and status.startswith("run:")

    async def _status(self, directory: str) -> str | None:
        """What ``sv status`` says of the program (``run: ...``, ``down: ...``), or ``None`` without a supervisor."""
        status = await self.runner.run([SV, "status", directory])
        text = status.stdout_text.strip()
        if not status.ok or not text or text.startswith(("fail:", "warning:")):
            return None
        return text

    async def _trouble(self, spec: AppSpec, status: str) -> str | None:
        """Why the supervised program is not serving (one probe of its health path), or ``None`` when it is."""
        if status.startswith("run:"):
            answer = await self._probe(spec)
            if answer.healthy:
                return None
            trouble = f"running but {spec.health_path} {answer.said}"
        else:
            trouble = f"not running (down {status.split(': ', 2)[-1]})"
        last = await self._log_tail(spec, lines=1)
        return trouble + (f" (last output: {last})" if last else "")

    async def _probe(self, spec: AppSpec) -> HealthAnswer:
        """One probe of the health path; a server that trickles its answer is given up on as well."""
        with anyio.move_on_after(2 * PROBE_TIMEOUT_S):
            return await anyio.to_thread.run_sync(
                _probe, self.address, spec.port, spec.health_path, abandon_on_cancel=True
            )
        return HealthAnswer(False, f"did not answer within {2 * PROBE_TIMEOUT_S:g} s")

    async def _log_tail(self, spec: AppSpec, *, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` non-empty lines of the program's log, each cut short, secrets masked."""
        tail = await self.runner.run(["tail", "-c", str(LOG_TAIL_BYTES), "--", f"{self.directory(spec)}/app.log"])
        secrets = [value for value in spec.env.values() if isinstance(value, Secret)]
        text = tail.stdout_text if tail.ok else ""
        return "\n".join(last_lines(text, secrets, lines=lines, cut=len(tail.stdout) >= LOG_TAIL_BYTES))

    async def _start_supervisor(self, directory: str) -> None:
        # setsid -f: runsv outlives this apply, in a session of its own; its
        # output goes nowhere, so run() does not wait for a pipe to close.
        started = await self.runner.run(
            ["sh", "-c", f'exec setsid -f {RUNSV} "$1" </dev/null >/dev/null 2>&1', "sh", directory]
        )
        if started.exit_status != 0:
            raise ApplicationStartError(f"could not start {RUNSV} for {directory}: {started.stderr.decode().strip()}")

    async def _wait_healthy(self, spec: AppSpec, supervisor_said: str = "") -> None:
        last = "did not answer yet"
        with anyio.move_on_after(self.start_timeout_s):
            while True:
                answer = await self._probe(spec)
                if answer.healthy:
                    return
                last = answer.said
                await anyio.sleep(0.1)
        tail = await self._log_tail(spec)
        raise ApplicationStartError(
            f"application {spec.name} did not answer {spec.health_path} on {self.address}:{spec.port} "
            f"within {self.start_timeout_s:g} s (last: {last})"
            + (f"; runit: {supervisor_said}" if supervisor_said else "")
            + (f"; the end of its log:\n{tail}" if tail else "; its log is empty")
        )


def _env_file(key: str, value: str | Secret) -> bytes:
    """The envdir file of one variable: its value on one line (chpst reads the first line)."""
    text = value.reveal() if isinstance(value, Secret) else value
    if "\n" in text or "\0" in text:
        raise ScoreValueError(f"environment variable {key}: a process's value must be one line (no newline or NUL)")
    return text.encode() + b"\n"


@dataclass(frozen=True)
class HealthAnswer:
    """What one probe of a health path got: ``said`` reads after the path ("answered 500")."""

    healthy: bool
    said: str


def _probe(address: str, port: int, path: str) -> HealthAnswer:
    """One GET of ``path``, bounded by :data:`PROBE_TIMEOUT_S`; healthy on a 2xx answer. Blocking."""
    connection = http.client.HTTPConnection(address, port, timeout=PROBE_TIMEOUT_S)
    try:
        connection.request("GET", path)
        status = connection.getresponse().status
        return HealthAnswer(200 <= status < 300, f"answered {status}")
    except ConnectionRefusedError:
        return HealthAnswer(False, "refused connections")
    except TimeoutError:
        return HealthAnswer(False, f"did not answer within {PROBE_TIMEOUT_S:g} s")
    except (OSError, http.client.HTTPException) as exc:
        return HealthAnswer(False, f"failed ({type(exc).__name__}: {exc})" if str(exc) else f"failed ({type(exc).__name__})")
    finally:
        connection.close()
