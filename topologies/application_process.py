"""Applications as supervised processes on one host: the debugging runtime.

Each application is a runit service directory ``<root>/<name>``: a ``run``
script (the command, started in the application's source directory) and an
``env`` directory holding one 0600 file per variable, which ``chpst -e`` turns
into the program's environment. ``runsv`` keeps the program running and
restarts it when it exits; ``sv`` starts, restarts and asks it (adr/0057).
Secrets therefore live only in 0600 files and in the program's environment,
never on a command line (which ``ps`` shows) nor in a change.

One process serves the application on ``address:port``: on a developer's
machine the replica count is not reproduced (the change says so).
"""

from __future__ import annotations

import http.client
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import anyio
import anyio.to_thread

from capabilities.application import AppSpec
from capabilities.command_runner import CommandRunner
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.outcome import Change, ChangeAction
from harmony_py.secret import MASK, Secret

RUNSV = "runsv"
SV = "sv"
CHPST = "chpst"
_HEADER = "#!/bin/sh\n# harmony_py application {name}: rewritten by every apply, do not edit\n"


class ApplicationStartError(HarmonyError):
    """The application's process did not come up healthy."""


@dataclass(frozen=True)
class SupervisedProcesses:
    """The applications of one host, under ``root``, answering on ``address``."""

    host: CommandRunner
    root: str
    address: str
    start_timeout_s: float = 30.0

    def directory(self, spec: AppSpec) -> str:
        return f"{self.root.rstrip('/')}/{spec.name}"

    def url(self, spec: AppSpec) -> str:
        return f"http://{self.address}:{spec.port}"

    def environment(self, spec: AppSpec) -> dict[str, str | Secret]:
        return {**spec.env, "PORT": str(spec.port), "HOST": self.address}

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
        directory = self.directory(spec)
        script = self.run_script(spec)
        current = await self.host.read_file(f"{directory}/run")
        where = f"{self.address}:{spec.port}"
        if current is None:
            note = f" (1 process; {spec.replicas} replicas run on the other platforms)" if spec.replicas > 1 else ""
            return [Change(ChangeAction.CREATE, spec.name, f"run `{shlex.join(spec.command)}` supervised on {where}{note}")]
        changes: list[Change] = []
        if current.decode() != script:
            changes.append(Change(ChangeAction.UPDATE, spec.name, f"run `{shlex.join(spec.command)}` on {where}"))
        changed = await self._changed_variables(directory, self.environment(spec))
        if changed:
            changes.append(Change(ChangeAction.UPDATE, spec.name, f"set environment {', '.join(changed)}"))
        if changes:
            changes.append(Change(ChangeAction.RUN, spec.name, "restart it"))
        elif not await self._running(directory):
            changes.append(Change(ChangeAction.RUN, spec.name, "start it"))
        return changes

    async def deploy(self, spec: AppSpec) -> list[Change]:
        changes = await self.plan(spec)
        if not changes:
            return []
        directory = self.directory(spec)
        await self.host.make_directory(self.root, mode=0o755)
        await self.host.make_directory(directory, mode=0o700)
        await self.host.make_directory(f"{directory}/env", mode=0o700)
        await self._write_environment(directory, self.environment(spec))
        await self.host.write_file(f"{directory}/run", self.run_script(spec).encode(), mode=0o700)
        if await self._running(directory):
            await self._sv("restart", directory)
        else:
            await self._start_supervisor(directory)
        await self._wait_healthy(spec)
        return changes

    async def running(self, spec: AppSpec) -> bool:
        return await self._running(self.directory(spec))

    async def remove(self, spec: AppSpec) -> None:
        """Stop the program and its supervisor, and remove the service directory."""
        directory = self.directory(spec)
        await self.host.run([SV, "-w", "10", "force-stop", directory])
        await self.host.run([SV, "exit", directory])
        await self.host.run(["rm", "-rf", "--", directory])

    async def _changed_variables(self, directory: str, wanted: Mapping[str, str | Secret]) -> list[str]:
        listing = await self.host.run(["ls", "-1", "--", f"{directory}/env"])
        present = set(listing.stdout.decode().split()) if listing.ok else set()
        changed = sorted(present - set(wanted))
        for key, value in wanted.items():
            content = await self.host.read_file(f"{directory}/env/{key}")
            if content != _env_file(key, value):
                changed.append(key)
        return sorted(changed)

    async def _write_environment(self, directory: str, wanted: Mapping[str, str | Secret]) -> None:
        listing = await self.host.run(["ls", "-1", "--", f"{directory}/env"])
        for stale in set(listing.stdout.decode().split()) - set(wanted):
            await self.host.run(["rm", "-f", "--", f"{directory}/env/{stale}"])
        for key, value in wanted.items():
            await self.host.write_file(f"{directory}/env/{key}", _env_file(key, value), mode=0o600)

    async def _running(self, directory: str) -> bool:
        status = await self.host.run([SV, "status", directory])
        return status.ok and status.stdout.startswith(b"run:")

    async def _start_supervisor(self, directory: str) -> None:
        # setsid -f: runsv outlives this apply, in a session of its own; its
        # output goes nowhere, so run() does not wait for a pipe to close.
        started = await self.host.run(
            ["sh", "-c", f'exec setsid -f {RUNSV} "$1" </dev/null >/dev/null 2>&1', "sh", directory]
        )
        if started.exit_status != 0:
            raise ApplicationStartError(f"could not start {RUNSV} for {directory}: {started.stderr.decode().strip()}")

    async def _sv(self, command: str, directory: str) -> None:
        done = await self.host.run([SV, "-w", "10", command, directory])
        if done.exit_status != 0:
            raise ApplicationStartError(f"sv {command} {directory}: {done.stdout.decode().strip()}")

    async def _wait_healthy(self, spec: AppSpec) -> None:
        last = "no answer yet"
        with anyio.move_on_after(self.start_timeout_s):
            while True:
                last = await anyio.to_thread.run_sync(_probe, self.address, spec.port, spec.health_path)
                if last == "200":
                    return
                await anyio.sleep(0.1)
        log = await self.host.read_file(f"{self.directory(spec)}/app.log") or b""
        tail = _hide_secrets("\n".join(log.decode(errors="replace").splitlines()[-5:]), spec.env.values())
        raise ApplicationStartError(
            f"application {spec.name} did not answer {spec.health_path} on {self.address}:{spec.port} "
            f"within {self.start_timeout_s:g} s (last: {last}); the end of its log:\n{tail}"
        )


def _hide_secrets(text: str, values: Iterable[str | Secret]) -> str:
    """``text`` with the secret values masked: a failing program may print its own configuration."""
    for value in values:
        if isinstance(value, Secret) and value.reveal():
            text = text.replace(value.reveal(), MASK)
    return text


def _env_file(key: str, value: str | Secret) -> bytes:
    """The envdir file of one variable: its value on one line (chpst reads the first line)."""
    text = value.reveal() if isinstance(value, Secret) else value
    if "\n" in text or "\0" in text:
        raise ScoreValueError(f"environment variable {key}: a process's value must be one line (no newline or NUL)")
    return text.encode() + b"\n"


def _probe(address: str, port: int, path: str) -> str:
    connection = http.client.HTTPConnection(address, port, timeout=2)
    try:
        connection.request("GET", path)
        return str(connection.getresponse().status)
    except OSError as exc:
        return type(exc).__name__
    finally:
        connection.close()
