"""Per-command costs on one idle host: an exec channel, a command in an open session, an SFTP stat, and each cipher.

    flock /tmp/harmony-servers.lock python bench/fanout_costs.py --count 200

One sshd (bench/fanout_hosts.py's fleet of one: its own mount namespace,
``SHLVL=1`` so bash reads no rc file). Each figure is the median wall time of
``--count`` sequential operations after a warm-up, measured through
harmony_py's own runner (``SshCommandRunner``) where that is what is measured:

- ``exec``: ``true`` in an exec channel under the command wrapper (the path a
  host without a session takes; ``process.run_wrapped``);
- ``session``: ``true`` through the runner's command session;
- ``sftp stat``: an SFTP ``stat`` on the runner's SFTP session;
- per cipher: the session command again on a connection that negotiated that cipher.

These are the figures adr/0088 compares. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (REPO / ".venv").resolve() and __name__ == "__main__":
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import anyio  # noqa: E402

from bench.fanout_hosts import Fleet, running_fleet  # noqa: E402
from topologies import LinuxHostTopology  # noqa: E402
from topologies.host.ssh import connection  # noqa: E402
from topologies.host.ssh.command_line import command_line, env_header  # noqa: E402
from topologies.host.ssh.process import GroupStopper, run_wrapped  # noqa: E402
from topologies.host.ssh.runner import SshCommandRunner  # noqa: E402

CIPHERS = ("aes256-gcm@openssh.com", "aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com")


def host_of(fleet: Fleet) -> LinuxHostTopology:
    server = fleet.servers[0]
    return LinuxHostTopology(
        server.address, port=server.port, user="root", client_keys=(str(fleet.key.private_path),),
        use_agent=False, known_hosts=str(fleet.known_hosts), connect_timeout_s=10.0,
    )  # fmt: skip


async def median_ms(operation: Callable[[], Awaitable[object]], count: int) -> float:
    for _ in range(min(20, count)):
        await operation()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await operation()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def measure(fleet: Fleet, count: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    runner: SshCommandRunner = host_of(fleet).command_runner()
    try:
        conn = await runner.connection()
        stopper = GroupStopper(conn, sudo=False)
        line = command_line(["true"])

        async def exec_true() -> object:
            return await run_wrapped(conn, stopper, host="bench", args=("true",), line=line, stdin=env_header(None), timeout_s=None)

        figures["exec channel (wrapped true)"] = await median_ms(exec_true, count)
        figures["session command (wrapped true)"] = await median_ms(lambda: runner.run(["true"]), count)
        figures["sftp stat"] = await median_ms(lambda: runner.stat("/"), count)
    finally:
        await runner.aclose()
    for cipher in CIPHERS:
        original = connection.CIPHER_PREFERENCE
        connection.CIPHER_PREFERENCE = (cipher,)
        runner = host_of(fleet).command_runner()
        try:
            figures[f"session command, {cipher}"] = await median_ms(lambda: runner.run(["true"]), count)
            figures[f"sftp stat, {cipher}"] = await median_ms(lambda: runner.stat("/"), count)
        finally:
            connection.CIPHER_PREFERENCE = original
            await runner.aclose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="operations per figure (default: 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harmony-costs-") as work, running_fleet(1, Path(work)) as fleet:
        load = os.getloadavg()[0]
        figures = anyio.run(measure, fleet, args.count)
    print(f"per operation on one idle host, median of {args.count} (load average at start {load:.2f}):")
    print("| operation | ms |\n| --- | --- |")
    for name, value in figures.items():
        print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
