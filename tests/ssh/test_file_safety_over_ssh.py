"""Bad input over SSH, as on the local machine: symlinked directories, huge files, missing
directories, FIFOs, secrets in commands (issue 11). Real sshd servers, see conftest.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities.command_runner import FileKind
from harmony_py import HarmonyError, Maestro, RunReport, Score, ScoreState, Secret
from harmony_py.scores import CommandScore, DirectoryScore, FileScore
from topologies import LinuxHostTopology

from .conftest import HostFactory
from .sshd import SshServer, UserKey
from .test_sudo import USER, login, root_only_dir, server, sudo_user  # noqa: F401  (fixtures)

ROOT = Path(__file__).parent.parent.parent
MIB = 1 << 20


async def _report(host: LinuxHostTopology, *scores: Score[LinuxHostTopology], apply: bool = True) -> RunReport:
    async with Maestro(host).add(*scores) as maestro:
        return await (maestro.apply() if apply else maestro.plan())


def _run(host: LinuxHostTopology, *scores: Score[LinuxHostTopology], apply: bool = True) -> RunReport:
    return anyio.run(lambda: _report(host, *scores, apply=apply))


@pytest.fixture
def linked_dir(remote_dir: Path) -> tuple[Path, Path]:
    real = remote_dir / "real"
    real.mkdir()
    (remote_dir / "link").symlink_to(real)
    return remote_dir / "link", real


def test_file_under_a_symlinked_directory_over_ssh_is_refused_or_followed_when_asked(
    make_host: HostFactory, ssh_servers: list[SshServer], linked_dir: tuple[Path, Path]
) -> None:
    link, real = linked_dir
    refused = _run(make_host(ssh_servers[0]), FileScore(str(link / "app.conf"), "x\n"))
    assert [s.state for s in refused.scores] == [ScoreState.FAILED]
    assert f"{link} resolves to {real} through a symlink" in refused.scores[0].message
    assert list(real.iterdir()) == []
    followed = FileScore(str(link / "app.conf"), "x\n", follow_parent_symlinks=True)
    planned = _run(make_host(ssh_servers[0]), followed, apply=False)
    assert f"(resolved: {real / 'app.conf'})" in planned.scores[0].changes[0].summary
    assert [s.state for s in _run(make_host(ssh_servers[0]), followed).scores] == [ScoreState.CHANGED]
    assert (real / "app.conf").read_text() == "x\n"


async def test_write_without_following_over_ssh_refuses_a_symlink_above_the_file(
    make_host: HostFactory, ssh_servers: list[SshServer], linked_dir: tuple[Path, Path]
) -> None:
    link, real = linked_dir
    (real / "sub").mkdir()
    host = make_host(ssh_servers[0])
    try:
        for path in (link / "f", link / "sub" / "f"):
            with pytest.raises(HarmonyError, match=f"resolves to {real}"):
                await host.command_runner().write_file(str(path), b"x", mode=0o644, follow_parent_symlinks=False)
        with pytest.raises(HarmonyError, match=f"{real / 'missing'} does not exist"):
            await host.command_runner().write_file(str(real / "missing" / "f"), b"x", mode=0o644, follow_parent_symlinks=False)
        await host.command_runner().write_file(str(real / "sub" / "f"), b"ok", mode=0o640, follow_parent_symlinks=False)
        assert await host.command_runner().resolve(str(link / "sub")) == str(real / "sub")
        assert await host.command_runner().resolve(str(link / "missing")) is None
    finally:
        await host.aclose()
    assert (real / "sub" / "f").read_bytes() == b"ok"
    assert list(real.iterdir()) == [real / "sub"]


_MEMORY_PROBE = """
import json, resource, sys
import anyio
from harmony_py import Maestro
from harmony_py.scores import FileScore
from topologies import LinuxHostTopology

options, path = json.loads(sys.argv[1]), sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
async def plan():
    async with Maestro(LinuxHostTopology(**options)).add(FileScore(path, "small\\n")) as maestro:
        return await maestro.plan()
