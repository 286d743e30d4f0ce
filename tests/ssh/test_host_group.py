"""The same scores on a group of real sshd hosts: isolation, per-host output, --parallel, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from harmony_py import Maestro, ScoreState, TopologyGroup
from harmony_py.cli.main import main
from harmony_py.scores import CommandScore, DirectoryScore, FileScore

from .conftest import UNUSED_ADDRESS, HostFactory
from .sshd import SshServer, UserKey

SECRET = "s3cret-do-not-print"


def _clean(servers: list[SshServer], name: str) -> None:
    for server in servers:
        assert server.view is not None
        subprocess.run(["rm", "-rf", str(server.view / name)], check=True)


def test_group_applies_everywhere_and_isolates_an_unreachable_host(
    make_host: HostFactory, ssh_servers: list[SshServer], group_mount: Path
) -> None:
    _clean(ssh_servers, "group")
    root = f"{group_mount}/group"
    hosts = [make_host(server) for server in ssh_servers]
    dead = make_host(host=UNUSED_ADDRESS, port=2222, connect_timeout_s=1.0)
    scores = [
        DirectoryScore(root),
        FileScore(f"{root}/motd", "hello\n"),
        CommandScore(["sh", "-c", f"hostname > {root}/ran"], creates=f"{root}/ran"),
    ]

    async def run() -> None:
        async with Maestro(TopologyGroup([*hosts, dead], parallel=2)).add(*scores) as maestro:
            first = await maestro.apply()
            by_host = {host.topology: host for host in first.hosts}
            assert "could not connect" in (by_host[dead.name].error or "")
            for host in hosts:
                assert by_host[host.name].ok and by_host[host.name].count(ScoreState.CHANGED) == 3
            assert not first.ok and [h.topology for h in first.failed_hosts] == [dead.name]
            second = await maestro.apply()
            assert second.count(ScoreState.UNCHANGED) == 9 and second.count(ScoreState.CHANGED) == 0
            plan = await maestro.plan()
            assert not plan.has_changes

    anyio.run(run)
    for server in ssh_servers:
        assert server.view is not None
        assert (server.view / "group" / "motd").read_text() == "hello\n"


def _score_file(
    tmp_path: Path, servers: list[SshServer], user_key: UserKey, known_hosts: Path, root: str, *,
    extra_hosts: tuple[str, ...] = (), command: str = "true",
) -> Path:
    specs = [f"root@{s.address}:{s.port}" for s in servers] + list(extra_hosts)
    file = tmp_path / "fleet.py"
    file.write_text(
        f"""
from harmony_py import Maestro, Secret
from harmony_py.scores import CommandScore, DirectoryScore, FileScore
from topologies import LinuxHostTopology, linux_hosts

defaults = LinuxHostTopology(
    "defaults", client_keys=({str(user_key.private_path)!r},), use_agent=False,
    known_hosts={str(known_hosts)!r}, connect_timeout_s=1.0,
)
maestro = Maestro(linux_hosts({specs!r}, like=defaults)).add(
    DirectoryScore({root!r}),
    FileScore({root + "/app.conf"!r}, "port = 8080\\n"),
    FileScore({root + "/token"!r}, Secret({SECRET!r})),
    CommandScore(["sh", "-c", {command!r}], creates={root + "/done"!r}),
)
"""
    )
    return file


def test_cli_reports_each_host_in_json_and_exits_non_zero_for_an_unreachable_one(
    tmp_path: Path, ssh_servers: list[SshServer], user_key: UserKey, known_hosts: Path, group_mount: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _clean(ssh_servers, "cli")
    root = f"{group_mount}/cli"
    dead = f"root@{UNUSED_ADDRESS}:2222"
    file = _score_file(tmp_path, ssh_servers, user_key, known_hosts, root, extra_hosts=(dead,), command=f"touch {root}/done")

    assert main(["apply", str(file), "--yes", "--json", "--parallel", "2"]) == 1
    out, err = capsys.readouterr()
    document = json.loads(out)
    hosts = {host["topology"]: host for host in document["apply"]["hosts"]}
    assert set(hosts) == {f"{s.address}:{s.port}" for s in ssh_servers} | {f"{UNUSED_ADDRESS}:2222"}
    assert "could not connect" in hosts[f"{UNUSED_ADDRESS}:2222"]["error"]
    assert all(host["ok"] for name, host in hosts.items() if not name.startswith(UNUSED_ADDRESS))
    assert document["apply"]["summary"]["changed"] == 4 * len(ssh_servers)
    assert "1 of 4 hosts failed" in document["error"]

    # Human output: every line of a group names its host; the summary lists each host.
    assert main(["apply", str(file), "--yes"]) == 1
    out, err = capsys.readouterr()
    for server in ssh_servers:
        assert f"{server.address}:{server.port}: 4 unchanged" in out
    assert f"{UNUSED_ADDRESS}:2222: failed" in out
    assert "1 of 4 hosts failed" in err
    assert SECRET not in out + err

    assert main(["plan", str(file), "--json"]) == 1
    out, _ = capsys.readouterr()
    assert SECRET not in out
    for server in ssh_servers:
        assert server.view is not None
        token = server.view / "cli" / "token"
        assert token.read_text() == SECRET and (token.stat().st_mode & 0o777) == 0o600


def test_cli_plan_on_reachable_hosts_with_parallel_one(
    tmp_path: Path, ssh_servers: list[SshServer], user_key: UserKey, known_hosts: Path, group_mount: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _clean(ssh_servers, "plan")
    root = f"{group_mount}/plan"
    file = _score_file(tmp_path, ssh_servers, user_key, known_hosts, root, command=f"touch {root}/done")
    assert main(["plan", str(file), "--parallel", "1", "--detailed-exitcode"]) == 2
    out, _ = capsys.readouterr()
    assert out.count("create file") == 2 * len(ssh_servers)
    assert main(["apply", str(file), "--yes"]) == 0
    capsys.readouterr()
    assert main(["plan", str(file), "--detailed-exitcode"]) == 0


def test_ctrl_c_stops_promptly_and_a_rerun_converges(
    tmp_path: Path, ssh_servers: list[SshServer], user_key: UserKey, known_hosts: Path, group_mount: Path,
) -> None:
    _clean(ssh_servers, "interrupt")
    root = f"{group_mount}/interrupt"
    # The command is slow: the interrupt lands while every host is inside it.
    marker = tmp_path / "started"
    file = _score_file(
        tmp_path, ssh_servers, user_key, known_hosts, root, command=f"touch {marker}; sleep 30; touch {root}/done"
    )
    cwd = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "harmony_py", "apply", str(file), "--yes", "--json"],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(cwd)},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), process.communicate(timeout=10)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "interrupted" in json.loads(out)["error"]

    # The interrupted command never finished; a re-run (with a quick command) converges.
    fixed = _score_file(tmp_path, ssh_servers, user_key, known_hosts, root, command=f"touch {root}/done")
    assert main(["apply", str(fixed), "--yes", "--json"]) == 0
    assert main(["plan", str(fixed), "--detailed-exitcode", "--json"]) == 0
    for server in ssh_servers:
        assert server.view is not None
        leftovers = [p.name for p in (server.view / "interrupt").iterdir() if p.name.endswith(".harmony-tmp")]
        assert leftovers == []
