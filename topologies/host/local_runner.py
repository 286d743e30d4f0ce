"""CommandRunner on this machine: programs as child processes, files through the local file primitives.

Every program runs in a session of its own with the small fixed environment
of clean_env.py plus what the caller asks for; on cancellation or timeout its
whole process group is stopped (see stopping.py) before ``run`` returns.
Blocking file calls run in anyio worker threads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat as stat_module
from collections.abc import Mapping, Sequence

import anyio
import anyio.abc
import anyio.to_thread

from capabilities.command_runner import CommandResult, FileKind, FileStat
from capabilities.errors import CommandTimeoutError

from . import local_files
from .clean_env import local_environment
from .stopping import stop_local_group


class LocalCommandRunner:
    """The CommandRunnerService of this machine, as the user running harmony_py; ``name`` is how errors name it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"LocalCommandRunner({self.name!r})"

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run ``argv`` with the base environment plus ``env`` (see clean_env.py), nothing else of ours.

        On cancellation or timeout the command's whole process group is stopped
        (see stopping.py) before this returns.
        """
        args = tuple(argv)
        full_env = local_environment(env)
        try:
            with anyio.fail_after(timeout_s):
                return await _run_process(args, stdin, full_env)
        except TimeoutError:
            raise CommandTimeoutError(f"{self.name}: {args[0]} timed out after {timeout_s:g} s and was stopped") from None
        except FileNotFoundError:
            return CommandResult(args, 127, b"", f"command not found: {args[0]}\n".encode())
        except PermissionError:
            return CommandResult(args, 126, b"", f"permission denied: {args[0]}\n".encode())

    async def stat(self, path: str) -> FileStat | None:
        return await anyio.to_thread.run_sync(_stat, path)

    async def read_file(self, path: str) -> bytes | None:
        return await anyio.to_thread.run_sync(_read, path)

    async def write_file(
        self, path: str, content: bytes, *, mode: int, follow_parent_symlinks: bool = True
    ) -> None:
        await anyio.to_thread.run_sync(
            functools.partial(local_files.write_atomically, follow_parent_symlinks=follow_parent_symlinks), path, content, mode
        )

    async def set_mode(self, path: str, mode: int) -> None:
        await anyio.to_thread.run_sync(os.chmod, path, mode)

    async def make_directory(self, path: str, *, mode: int) -> None:
        await anyio.to_thread.run_sync(_make_directory, path, mode)

    async def resolve(self, path: str) -> str | None:
        return await anyio.to_thread.run_sync(local_files.resolve, path)

    async def digest(self, path: str) -> str | None:
        return await anyio.to_thread.run_sync(local_files.digest, path)


def _stat(path: str) -> FileStat | None:
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    return FileStat(FileKind.of_mode(found.st_mode), stat_module.S_IMODE(found.st_mode), found.st_size)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _make_directory(path: str, mode: int) -> None:
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)


async def _run_process(args: tuple[str, ...], stdin: bytes | None, env: Mapping[str, str]) -> CommandResult:
    """Run ``args`` to the end; a program that exits before reading all of ``stdin`` is not an error here.

    Its exit status says how it went, as with a shell pipeline (anyio.run_process
    would raise the broken pipe from its writer task instead). It leads a
    session of its own, so that cancelling stops everything it started, and a
    Ctrl-C on the terminal reaches harmony_py, which then stops it.
    """
    # Shielded: cancelled while asyncio finishes setting it up, the process
    # would already run, but no handle to stop it would come back.
    with anyio.CancelScope(shield=True):
        process = await anyio.open_process(args, env=env, start_new_session=True)
    async with process:
        try:
            return await _communicate(args, process, stdin)
        except BaseException:
            await stop_local_group(process)
            raise


async def _communicate(args: tuple[str, ...], process: anyio.abc.Process, stdin: bytes | None) -> CommandResult:
    outputs: dict[str, bytes] = {}

    async def drain(name: str, stream: anyio.abc.ByteReceiveStream | None) -> None:
        chunks = [] if stream is None else [chunk async for chunk in stream]
        outputs[name] = b"".join(chunks)

    async with anyio.create_task_group() as group:
        group.start_soon(drain, "stdout", process.stdout)
        group.start_soon(drain, "stderr", process.stderr)
        if process.stdin is not None:
            try:
                if stdin:
                    await process.stdin.send(stdin)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, BrokenPipeError):
                pass  # it stopped reading: its exit status tells the rest
            finally:
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, BrokenPipeError):
                    await process.stdin.aclose()
    returncode = await process.wait()
    return CommandResult(args, returncode, outputs["stdout"], outputs["stderr"])