report = anyio.run(plan)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
(change,) = report.scores[0].changes
print(json.dumps({"growth_kib": after - before, "summary": change.summary, "diff": change.diff}))
"""


def test_plan_against_a_200_mib_file_over_ssh_reads_none_of_it(
    ssh_servers: list[SshServer], user_key: UserKey, known_hosts: Path, remote_dir: Path
) -> None:
    huge = remote_dir / "huge.log"
    with open(huge, "wb") as handle:
        handle.truncate(200 * MIB)
    huge.chmod(0o644)
    server = ssh_servers[1]
    options: dict[str, Any] = {
        "host": server.address, "port": server.port, "user": "root", "use_agent": False,
        "client_keys": [str(user_key.private_path)], "known_hosts": str(known_hosts), "connect_timeout_s": 5.0,
    }  # fmt: skip
    probe = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, json.dumps(options), str(huge)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=True,
    )  # fmt: skip
    result = json.loads(probe.stdout)
    assert result["growth_kib"] < 100 * 1024, f"plan grew the peak RSS by {result['growth_kib']} KiB"
    assert result["summary"].endswith(f"content differs ({200 * MIB} bytes -> 6 bytes)")
    assert result["diff"] is None


async def test_digest_over_ssh_is_taken_on_the_host(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    blob = remote_dir / "blob"
    content = os.urandom(2 * MIB)
    blob.write_bytes(content)
    blob.chmod(0o644)
    os.mkfifo(remote_dir / "fifo")
    (remote_dir / "link").symlink_to(blob)
    host = make_host(ssh_servers[0])
    try:
        assert await host.command_runner().digest(str(blob)) == hashlib.sha256(content).hexdigest()
        assert await host.command_runner().digest(str(remote_dir / "missing")) is None
        for other in ("fifo", "link"):
            with pytest.raises(HarmonyError, match="is not a regular file"):
                await host.command_runner().digest(str(remote_dir / other))
    finally:
        await host.aclose()
    assert not (await _report(make_host(ssh_servers[0]), FileScore(str(blob), content), apply=False)).has_changes
    changed = content[:-1] + bytes([content[-1] ^ 1])
    (change,) = (await _report(make_host(ssh_servers[0]), FileScore(str(blob), changed), apply=False)).scores[0].changes
    assert f"content differs ({2 * MIB} bytes -> {2 * MIB} bytes)" in change.summary


def test_a_missing_directory_over_ssh_is_named(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    missing = remote_dir / "srv" / "app"
    report = _run(make_host(ssh_servers[0]), FileScore(str(missing / "app.conf"), "x"))
    assert [s.state for s in report.scores] == [ScoreState.FAILED]
    assert f"{missing} does not exist: add a DirectoryScore for it or create it first" in report.scores[0].message
    assert ".harmony-tmp" not in report.scores[0].message


async def test_a_fifo_over_ssh_is_named_and_never_opened(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    fifo = remote_dir / "pipe"
    os.mkfifo(fifo)
    host = make_host(ssh_servers[0])
    try:
        found = await host.command_runner().stat(str(fifo))
    finally:
        await host.aclose()
    assert found is not None and found.kind is FileKind.FIFO
    report = await _report(make_host(ssh_servers[0]), FileScore(str(fifo), "x"))
    assert [s.state for s in report.scores] == [ScoreState.FAILED]
    assert f"{fifo} is a FIFO, not a file" in report.scores[0].message


def test_a_command_secret_over_ssh_is_masked_and_reaches_the_command(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    out, password = remote_dir / "out", "ssh-hunter2-never-shown"
    score = CommandScore(f'printf %s "$TOKEN" > {out}', creates=str(out), env={"TOKEN": Secret(password)})
    report = _run(make_host(ssh_servers[0]), score)
    assert [s.state for s in report.scores] == [ScoreState.CHANGED]
    assert out.read_text() == password and password not in repr(report)
    failing = CommandScore('echo "no $TOKEN" >&2; exit 5', creates=str(remote_dir / "x"), env={"TOKEN": Secret(password)})
    failed = _run(make_host(ssh_servers[0]), failing)
    assert "command 'echo \"no $TOKEN\" >&2; exit 5' exited 5: no ********" in failed.scores[0].message
    assert password not in repr(failed)


async def _sessions_ended(user: str) -> None:
    """Wait (up to 10 s) until sshd's processes for ``user`` are gone, so that the fixture can delete the user."""
    with anyio.move_on_after(10):
        while subprocess.run(["pgrep", "-u", user], capture_output=True).returncode == 0:
            await anyio.sleep(0.1)


async def test_with_sudo_resolve_and_digest_see_what_root_sees(login: Any, root_only_dir: Path) -> None:
    (root_only_dir / "real").mkdir()
    (root_only_dir / "link").symlink_to(root_only_dir / "real")
    secret_file = root_only_dir / "real" / "token"
    secret_file.write_bytes(b"root only")
    secret_file.chmod(0o600)
    host = login(sudo=True)
    try:
        assert await host.command_runner().resolve(str(root_only_dir / "link")) == str(root_only_dir / "real")
        assert await host.command_runner().digest(str(secret_file)) == hashlib.sha256(b"root only").hexdigest()
        with pytest.raises(HarmonyError, match="through a symlink"):
            await host.command_runner().write_file(str(root_only_dir / "link" / "f"), b"x", mode=0o600, follow_parent_symlinks=False)
    finally:
        await host.aclose()
    report = await _report(login(sudo=True), DirectoryScore(str(root_only_dir / "link" / "d")))
    await _sessions_ended(USER)
    assert [s.state for s in report.scores] == [ScoreState.FAILED]
    assert "follow_parent_symlinks=True" in report.scores[0].message
