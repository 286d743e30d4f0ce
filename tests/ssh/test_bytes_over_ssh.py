"""Names, contents and arguments reach the remote side byte for byte, whatever characters they hold."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harmony_py import Maestro, ScoreState
from harmony_py.scores import FileScore
from topologies import LinuxHostTopology

from .conftest import HostFactory
from .sshd import SshServer

TRICKY = ["it's \"quoted\"", "$(touch /tmp/pwned) `id`", "with  spaces ", "new\nline", "ünïcødé ☃", "-n", "*", "a\\b", ";|&"]

file_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=30
).filter(lambda name: name not in (".", "..") and len(name.encode()) < 200)
arguments = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60)


@pytest.fixture
def session(make_host: HostFactory, ssh_servers: list[SshServer]) -> Iterator[tuple[asyncio.Runner, LinuxHostTopology]]:
    """One event loop and one connection for all the examples of a test."""
    host = make_host(ssh_servers[0])
    with asyncio.Runner() as runner:
        yield runner, host
        runner.run(host.aclose())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=file_names, content=st.binary(max_size=3000) | st.sampled_from([t.encode() for t in TRICKY]))
@example(name="it's $(x) `y` \"z\"", content=b"$(rm -rf /)\n'\"\\")
@example(name="spa ce\nnew line ☃", content="ünïcødé\r\n".encode())
def test_file_names_and_contents_arrive_byte_for_byte(
    session: tuple[asyncio.Runner, LinuxHostTopology], remote_dir: Path, name: str, content: bytes
) -> None:
    runner, host = session
    path = remote_dir / name
    path.unlink(missing_ok=True)

    async def apply_twice() -> tuple[ScoreState, ScoreState]:
        maestro = Maestro(host).add(FileScore(str(path), content, mode=0o640))
        first = await maestro.apply()
        second = await maestro.apply()
        return first.scores[0].state, second.scores[0].state

    states = runner.run(apply_twice())
    assert states == (ScoreState.CHANGED, ScoreState.UNCHANGED)
    assert path.read_bytes() == content
    assert runner.run(host.command_runner().read_file(str(path))) == content


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(arguments | st.sampled_from(TRICKY), min_size=1, max_size=4))
def test_arguments_arrive_as_exactly_those_arguments(
    session: tuple[asyncio.Runner, LinuxHostTopology], args: list[str]
) -> None:
    runner, host = session
    # printf '%s\0' prints each argument it received, NUL-terminated: the remote argv, exactly.
    result = runner.run(host.command_runner().run(["printf", "%s\\0", *args], env={"TRICKY": args[0]}))
    assert result.ok, result.stderr_text
    assert result.stdout == b"".join(arg.encode() + b"\0" for arg in args)
    echoed = runner.run(host.command_runner().run(["sh", "-c", 'printf %s "$TRICKY"'], env={"TRICKY": args[0]}))
    assert echoed.stdout == args[0].encode()
