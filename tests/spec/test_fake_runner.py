"""The recording fake itself: it is a CommandRunnerService, answers from the state given, records every call."""

from __future__ import annotations

import hashlib

import anyio
import pytest

from capabilities.command_runner import CommandRunner, CommandRunnerService, FileKind, FileStat
from capabilities.errors import FileAccessError
from harmony_py import Maestro, ScoreState, provides
from harmony_py.scores import FileScore
from harmony_py.testing import (
    Answer,
    FakeCommandRunner,
    FakeDirectory,
    FakeFile,
    FakeGroup,
    FakeHost,
    FakeLink,
    FakeUser,
    UnexpectedCommandError,
)


def test_the_fake_host_provides_command_runner_statically_and_at_run_time() -> None:
    host = FakeHost()
    service: CommandRunnerService = host.command_runner()  # mypy checks the Protocol here
    capability: CommandRunner = host
    assert provides(host, CommandRunner) and service is capability.command_runner()


def test_a_maestro_plans_and_applies_on_the_fake_host_and_the_second_apply_is_noop() -> None:
    host = FakeHost(files={"/etc/motd": FakeFile("old\n")})

    async def run() -> tuple[ScoreState, ScoreState]:
        async with Maestro(host).add(FileScore("/etc/motd", "new\n")) as maestro:
            first, second = await maestro.apply(), await maestro.apply()
        return first.scores[0].state, second.scores[0].state

    assert anyio.run(run) == (ScoreState.CHANGED, ScoreState.UNCHANGED)
    assert host.content("/etc/motd") == b"new\n"


def test_files_answer_as_a_host_would_and_writes_change_the_state() -> None:
    runner = FakeCommandRunner(files={"/srv/a/file": FakeFile("x", mode=0o600), "/srv/link": FakeLink("a")})

    async def run() -> None:
        assert await runner.stat("/srv/a/file") == FileStat(FileKind.FILE, 0o600, 1)
        assert await runner.stat("/srv/a") == FileStat(FileKind.DIRECTORY, 0o755, 0)
        assert await runner.stat("/srv/link") == FileStat(FileKind.SYMLINK, 0o777, 0)
        assert await runner.stat("/nothing") is None and await runner.read_file("/nothing") is None
        assert await runner.resolve("/srv/link/file") == "/srv/a/file"
        assert await runner.read_file("/srv/link/file") == b"x"
        assert await runner.digest("/srv/a/file") == hashlib.sha256(b"x").hexdigest()
        await runner.write_file("/srv/a/new", b"y", mode=0o640)
        assert await runner.stat("/srv/a/new") == FileStat(FileKind.FILE, 0o640, 1)
        with pytest.raises(FileAccessError, match="symbolic link"):
            await runner.write_file("/srv/link/other", b"z", mode=0o644, follow_parent_symlinks=False)
        with pytest.raises(FileAccessError, match="not a directory"):
            await runner.write_file("/missing/dir/file", b"z", mode=0o644)
        await runner.make_directory("/opt/x/y", mode=0o700)
        assert await runner.stat("/opt/x/y") == FileStat(FileKind.DIRECTORY, 0o700, 0)

    anyio.run(run)
    # Refused writes were attempted: they are recorded too.
    assert runner.changes() == [
        "write /srv/a/new (1 bytes, mode 0640)",
        "write /srv/link/other (1 bytes, mode 0644)",
        "write /missing/dir/file (1 bytes, mode 0644)",
        "mkdir /opt/x/y (mode 0700)",
    ]


def test_names_and_ownership_come_from_the_users_and_groups_given() -> None:
    runner = FakeCommandRunner(
        files={"/srv/app": FakeDirectory(owner="shop", group="shop")},
        users=[FakeUser("shop", 1000, 1000, home="/srv/shop")],
        groups=[FakeGroup("shop", 1000, members=("deploy",))],
    )

    async def run() -> None:
        passwd = await runner.run(("getent", "passwd", "shop"))
        assert passwd.stdout_text == "shop:x:1000:1000::/srv/shop:/bin/sh\n"
        assert (await runner.run(("getent", "group", "1000"))).stdout_text == "shop:x:1000:deploy\n"
        assert (await runner.run(("getent", "passwd", "nobody"))).exit_status == 2
        assert (await runner.run(("stat", "-c", "%u %g", "--", "/srv/app"))).stdout_text == "1000 1000\n"
        assert (await runner.run(("chown", "-h", "0:0", "--", "/srv/app"))).ok
        assert (await runner.run(("stat", "-c", "%u:%g", "--", "/srv/app"))).stdout_text == "0:0\n"

    anyio.run(run)
    assert runner.changes() == ["chown -h 0:0 -- /srv/app"]


def test_commands_are_answered_in_order_and_an_unexpected_one_fails_naming_it() -> None:
    runner = FakeCommandRunner(answers={("sysctl", "-n", "--", "vm.swappiness"): ["60\n", Answer("10\n")]})

    async def run() -> None:
        key = ("sysctl", "-n", "--", "vm.swappiness")
        assert [(await runner.run(key)).stdout_text for _ in range(3)] == ["60\n", "10\n", "10\n"]
        with pytest.raises(UnexpectedCommandError, match=r"no answer for: rm -rf '/srv/a b'"):
            await runner.run(("rm", "-rf", "/srv/a b"))

    anyio.run(run)
    assert runner.changes() == [] and len(runner.commands()) == 3


def test_with_a_default_any_other_command_succeeds_and_is_recorded_as_a_change() -> None:
    runner = FakeCommandRunner(default=Answer(""))

    async def run() -> None:
        assert (await runner.run(("useradd", "--", "shop"), stdin=b"x")).ok

    anyio.run(run)
    assert runner.changes() == ["useradd -- shop <<< (1 bytes)"]
