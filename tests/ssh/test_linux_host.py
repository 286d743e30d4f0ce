"""LinuxHostTopology against real sshd servers: commands, files, host keys, channel limits."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import anyio
import pytest

from capabilities.command_runner import CommandRunner, FileKind
from harmony_py import Maestro, ScoreState, Secret, TopologyNotReadyError
from harmony_py.capability_check import capability_gaps
from harmony_py.scores import CommandScore, DirectoryScore, FileScore
from topologies import LinuxHostTopology
from topologies.errors import HostKeyError

from ..ports import free_port
from .conftest import HostFactory
from .sshd import SshServer, UserKey


def test_provides_command_runner(make_host: HostFactory) -> None:
    host = make_host(host="example.invalid")
    assert capability_gaps(host, CommandRunner) == []


async def test_ensure_ready_reports_the_os(make_host: HostFactory, ssh_servers: list[SshServer]) -> None:
    host = make_host(ssh_servers[0])
    try:
        report = await host.ensure_ready()
    finally:
        await host.aclose()
    os_release = Path("/etc/os-release").read_text()
    assert report.facts["os_id"] in os_release
    assert report.facts["user"] == "root"
    assert report.name == f"{ssh_servers[0].address}:{ssh_servers[0].port}"


async def test_run_passes_stdin_env_and_exit_status(make_host: HostFactory, ssh_servers: list[SshServer]) -> None:
    host = make_host(ssh_servers[0])
    try:
        echoed = await host.command_runner().run(["sh", "-c", 'printf "%s|" "$GREETING"; cat'], stdin=b"in\x00put", env={"GREETING": "a $(b) 'c'"})
        assert echoed.stdout == b"a $(b) 'c'|in\x00put"
        failing = await host.command_runner().run(["sh", "-c", "echo oops >&2; exit 3"])
        assert (failing.exit_status, failing.stderr) == (3, b"oops\n")
        missing = await host.command_runner().run(["no-such-program-harmony"])
        assert missing.exit_status == 127
        # No input: the remote side sees end of file at once instead of waiting forever.
        assert (await host.command_runner().run(["cat"], timeout_s=10)).stdout == b""
    finally:
        await host.aclose()


async def test_run_timeout_frees_the_channel(make_host: HostFactory, ssh_servers: list[SshServer]) -> None:
    host = make_host(ssh_servers[0], max_sessions=4)  # a single command channel
    try:
        with pytest.raises(TimeoutError, match="timed out"):
            await host.command_runner().run(["sleep", "30"], timeout_s=0.3)
        assert (await host.command_runner().run(["true"], timeout_s=10)).ok
    finally:
        await host.aclose()


async def test_more_concurrent_work_than_max_sessions(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    """sshd refuses an 11th concurrent channel; 24 concurrent commands and file writes still all succeed."""
    host = make_host(ssh_servers[1])
    try:
        async def command(index: int) -> bytes:
            return (await host.command_runner().run(["sh", "-c", f"sleep 0.05; echo {index}"])).stdout

        async def write(index: int) -> bytes | None:
            path = str(remote_dir / f"f{index}")
            await host.command_runner().write_file(path, f"{index}\n".encode(), mode=0o600)
            return await host.command_runner().read_file(path)

        outputs = await asyncio.gather(*(command(i) for i in range(24)), *(write(i) for i in range(24)))
    finally:
        await host.aclose()
    assert outputs == [f"{i}\n".encode() for i in range(24)] * 2


async def test_files_over_sftp(make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path) -> None:
    host = make_host(ssh_servers[0])
    target = str(remote_dir / "a" / "b")
    try:
        assert await host.command_runner().stat(target) is None
        assert await host.command_runner().read_file(target) is None
        await host.command_runner().make_directory(target, mode=0o750)
        found = await host.command_runner().stat(target)
        assert found is not None and (found.kind, found.mode) == (FileKind.DIRECTORY, 0o750)
        await host.command_runner().write_file(f"{target}/secret", b"s3cret", mode=0o600)
        await host.command_runner().write_file(f"{target}/secret", b"replaced", mode=0o640)
        await host.command_runner().set_mode(f"{target}/secret", 0o604)
    finally:
        await host.aclose()
    written = Path(target, "secret")
    assert written.read_bytes() == b"replaced"
    assert stat.S_IMODE(written.stat().st_mode) == 0o604
    assert os.listdir(target) == ["secret"], "no temporary file is left behind"


def test_scores_over_ssh_converge_and_stay_converged(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    root = str(remote_dir / "app")

    def scores() -> list[FileScore | DirectoryScore | CommandScore]:
        return [
            DirectoryScore(root, mode=0o755),
            FileScore(f"{root}/app.conf", "port = 8080\n", mode=0o640),
            FileScore(f"{root}/token", Secret("hunter2-token")),
            CommandScore(["sh", "-c", f"echo built > {root}/built"], creates=f"{root}/built"),
            CommandScore(["sh", "-c", f"echo ok > {root}/checked"], unless=["test", "-s", f"{root}/checked"]),
        ]

    async def run_twice() -> None:
        async with Maestro(make_host(ssh_servers[2])).add(*scores()) as maestro:
            first = await maestro.apply()
            assert first.ok and first.count(ScoreState.CHANGED) == 5, first
            second = await maestro.apply()
            assert [r.state for r in second.scores] == [ScoreState.UNCHANGED] * 5
            assert not (await maestro.plan()).has_changes

    anyio.run(run_twice)
    token = Path(root, "token")
    assert token.read_text() == "hunter2-token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert Path(root, "built").read_text() == "built\n"


async def test_changed_host_key_is_refused(
    make_host: HostFactory, ssh_servers: list[SshServer], tmp_path: Path
) -> None:
    wrong = tmp_path / "known_hosts"
    server, other = ssh_servers[0], ssh_servers[1]
    # The key of another server, recorded under this server's name: what a man in the middle looks like.
    wrong.write_text(f"[{server.address}]:{server.port} {other.host_public_key}\n")
    host = make_host(server, known_hosts=str(wrong))
    with pytest.raises(HostKeyError, match="host key CHANGED"):
        await host.ensure_ready()
    # Accepting new keys does not extend to changed ones.
    with pytest.raises(HostKeyError, match="CHANGED"):
        await make_host(server, known_hosts=str(wrong), accept_new_host_key=True).ensure_ready()


async def test_unknown_host_key_is_refused_unless_accepting_new_keys(
    make_host: HostFactory, ssh_servers: list[SshServer], tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    server = ssh_servers[0]
    with pytest.raises(HostKeyError, match="host key unknown"):
        await make_host(server, known_hosts=str(empty)).ensure_ready()
    trusting = make_host(server, known_hosts=str(empty), accept_new_host_key=True)
    await trusting.ensure_ready()
    await trusting.aclose()
    assert server.host_public_key in empty.read_text()
    strict = make_host(server, known_hosts=str(empty))
    await strict.ensure_ready()
    await strict.aclose()


async def test_wrong_user_key_fails_with_a_clear_message(
    make_host: HostFactory, ssh_servers: list[SshServer], tmp_path: Path
) -> None:
    from .sshd import make_user_key

    stranger: UserKey = make_user_key(tmp_path)
    with pytest.raises(TopologyNotReadyError, match="authentication failed"):
        await make_host(ssh_servers[0], client_keys=(str(stranger.private_path),)).ensure_ready()


async def test_unreachable_host_fails_within_the_connect_timeout(make_host: HostFactory) -> None:
    from .conftest import UNUSED_ADDRESS

    host = make_host(host=UNUSED_ADDRESS, port=2222, connect_timeout_s=1.0)
    started = asyncio.get_running_loop().time()
    with pytest.raises(TopologyNotReadyError, match="could not connect within 1 s"):
        await host.ensure_ready()
    # Retries happen inside the deadline, not after it.
    assert asyncio.get_running_loop().time() - started < 5


async def test_silent_server_fails_within_the_connect_timeout(make_host: HostFactory) -> None:
    """A listener that accepts and never speaks SSH must not hang the run."""
    from .conftest import UNUSED_ADDRESS

    async def swallow(stream: anyio.abc.SocketStream) -> None:
        await anyio.sleep(60)

    port = free_port(UNUSED_ADDRESS)
    listener = await anyio.create_tcp_listener(local_host=UNUSED_ADDRESS, local_port=port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, swallow)
        with pytest.raises(TopologyNotReadyError, match="could not connect within 1 s"):
            await make_host(host=UNUSED_ADDRESS, port=port, connect_timeout_s=1.0).ensure_ready()
        group.cancel_scope.cancel()


def test_linux_host_rejects_bad_settings() -> None:
    from harmony_py import ScoreValueError

    with pytest.raises(ScoreValueError, match="max_sessions"):
        LinuxHostTopology("h", max_sessions=3)
    with pytest.raises(ScoreValueError, match="port"):
        LinuxHostTopology("h", port=0)
    with pytest.raises(ScoreValueError, match="host"):
        LinuxHostTopology("two words")


def test_close_after_the_run_that_opened_the_connection_ended(make_host: HostFactory, ssh_servers: list[SshServer]) -> None:
    # A script may run `asyncio.run(maestro.apply())` and close in a later `asyncio.run`.
    host = make_host(ssh_servers[0])
    assert asyncio.run(host.command_runner().run(["true"])).exit_status == 0
    asyncio.run(host.aclose())
    assert asyncio.run(host.command_runner().run(["true"])).exit_status == 0  # a new connection, in the new loop
    asyncio.run(host.aclose())
