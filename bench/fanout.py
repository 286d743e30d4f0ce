"""Fan-out benchmark: the same 10 steps on N real sshd hosts, harmony_py against pyinfra.

    python bench/fanout.py                # 50 hosts
    python bench/fanout.py --hosts 10 50 100

Each host is a real OpenSSH server on its own loopback address (127.34.x.y),
in its own mount namespace so that it has its own files under the target
directory (as separate machines would). Both tools run as their CLI in a
subprocess, against the same hosts: a first apply on empty hosts, then a
no-change second apply. Needs root (mount namespaces) and openssh-server;
pyinfra is installed from PyPI for the benchmark only (`pip install pyinfra`).
Not a test: run it by hand, record the figures in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.ssh.sshd import SshServer, UserKey, make_user_key, running_servers, write_known_hosts  # noqa: E402

APP_CONF = "".join(f"option_{i} = value {i}\n" for i in range(20))
SEED = "".join(f"row {i:05d} payload payload payload\n" for i in range(120))


def addresses(count: int) -> list[str]:
    return [f"127.34.{n // 250}.{n % 250 + 1}" for n in range(count)]


def harmony_file(path: Path, servers: Sequence[SshServer], key: UserKey, known_hosts: Path, root: str) -> None:
    specs = [f"root@{s.address}:{s.port}" for s in servers]
    path.write_text(
        f"""
from harmony_py import Maestro, Secret
from harmony_py.scores import CommandScore, DirectoryScore, FileScore
from topologies import LinuxHostTopology, linux_hosts

ROOT = {root!r}
defaults = LinuxHostTopology("defaults", client_keys=({str(key.private_path)!r},), use_agent=False,
                             known_hosts={str(known_hosts)!r})
maestro = Maestro(linux_hosts({specs!r}, like=defaults)).add(
    DirectoryScore(ROOT),
    DirectoryScore(f"{{ROOT}}/conf"),
    DirectoryScore(f"{{ROOT}}/data", mode=0o750),
    FileScore(f"{{ROOT}}/conf/app.conf", {APP_CONF!r}),
    FileScore(f"{{ROOT}}/conf/db.conf", "host = db\\nport = 5432\\n", mode=0o640),
    FileScore(f"{{ROOT}}/conf/motd", "managed by harmony_py\\n"),
    FileScore(f"{{ROOT}}/data/seed.txt", {SEED!r}),
    FileScore(f"{{ROOT}}/token", Secret("bench-token-value")),
    CommandScore(["sh", "-c", f"echo built > {{ROOT}}/built"], creates=f"{{ROOT}}/built"),
    CommandScore(["sh", "-c", f"echo 1 > {{ROOT}}/migrated"], unless=["test", "-s", f"{{ROOT}}/migrated"]),
)
"""
    )


def pyinfra_files(directory: Path, servers: Sequence[SshServer], key: UserKey, known_hosts: Path, root: str) -> tuple[Path, Path]:
    inventory = directory / "inventory.py"
    hosts = [
        (
            s.address,
            {
                "ssh_port": s.port,
                "ssh_user": "root",
                "ssh_key": str(key.private_path),
                "ssh_known_hosts_file": str(known_hosts),
                "ssh_strict_host_key_checking": "yes",
            },
        )
        for s in servers
    ]
    inventory.write_text(f"hosts = {hosts!r}\n")
    deploy = directory / "deploy.py"
    deploy.write_text(
        f"""
from io import StringIO
from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

ROOT = {root!r}
files.directory(name="root", path=ROOT, mode="755")
files.directory(name="conf", path=f"{{ROOT}}/conf", mode="755")
files.directory(name="data", path=f"{{ROOT}}/data", mode="750")
files.put(name="app.conf", src=StringIO({APP_CONF!r}), dest=f"{{ROOT}}/conf/app.conf", mode="644")
files.put(name="db.conf", src=StringIO("host = db\\nport = 5432\\n"), dest=f"{{ROOT}}/conf/db.conf", mode="640")
files.put(name="motd", src=StringIO("managed by harmony_py\\n"), dest=f"{{ROOT}}/conf/motd", mode="644")
files.put(name="seed", src=StringIO({SEED!r}), dest=f"{{ROOT}}/data/seed.txt", mode="644")
files.put(name="token", src=StringIO("bench-token-value"), dest=f"{{ROOT}}/token", mode="600")
# Guarded commands: run only while their effect is missing (pyinfra's idiom: a fact, then the operation).
if not host.get_fact(File, path=f"{{ROOT}}/built"):
    server.shell(name="build", commands=[f"echo built > {{ROOT}}/built"])
if not host.get_fact(File, path=f"{{ROOT}}/migrated"):
    server.shell(name="migrate", commands=[f"echo 1 > {{ROOT}}/migrated"])
"""
    )
    return inventory, deploy


def timed(command: Sequence[str], log: Path) -> float:
    started = time.monotonic()
    with open(log, "wb") as out:
        done = subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed ({done.returncode}); see {log}")
    return elapsed


def clean(servers: Sequence[SshServer]) -> None:
    for server in servers:
        assert server.view is not None
        shutil.rmtree(server.view / "app", ignore_errors=True)


def check_converged(servers: Sequence[SshServer]) -> None:
    for server in servers:
        assert server.view is not None
        app = server.view / "app"
        assert (app / "conf" / "app.conf").read_text() == APP_CONF, server
        assert (app / "built").exists() and (app / "migrated").exists(), server


def bench(count: int, work: Path, tools: Sequence[str]) -> dict[str, tuple[float, float]]:
    key = make_user_key(work)
    mount = work / "mnt"
    root = str(mount / "app")
    results: dict[str, tuple[float, float]] = {}
    with running_servers(addresses(count), work / "hosts", key, mount_point=mount) as servers:
        known_hosts = write_known_hosts(work / "known_hosts", servers)
        score_file = work / "fleet.py"
        harmony_file(score_file, servers, key, known_hosts, root)
        inventory, deploy = pyinfra_files(work, servers, key, known_hosts, root)
        commands = {
            "harmony_py": [sys.executable, "-m", "harmony_py", "apply", str(score_file), "--yes"],
            "pyinfra": [shutil.which("pyinfra") or "pyinfra", "-y", str(inventory), str(deploy)],
        }
        for tool in tools:
            clean(servers)
            first = timed(commands[tool], work / f"{tool}-first.log")
            check_converged(servers)
            second = timed(commands[tool], work / f"{tool}-second.log")
            results[tool] = (first, second)
            print(f"  {count:4d} hosts  {tool:10s} first {first:7.2f} s   no-change {second:7.2f} s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, nargs="+", default=[50], help="host counts to run (default: 50)")
    parser.add_argument("--tools", nargs="+", default=["harmony_py", "pyinfra"], choices=["harmony_py", "pyinfra"])
    args = parser.parse_args()
    rows = []
    for count in args.hosts:
        with tempfile.TemporaryDirectory(prefix="harmony-fanout-") as work:
            rows.append((count, bench(count, Path(work), args.tools)))
    print("\nhosts | tool | first apply (s) | no-change apply (s)")
    for count, results in rows:
        for tool, (first, second) in results.items():
            print(f"{count} | {tool} | {first:.2f} | {second:.2f}")
        if "harmony_py" in results and "pyinfra" in results:
            h, p = results["harmony_py"], results["pyinfra"]
            print(f"{count} | ratio harmony/pyinfra | {h[0] / p[0]:.2f} | {h[1] / p[1]:.2f}")


if __name__ == "__main__":
    main()
