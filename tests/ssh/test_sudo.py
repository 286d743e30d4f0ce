"""``sudo=True``: a non-root login whose commands and file access run as root through ``sudo -n``."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from harmony_py import Maestro, ScoreState, Secret
from harmony_py.scores import CommandScore, DirectoryScore, FileScore

from topologies import LinuxHostTopology

from ..processes import end_leftovers, processes_mentioning
from ..test_command_environment import environment_in
from .sshd import SshServer, UserKey, start_server, stop_server, write_known_hosts
from .test_cancellation import apply_until, sleeping_command

USER = "harmony-sudo-test"
SUDOERS = Path("/etc/sudoers.d/harmony-sudo-test")
ADDRESS = "127.33.0.9"


@pytest.fixture(scope="module")
def server(user_key: UserKey) -> Iterator[SshServer]:
    """A server of its own whose authorized_keys a non-root login can read (sshd reads it as the user)."""
    directory = Path(tempfile.mkdtemp(prefix="harmony-sudo-sshd-"))
    directory.chmod(0o755)
    started = start_server(ADDRESS, directory, user_key)
    try:
        (directory / "authorized_keys").chmod(0o644)
        yield started
    finally:
        stop_server(started)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def login(server: SshServer, user_key: UserKey, tmp_path: Path, sudo_user: str) -> Iterator[Any]:
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [server])

    def build(**options: Any) -> LinuxHostTopology:
        return LinuxHostTopology(
            server.address, port=server.port, user=sudo_user, client_keys=(str(user_key.private_path),),
            use_agent=False, known_hosts=str(known_hosts), connect_timeout_s=5.0, **options,
        )  # fmt: skip

    yield build


@pytest.fixture(scope="module")
def sudo_user() -> Iterator[str]:
    """A login with passwordless sudo (the test servers accept the suite's key for any user)."""
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
    try:
        # '*' rather than useradd's '!': without PAM, sshd refuses a locked account even with a key.
        subprocess.run(["usermod", "-p", "*", USER], check=True)
        SUDOERS.write_text(f"{USER} ALL=(ALL) NOPASSWD: ALL\n")
        SUDOERS.chmod(0o440)
        yield USER
    finally:
        SUDOERS.unlink(missing_ok=True)
        subprocess.run(["userdel", "--remove", USER], check=False, capture_output=True)


@pytest.fixture
def root_only_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "root-only"
    directory.mkdir(mode=0o700)
    tmp_path.chmod(0o755)
    return directory


def test_commands_and_files_run_as_root_and_a_second_apply_is_noop(login: Any, root_only_dir: Path) -> None:
    host = login(sudo=True)
    target = root_only_dir / "etc"
    scores = (
        DirectoryScore(str(target), mode=0o750),
        FileScore(f"{target}/app.conf", "port = 8080\n", mode=0o640),
        FileScore(f"{target}/token", Secret("s3cr3t-token"), mode=0o600),
        CommandScore(["sh", "-c", f"id -un > {target}/who"], creates=f"{target}/who"),
    )

    async def run() -> tuple[list[ScoreState], list[ScoreState], bool]:
        async with Maestro(host).add(*scores) as maestro:
            first = [s.state for s in (await maestro.apply()).scores]
            second = [s.state for s in (await maestro.apply()).scores]
            pending = (await maestro.plan()).has_changes
        return first, second, pending

    first, second, pending = anyio.run(run)
    assert first == [ScoreState.CHANGED] * 4
    assert second == [ScoreState.UNCHANGED] * 4 and not pending
    # Written through sudo: owned by root in a directory the login itself cannot enter.
    assert (target / "who").read_text() == "root\n"
    for name, mode in (("app.conf", 0o640), ("token", 0o600)):
        info = os.stat(target / name)
        assert (pwd.getpwuid(info.st_uid).pw_name, info.st_mode & 0o777) == ("root", mode)
    assert (target / "token").read_text() == "s3cr3t-token"


def test_without_sudo_the_same_login_is_refused_clearly(login: Any, root_only_dir: Path) -> None:
    host = login()

    async def run() -> tuple[ScoreState, str]:
        async with Maestro(host).add(FileScore(f"{root_only_dir}/x.conf", "x\n")) as maestro:
            [report] = (await maestro.apply()).scores
        return report.state, report.message

    state, message = anyio.run(run)
    assert state is ScoreState.FAILED
    assert "ermission denied" in message, message


def test_sudo_command_gets_the_clean_base_of_root_and_its_score_env(login: Any, tmp_path: Path) -> None:
    dump = tmp_path / "env"
    score = CommandScore(["sh", "-c", f"env -0 > {dump}"], creates=str(dump), env={"X": Secret("for root only")})

    async def run() -> ScoreState:
        async with Maestro(login(sudo=True)).add(score) as maestro:
            return (await maestro.apply()).scores[0].state

    assert anyio.run(run) is ScoreState.CHANGED
    seen = environment_in(dump)
    assert (seen["USER"], seen["LOGNAME"], seen["LANG"], seen["X"]) == ("root", "root", "C.UTF-8", "for root only")
    assert "/usr/sbin" in seen["PATH"].split(":"), "sudo's secure_path, not the login's PATH"
    assert not any(name.startswith("SUDO_") for name in seen)


def test_cancelled_sudo_command_is_stopped_on_the_host(login: Any, tmp_path: Path) -> None:
    """The command runs as root: the stop goes through sudo too, or it could not signal it."""
    tmp_path.chmod(0o755)
    score, sleeping, marker = sleeping_command(tmp_path)
    try:
        anyio.run(apply_until, login(sudo=True), score, sleeping)
        assert processes_mentioning(sleeping) == [], "the remote command is still running"
        assert not marker.exists()
    finally:
        end_leftovers(sleeping)
