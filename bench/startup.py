"""Start-up time: ``python -m harmony_py --help`` and a converged plan, against ``pyinfra --help``.

    python bench/startup.py [--runs 21] [--pyinfra PATH] [--before DIR]

Runs, in turn and N times each (alternating, so that the machine's load falls on every
command alike): the bare interpreter (``python -c pass``, the floor), ``python -m harmony_py
--help``, ``plan`` of examples/hello_localhost.py on a machine it has just converged (in a
temporary directory), and pyinfra 3's ``--help``. Bytecode is cached by one untimed run of
each first. Prints the median wall time and CPU time (user + system of the child) of each,
each median's ratio to pyinfra's ``--help``, and the machine's load average (adr/0106).
With ``--before DIR`` (a checkout of an earlier commit, e.g. made by ``git worktree add``),
the same two harmony_py commands run from it too, in the same rotation.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PEERS_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harmony_py-bench" / "peers-venv"
"""Where bench/fanout.py installs pyinfra and ansible-core."""


@dataclass
class Command:
    """One command line to time, and the wall and CPU seconds of each of its runs."""

    title: str
    argv: list[str]
    repo: Path = REPO
    """The checkout whose harmony_py runs (the working directory and PYTHONPATH)."""
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def run_once(self, env: dict[str, str]) -> None:
        """Run it once, record its times; fail loudly if it did not succeed (a plan that found changes too)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        env = {**env, "PYTHONPATH": str(self.repo)}
        result = subprocess.run(self.argv, env=env, cwd=self.repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise SystemExit(f"{self.title} exited {result.returncode}: {result.stderr.decode(errors='replace')}")
        self.wall.append(elapsed)
        self.cpu.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (default 21)")
    parser.add_argument("--pyinfra", type=Path, default=PEERS_VENV / "bin" / "pyinfra", help="the pyinfra 3 executable")
    parser.add_argument("--before", type=Path, help="a checkout of an earlier commit to time the same commands from")
    args = parser.parse_args()
    pyinfra = args.pyinfra if args.pyinfra.exists() else shutil.which("pyinfra")
    if pyinfra is None:
        raise SystemExit(f"no pyinfra at {args.pyinfra}: run bench/fanout.py once (it installs the peers) or pass --pyinfra")
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="harmony-startup-") as work:
        env = {**os.environ, "HARMONY_HELLO_DIR": str(Path(work) / "hello")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        example = "examples/hello_localhost.py"
        Command("apply", [python, "-m", "harmony_py", "apply", "--yes", example]).run_once(env)
        help_argv = [python, "-m", "harmony_py", "--help"]
        plan_argv = [python, "-m", "harmony_py", "plan", "--detailed-exitcode", example]
        commands = [
            Command("python -c pass (floor)", [python, "-c", "pass"]),
            Command("python -m harmony_py --help", help_argv),
            Command("python -m harmony_py plan examples/hello_localhost.py (converged)", plan_argv),
        ]
        if args.before is not None:
            before = args.before.resolve()
            commands += [
                Command(f"--help from {before.name}", help_argv, before),
                Command(f"plan from {before.name}", plan_argv, before),
            ]
        commands.append(Command("pyinfra --help", [str(pyinfra), "--help"]))
        for command in commands:  # untimed: writes the bytecode caches
            command.run_once(env)
            command.wall.clear()
            command.cpu.clear()
        load_before = load_average()
        for _ in range(args.runs):
            for command in commands:
                command.run_once(env)
        load_after = load_average()
    reference = statistics.median(commands[-1].wall)
    reference_cpu = statistics.median(commands[-1].cpu)
    print(f"{args.runs} alternating runs each; load average before {load_before}, after {load_after}")
    print("| command | median wall | min–max wall | median CPU | wall / pyinfra --help | CPU / pyinfra --help |")
    print("|---|---|---|---|---|---|")
    for command in commands:
        wall, cpu = statistics.median(command.wall), statistics.median(command.cpu)
        print(
            f"| `{command.title}` | {wall * 1000:.0f} ms | {min(command.wall) * 1000:.0f}–{max(command.wall) * 1000:.0f} ms "
            f"| {cpu * 1000:.0f} ms | {wall / reference:.2f} | {cpu / reference_cpu:.2f} |"
        )


if __name__ == "__main__":
    main()
