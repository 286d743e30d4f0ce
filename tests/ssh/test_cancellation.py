"""Cancelling a run (anyio cancellation, Ctrl-C in the CLI) stops the command on the host, and leaves no temporary file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import anyio
import pytest

from harmony_py import Maestro
from harmony_py.cli.main import EXIT_INTERRUPTED
from harmony_py.scores import CommandScore, FileScore
from topologies import LinuxHostTopology
from topologies.host.ssh.files import TEMPORARY_SUFFIX

from ..processes import end_leftovers, processes_mentioning, unique_sleep
from .conftest import HostFactory
from .sshd import SshServer, UserKey

REPO = Path(__file__).resolve().parents[2]


async def apply_until(host: LinuxHostTopology, score: CommandScore | FileScore, started: str | Path) -> None:
    """Apply ``score`` and cancel the run once ``started`` shows the work is under way on the host.

    ``started`` is a text in a running process's command line, or a path pattern (a glob) that appears.
    """
    async with Maestro(host).add(score) as maestro, anyio.create_task_group() as group:
        group.start_soon(maestro.apply)
        while not _seen(started):
            await anyio.sleep(0.01)
        group.cancel_scope.cancel()


def _seen(started: str | Path) -> bool:
    if isinstance(started, Path):
        return any(path.stat().st_size > 0 for path in started.parent.glob(started.name) if path.exists())
    return bool(processes_mentioning(started))


def sleeping_command(tmp_path: Path) -> tuple[CommandScore, str, Path]:
    """A guarded command that sleeps about 30 s, then leaves a marker; and the unique sleep to look for.

    It ignores SIGHUP and SIGPIPE, as a daemon-like program would: losing its
    channel (or sudo's pty) does not end it, only being stopped does.
    """
    nap = unique_sleep()
    marker = tmp_path / f"marker-{uuid.uuid4().hex}"
    command = f"trap '' HUP PIPE; sleep {nap}; touch {marker}"
    return CommandScore(["sh", "-c", command], creates=str(marker)), f"sleep {nap}", marker


def test_cancelled_apply_over_ssh_stops_the_remote_command(
    make_host: HostFactory, ssh_servers: list[SshServer], tmp_path: Path
) -> None:
    score, sleeping, marker = sleeping_command(tmp_path)
    try:
        anyio.run(apply_until, make_host(ssh_servers[0]), score, sleeping)
        assert processes_mentioning(sleeping) == [], "the remote command is still running"
        assert not marker.exists()
    finally:
        end_leftovers(sleeping)


STOP_SIGNALS = [
    pytest.param(signal.SIGINT, EXIT_INTERRUPTED, id="SIGINT"),
    pytest.param(signal.SIGTERM, 128 + signal.SIGTERM, id="SIGTERM"),
]
"""Ctrl-C, and the SIGTERM a service manager or ``kill`` sends, with the CLI's exit status for each."""


def interrupt_cli_apply(
    server: SshServer,
    user_key: UserKey,
    known_hosts: Path,
    tmp_path: Path,
    score: str,
    started: str | Path,
    signum: signal.Signals = signal.SIGINT,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m harmony_py apply --yes`` on a file holding ``score``; send ``signum`` once ``started`` is seen."""
    score_file = tmp_path / "interrupted.py"
    score_file.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro, Secret
            from harmony_py.scores import CommandScore, FileScore
            from topologies import LinuxHostTopology

            host = LinuxHostTopology(
                {server.address!r}, port={server.port}, user="root", client_keys=({str(user_key.private_path)!r},),
                use_agent=False, known_hosts={str(known_hosts)!r},
            )
            """
        )
        + f"maestro = Maestro(host).add({score})\n"
    )
    argv = [sys.executable, "-m", "harmony_py", "apply", "--yes", str(score_file)]
    cli = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not _seen(started):
            assert cli.poll() is None, cli.communicate()
            anyio.run(anyio.sleep, 0.01)
        cli.send_signal(signum)
        out, err = cli.communicate(timeout=60)
        return subprocess.CompletedProcess(argv, cli.returncode, out, err)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


@pytest.mark.parametrize(("signum", "exit_status"), STOP_SIGNALS)
def test_interrupted_cli_apply_over_ssh_stops_the_remote_command(
    ssh_servers: list[SshServer], user_key: UserKey, known_hosts: Path, tmp_path: Path, signum: signal.Signals, exit_status: int
) -> None:
    score, sleeping, marker = sleeping_command(tmp_path)
    try:
        argv = score.command
        assert isinstance(argv, tuple)
        source = f"CommandScore({list(argv)!r}, creates={score.creates!r})"
        done = interrupt_cli_apply(ssh_servers[0], user_key, known_hosts, tmp_path, source, sleeping, signum)
        assert done.returncode == exit_status, done.stderr
        assert processes_mentioning(sleeping) == [], "the remote command is still running"
        assert not marker.exists()
    finally:
        end_leftovers(sleeping)


@pytest.mark.parametrize(("signum", "exit_status"), STOP_SIGNALS)
def test_interrupted_cli_large_write_over_ssh_leaves_no_temporary_file(
    ssh_servers: list[SshServer],
    user_key: UserKey,
    known_hosts: Path,
    tmp_path: Path,
    remote_dir: Path,
    signum: signal.Signals,
    exit_status: int,
) -> None:
    # A Secret: the plan shows no content (showing 64 MiB of it is another issue's case).
    score = f"FileScore({str(remote_dir / 'big.bin')!r}, Secret('x' * 64 * 1024 * 1024))"
    done = interrupt_cli_apply(ssh_servers[0], user_key, known_hosts, tmp_path, score, remote_dir / f"*{TEMPORARY_SUFFIX}", signum)
    assert done.returncode == exit_status, done.stderr
    assert sorted(path.name for path in remote_dir.iterdir()) == [], "a temporary file was left behind"


def test_cancelled_large_write_over_ssh_leaves_no_temporary_file(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    target = remote_dir / "big.bin"
    content = os.urandom(64 * 1024 * 1024)
    anyio.run(apply_until, make_host(ssh_servers[0]), FileScore(str(target), content), remote_dir / f"*{TEMPORARY_SUFFIX}")
    assert sorted(path.name for path in remote_dir.iterdir()) == [], "a temporary file was left behind"


def test_timed_out_command_over_ssh_says_so_and_is_stopped_with_its_children(
    make_host: HostFactory, ssh_servers: list[SshServer], tmp_path: Path
) -> None:
    score, sleeping, marker = sleeping_command(tmp_path)
    timed = CommandScore(score.command, creates=score.creates, timeout_s=1.0)

    async def apply() -> str:
        async with Maestro(make_host(ssh_servers[0])).add(timed) as maestro:
            return (await maestro.apply()).scores[0].message

    try:
        message = anyio.run(apply)
        assert f"{ssh_servers[0].address}:{ssh_servers[0].port}: sh timed out after 1 s and was stopped" in message
        assert processes_mentioning(sleeping) == [] and not marker.exists()
    finally:
        end_leftovers(sleeping)
