"""The floor: the workload done by bare asyncssh, the least any asyncssh-based tool could spend.

    python bench/fanout_floor.py SPEC.json first|again [--count-packets COUNTS.json]

Connects to every host at once (asyncssh defaults, as harmony_py), opens one
long-lived ``sh -s`` session per host, and sends the workload's steps through
it one command at a time (one round trip per step): on ``first`` the commands
that make each step, on ``again`` the ones that observe it (stat, digest, link
target), each output checked against the converged state. No planning, no
rendering, no SFTP: what is left is connecting and one round trip per step.
Prints one JSON line: ``connect_s`` (the last host connected), ``total_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import asyncssh  # noqa: E402

from bench.fanout_workload import floor_commands, make_workload  # noqa: E402


class ShellSession:
    """One ``sh -s`` on a host; each command's end is marked on stdout by a random marker and its exit status."""

    def __init__(self, process: asyncssh.SSHClientProcess[str]) -> None:
        self.process = process
        self.marker = f"__end_{secrets.token_hex(8)}__"

    async def run(self, command: str) -> tuple[int, str]:
        self.process.stdin.write(f"{command}\nprintf '\\n{self.marker}%s\\n' $?\n")
        lines: list[str] = []
        while True:
            line = await self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the shell ended during {command!r}")
            if line.startswith(self.marker):
                output = "".join(lines)
                return int(line[len(self.marker):]), output[:-1] if output.endswith("\n") else output
            lines.append(line)


async def one_host(spec: dict[str, Any], address: str, port: int, phase: str, started: float) -> float:
    workload = make_workload(spec["root"], spec["workload"])
    make, observe = floor_commands(workload)
    async with asyncssh.connect(
        address, port, username="root", client_keys=[spec["key"]], known_hosts=spec["known_hosts"], agent_path=None
    ) as connection:
        connected = time.monotonic() - started
        process = await connection.create_process("sh -s")
        session = ShellSession(process)
        if phase == "first":
            for command in make:
                status, output = await session.run(command)
                if status != 0:
                    raise RuntimeError(f"{address}: {command!r} failed ({status}): {output}")
        else:
            for command, expected in observe:
                status, output = await session.run(command)
                if status != 0 or output.strip() != expected:
                    raise RuntimeError(f"{address}: {command!r} printed {output!r}, expected {expected!r}")
        process.stdin.write_eof()
        await process.wait()
    return connected


async def floor(spec: dict[str, Any], phase: str) -> dict[str, float]:
    started = time.monotonic()
    connected = await asyncio.gather(
        *(one_host(spec, address, port, phase, started) for address, port in spec["hosts"])
    )
    return {"connect_s": max(connected), "total_s": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path, help="JSON: hosts [[address, port]], key, known_hosts, root, workload")
    parser.add_argument("phase", choices=["first", "again"])
    parser.add_argument("--count-packets", type=Path, help="write SSH packet counts (bench/fanout_probe.py) here")
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    counts = None
    if args.count_packets is not None:
        from bench.fanout_probe import PacketCounts, count_asyncssh

        counts = PacketCounts()
        count_asyncssh(counts)
    result = asyncio.run(floor(spec, args.phase))
    if counts is not None:
        args.count_packets.write_text(json.dumps(counts.as_json()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
