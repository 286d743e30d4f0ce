"""The long-lived command session (adr/0088): framing, stopping a command without losing the session, reopening, fallback.

Each test runs commands through ``SshCommandRunner.run`` on a real sshd. A
command run through the session is a child of the session's reader (``sh -s``):
``$PPID`` of a command tells which reader ran it, so the tests can see a session
reused, replaced, or not used at all.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from capabilities.command_runner import CommandResult
from capabilities.errors import CommandTimeoutError
from topologies import LinuxHostTopology
from topologies.host.ssh.runner import SshCommandRunner

from ..processes import end_leftovers, processes_mentioning, unique_sleep
from .conftest import HostFactory
from .sshd import SshServer, UserKey, start_server, stop_server, write_known_hosts

ALL_BYTES = bytes(range(256)) * 4
FALLBACK_ADDRESS = "127.33.0.12"
REPO = Path(__file__).resolve().parents[2]


def runner_of(host: LinuxHostTopology) -> SshCommandRunner:
    return host.command_runner()


async def reader_of_command(runner: SshCommandRunner) -> int:
    """The parent of a command: the session's reader when commands run in a session."""
    result = await runner.run(["sh", "-c", 'echo "$PPID"'])
    return int(result.stdout)


def is_reader(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() == b"sh\0-s\0"
    except OSError:
        return False


def test_session_returns_binary_stdout_and_stderr_separately_with_the_exit_status(
    make_host: HostFactory, ssh_servers: list[SshServer]
) -> None:
    async def run() -> tuple[int, list[CommandResult]]:
        runner = runner_of(make_host(ssh_servers[0]))
        try:
            reader = await reader_of_command(runner)
            assert is_reader(reader), "the command ran in a session"
            results = [
                await runner.run(["sh", "-c", "cat; cat /dev/fd/3 >&2; exit 7"], stdin=ALL_BYTES),
                await runner.run(["sh", "-c", "printf 'no newline'; printf 'x\\nharmony-end-0 0\\n' >&2"]),
                await runner.run(["sh", "-c", "exit 255"]),
                await runner.run(["true"]),
            ]
            assert await reader_of_command(runner) == reader, "every command ran in the one session"
            return reader, results
        finally:
            await runner.aclose()

    _reader, (binary, unterminated, highest, success) = anyio.run(run)
    assert (binary.exit_status, binary.stdout) == (7, ALL_BYTES)
    assert b"/dev/fd/3" in binary.stderr  # the command's own stderr, nothing of the framing
    assert (unterminated.exit_status, unterminated.stdout, unterminated.stderr) == (0, b"no newline", b"x\nharmony-end-0 0\n")
    assert highest.exit_status == 255
    assert (success.exit_status, success.stdout, success.stderr) == (0, b"", b"")


def test_large_stdout_and_stderr_written_together_stream_through_the_session(
    make_host: HostFactory, ssh_servers: list[SshServer]
) -> None:
    size = 8 * 1024 * 1024
    script = f"yes out | head -c {size} & yes err | head -c {size} >&2; wait"

    async def run() -> tuple[CommandResult, CommandResult]:
        runner = runner_of(make_host(ssh_servers[0]))
        try:
            assert is_reader(await reader_of_command(runner)), "the commands run in a session"
            return await runner.run(["sh", "-c", script]), await runner.run(["echo", "after"])
        finally:
            await runner.aclose()

    large, after = anyio.run(run)
    assert large.exit_status == 0
    assert large.stdout == (b"out\n" * (size // 4))
    assert large.stderr == (b"err\n" * (size // 4))
    assert after.stdout == b"after\n"


def test_cancelled_command_group_is_stopped_on_the_host_and_the_session_runs_the_next_command(
    make_host: HostFactory, ssh_servers: list[SshServer]
) -> None:
    nap = unique_sleep()

    async def run() -> tuple[int, int]:
        runner = runner_of(make_host(ssh_servers[0]))
        try:
            reader = await reader_of_command(runner)
            assert is_reader(reader), "the command runs in a session"
            async with anyio.create_task_group() as group:
                # A child in the background and one in the foreground: the whole group must go.
                group.start_soon(runner.run, ["sh", "-c", f"sleep {nap} & sleep {nap}; wait"])
                while len(processes_mentioning(f"sleep {nap}")) < 2:
                    await anyio.sleep(0.01)
                group.cancel_scope.cancel()
            return reader, await reader_of_command(runner)
        finally:
            await runner.aclose()

    try:
        before, after = anyio.run(run)
        assert processes_mentioning(f"sleep {nap}") == [], "the cancelled command's group still runs"
        assert before == after, "the session was closed instead of reused"
    finally:
        end_leftovers(f"sleep {nap}")


def test_timed_out_command_is_stopped_and_the_session_survives(
    make_host: HostFactory, ssh_servers: list[SshServer]
) -> None:
    nap = unique_sleep()

    async def run() -> tuple[int, int]:
        runner = runner_of(make_host(ssh_servers[0]))
        try:
            reader = await reader_of_command(runner)
            assert is_reader(reader), "the command runs in a session"
            with pytest.raises(CommandTimeoutError, match="timed out after 0.5 s and was stopped"):
                await runner.run(["sh", "-c", f"sleep {nap}"], timeout_s=0.5)
            return reader, await reader_of_command(runner)
        finally:
            await runner.aclose()

    try:
        before, after = anyio.run(run)
        assert processes_mentioning(f"sleep {nap}") == []
        assert before == after
    finally:
        end_leftovers(f"sleep {nap}")


def test_a_session_whose_reader_died_is_reopened_for_the_next_command(
    make_host: HostFactory, ssh_servers: list[SshServer]
) -> None:
    async def run() -> tuple[int, int, CommandResult]:
        runner = runner_of(make_host(ssh_servers[0]))
        try:
            reader = await reader_of_command(runner)
            os.kill(reader, signal.SIGKILL)  # the host is this machine: its reader is a process here
            result = await runner.run(["echo", "still here"])
            replacement = await reader_of_command(runner)
            assert is_reader(replacement)
            return reader, replacement, result
        finally:
            await runner.aclose()

    killed, replacement, result = anyio.run(run)
    assert result.stdout == b"still here\n"
    assert replacement != killed


def test_concurrent_commands_use_several_sessions_within_max_sessions(
    make_host: HostFactory, ssh_servers: list[SshServer]
) -> None:
    async def run() -> set[int]:
        runner = runner_of(make_host(ssh_servers[1]))
        readers: set[int] = set()

        async def one() -> None:
            result = await runner.run(["sh", "-c", 'sleep 0.3; echo "$PPID"'])
            readers.add(int(result.stdout))

        try:
            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(one)
            return readers
        finally:
            await runner.aclose()

    readers = anyio.run(run)
    # MaxSessions 10 less the SFTP session, the stopper's and one of slack (runner.RESERVED_SESSIONS).
    assert 1 < len(readers) <= 7


FORCED = """#!/bin/sh
# A host that refuses a shell reading commands from stdin, and runs anything else.
case "$SSH_ORIGINAL_COMMAND" in
"sh -s") echo "sh -s is not allowed on this host" >&2; exit 1 ;;
internal-sftp) exec /usr/lib/openssh/sftp-server ;;
esac
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
"""


@pytest.fixture(scope="module")
def refusing_server(user_key: UserKey) -> Iterator[SshServer]:
    """An sshd whose forced command refuses ``sh -s`` (as a restricted host might) and runs every other command."""
    directory = Path(tempfile.mkdtemp(prefix="harmony-session-sshd-"))
    forced = directory / "forced.sh"
    forced.write_text(FORCED)
    forced.chmod(0o755)
    started = start_server(FALLBACK_ADDRESS, directory, user_key, extra_config=[f"ForceCommand {forced}"])
    try:
        yield started
    finally:
        stop_server(started)
        shutil.rmtree(directory, ignore_errors=True)


def test_host_that_cannot_run_the_reader_falls_back_to_exec_channels_with_the_reason_at_debug(
    make_host: HostFactory, refusing_server: SshServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [refusing_server])

    async def run() -> tuple[CommandResult, int]:
        runner = runner_of(make_host(refusing_server, known_hosts=str(known_hosts)))
        try:
            result = await runner.run(["sh", "-c", "cat; exit 3"], stdin=b"through exec", env={"A": "1"})
            return result, await reader_of_command(runner)
        finally:
            await runner.aclose()

    with caplog.at_level(logging.DEBUG, logger="topologies.host.ssh"):
        result, parent = anyio.run(run)
    assert (result.exit_status, result.stdout) == (3, b"through exec")
    assert not is_reader(parent)
    assert "every command runs in an exec channel" in caplog.text
    assert "sh -s is not allowed on this host" in caplog.text


def test_cli_debug_names_why_a_host_runs_commands_without_a_session(
    refusing_server: SshServer, user_key: UserKey, tmp_path: Path
) -> None:
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [refusing_server])
    marker = tmp_path / "ran"
    score_file = tmp_path / "fallback.py"
    score_file.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from harmony_py.scores import CommandScore
            from topologies import LinuxHostTopology

            host = LinuxHostTopology(
                {refusing_server.address!r}, port={refusing_server.port}, user="root",
                client_keys=({str(user_key.private_path)!r},), use_agent=False, known_hosts={str(known_hosts)!r},
            )
            maestro = Maestro(host).add(CommandScore(["touch", {str(marker)!r}], creates={str(marker)!r}))
            """
        )
    )
    argv = [sys.executable, "-m", "harmony_py", "apply", "--yes", "--debug", str(score_file)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert marker.exists()
    assert "debug: topologies.host.ssh.session_pool:" in done.stderr
    assert "sh -s is not allowed on this host" in done.stderr
    quiet = subprocess.run(argv[:-2] + [str(score_file)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert "debug:" not in quiet.stderr, "without --debug the reason is not printed"


def test_a_first_session_that_was_only_late_is_tried_again_for_the_next_command(
    make_host: HostFactory, ssh_servers: list[SshServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy host that answers the reader's hello late is no host without a reader: one command goes to an exec
    channel, the next runs in a session."""
    from topologies.host.ssh import session as session_module

    real_open = session_module.CommandSession.open
    calls: list[bool] = []

    async def late_once(conn: object, *, as_root: bool, timeout_s: float) -> object:
        calls.append(as_root)
        if len(calls) == 1:
            raise session_module.ReaderUnavailable("'sh -s' did not answer in time", late=True)
        return await real_open(conn, as_root=as_root, timeout_s=timeout_s)  # type: ignore[arg-type]

    monkeypatch.setattr(session_module.CommandSession, "open", late_once)

    async def run() -> tuple[bool, bool]:
        runner = runner_of(make_host(ssh_servers[0]))
        try:
            first = is_reader(await reader_of_command(runner))
            second = is_reader(await reader_of_command(runner))
            return first, second
        finally:
            await runner.aclose()

    assert anyio.run(run) == (False, True)
