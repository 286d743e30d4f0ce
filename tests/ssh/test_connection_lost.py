"""A connection that drops under a command or an upload is reported as lost, naming the host; the next run recovers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from harmony_py import Maestro, RunReport, ScoreState, Secret
from harmony_py.scores import CommandScore, FileScore
from topologies import LinuxHostTopology
from topologies.host.ssh.files import TEMPORARY_SUFFIX

from ..processes import end_leftovers, processes_mentioning
from .sshd import SshServer, UserKey, drop_connections, start_server, stop_server, write_known_hosts
from .test_cancellation import sleeping_command

ADDRESS = "127.33.0.11"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, user_key: UserKey) -> Iterator[SshServer]:
    """A server of its own: the tests cut its connections."""
    started = start_server(ADDRESS, tmp_path_factory.mktemp("dropped"), user_key)
    try:
        yield started
    finally:
        stop_server(started)


@pytest.fixture
def host(server: SshServer, user_key: UserKey, tmp_path: Path) -> LinuxHostTopology:
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [server])
    return LinuxHostTopology(
        server.address, port=server.port, user="root", client_keys=(str(user_key.private_path),),
        use_agent=False, known_hosts=str(known_hosts), connect_timeout_s=5.0,
    )  # fmt: skip


async def apply_and_cut(host: LinuxHostTopology, server: SshServer, score: CommandScore | FileScore, under_way: object) -> RunReport:
    """Apply ``score``; once ``under_way()`` is true, kill the sshd processes serving the connection."""
    async with Maestro(host).add(score) as maestro, anyio.create_task_group() as group:
        reports: list[RunReport] = []

        async def apply() -> None:
            reports.append(await maestro.apply())

        group.start_soon(apply)
        while not under_way():  # type: ignore[operator]
            await anyio.sleep(0.01)
        assert drop_connections(server) > 0
    return reports[0]


def test_dropped_connection_mid_command_is_reported_as_lost_naming_the_host(
    host: LinuxHostTopology, server: SshServer, tmp_path: Path
) -> None:
    score, sleeping, _marker = sleeping_command(tmp_path)
    try:
        report = anyio.run(apply_and_cut, host, server, score, lambda: processes_mentioning(sleeping))
    finally:
        end_leftovers(sleeping)  # cut off from its session, the command itself runs on
    (result,) = report.scores
    assert result.state is ScoreState.FAILED
    assert f"{ADDRESS}:{server.port}: SSH connection lost while running 'sh'" in result.message, result.message
    assert "re-run" in result.message
    assert "exited 255" not in result.message


def test_dropped_connection_mid_upload_is_reported_as_lost_and_the_next_write_removes_the_leftover(
    host: LinuxHostTopology, server: SshServer, tmp_path: Path
) -> None:
    target = tmp_path / "big.bin"
    score = FileScore(str(target), Secret("y" * 64 * 1024 * 1024))

    def temporaries() -> list[Path]:
        return [path for path in tmp_path.glob(f".big.bin.*{TEMPORARY_SUFFIX}") if path.exists() and path.stat().st_size]

    report = anyio.run(apply_and_cut, host, server, score, temporaries)
    (result,) = report.scores
    assert result.state is ScoreState.FAILED
    assert f"{ADDRESS}:{server.port}: SSH connection lost while trying to write {target}" in result.message, result.message
    assert temporaries(), "with the link gone nothing could remove it"

    async def apply_again() -> RunReport:
        async with Maestro(host).add(score) as maestro:
            return await maestro.apply()

    assert anyio.run(apply_again).scores[0].state is ScoreState.CHANGED
    assert target.stat().st_size == 64 * 1024 * 1024
    assert sorted(path.name for path in tmp_path.iterdir() if TEMPORARY_SUFFIX in path.name) == []
