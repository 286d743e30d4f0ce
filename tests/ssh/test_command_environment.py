"""Over SSH, a command sees the clean base environment plus its score's env=, nothing of the operator's."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from harmony_py import Maestro, ScoreState, Secret
from harmony_py.scores import CommandScore
from topologies import LinuxHostTopology

from ..test_command_environment import OPERATOR_ONLY, environment_in
from .sshd import SshServer, UserKey, start_server, stop_server, write_known_hosts

ADDRESS = "127.33.0.10"
ACCEPT_ENV = "AcceptEnv LANG LANGUAGE LC_* PG* DOCKER_*"
"""More than Debian's default (AcceptEnv LANG LC_*): whatever a client sends is taken."""


@pytest.fixture(scope="module")
def accepting_server(tmp_path_factory: pytest.TempPathFactory, user_key: UserKey) -> Iterator[SshServer]:
    server = start_server(ADDRESS, tmp_path_factory.mktemp("accept-env"), user_key, extra_config=[ACCEPT_ENV])
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def operator_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The operator's variables, and an ssh client config asking to send them (as Debian's /etc/ssh/ssh_config does for LANG LC_*)."""
    for name, value in OPERATOR_ONLY.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host *\n  SendEnv LANG LANGUAGE LC_* PG* DOCKER_*\n  SetEnv PGSSLMODE=disable\n")
    monkeypatch.setenv("HOME", str(home))


def host_for(server: SshServer, user_key: UserKey, tmp_path: Path) -> LinuxHostTopology:
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [server])
    return LinuxHostTopology(
        server.address, port=server.port, user="root", client_keys=(str(user_key.private_path),),
        use_agent=False, known_hosts=str(known_hosts), connect_timeout_s=5.0,
    )  # fmt: skip


async def apply_over_ssh(host: LinuxHostTopology, score: CommandScore) -> ScoreState:
    async with Maestro(host).add(score) as maestro:
        return (await maestro.apply()).scores[0].state


@pytest.mark.usefixtures("operator_shell")
def test_command_over_ssh_sees_no_pgpassword_docker_or_locale_of_the_operator(
    accepting_server: SshServer, user_key: UserKey, tmp_path: Path
) -> None:
    dump = tmp_path / "env"
    score = CommandScore(["sh", "-c", f"env -0 > {dump}"], creates=str(dump))
    assert anyio.run(apply_over_ssh, host_for(accepting_server, user_key, tmp_path), score) is ScoreState.CHANGED
    seen = environment_in(dump)
    leaked = sorted(name for name in OPERATOR_ONLY if seen.get(name) == OPERATOR_ONLY[name])
    assert not leaked, f"leaked to the host: {leaked}"
    assert "PGSSLMODE" not in seen and "LC_ALL" not in seen and "LANGUAGE" not in seen
    assert seen["LANG"] == "C.UTF-8"
    # The login's own base is kept: its PATH finds the host's programs, HOME is the host user's.
    assert seen["HOME"] == "/root" and "/usr/bin" in seen["PATH"].split(":")
    assert not any(name.startswith("SSH_") for name in seen), "only the base and the score's variables"


@pytest.mark.usefixtures("operator_shell")
def test_command_env_secret_reaches_the_host_but_not_the_command_line(
    accepting_server: SshServer, user_key: UserKey, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncssh")
    dump = tmp_path / "env"
    secret = f"y 'quoted' $(not run)\nline two {uuid.uuid4().hex}"
    score = CommandScore(["sh", "-c", f"env -0 > {dump}"], creates=str(dump), env={"X": Secret(secret), "PGHOST": "/run/asked"})
    assert anyio.run(apply_over_ssh, host_for(accepting_server, user_key, tmp_path), score) is ScoreState.CHANGED
    seen = environment_in(dump)
    assert (seen["X"], seen["PGHOST"]) == (secret, "/run/asked")
    assert "Command:" in caplog.text, "asyncssh logs each command line"
    assert secret.splitlines()[-1] not in caplog.text
