"""Fan-out benchmark: one workload on N real sshd hosts, harmony_py against pyinfra, Ansible and a bare-asyncssh floor.

    flock /tmp/harmony-servers.lock python bench/fanout.py --hosts 10 50 100 --rounds 2
    python bench/fanout.py --hosts 10 --rounds 1 --tools harmony,pyinfra

What runs (as root: mount namespaces; Debian's openssh-server):

- Hosts: per size, N sshd on 127.34.x.y, each in its own mount namespace with a
  private directory at the fleet's mount point (bench/fanout_hosts.py). Their
  sessions get ``SHLVL=1``, so bash reads no rc file (this machine's root
  ``.bashrc`` runs ``pyenv init``); every host is checked (``true`` timed, pyenv
  absent) before anything is timed.
- Workload per host (bench/fanout_workload.py): 3 directories, 4 files of which
  one a secret, a guarded command, a link, an empty file; with issue 15's host
  scores (when ``harmony_py.scores`` has them) a template and a line in a file too.
- Tools, each as its CLI in a subprocess: ``python -m harmony_py apply FILE --yes``;
  ``pyinfra -y --parallel N``; ``ansible-playbook`` (``forks`` = N, pipelining,
  no fact gathering); the floor (bench/fanout_floor.py: bare asyncssh, one ``sh -s``
  session per host, one round trip per step). pyinfra 3.x and ansible-core come
  from the package index into a venv of the benchmark's own (``--peers-venv``),
  never into the project.
- Rounds: in each round every tool, in an order rotated from round to round, gets
  a first apply on emptied hosts and a no-change apply; each apply is checked on
  every host (converged; the no-change apply touched nothing). Figures are the
  medians over the rounds. Then one untimed run each of harmony_py (``--json``)
  and pyinfra under bench/fanout_probe.py counts SSH packets by message type, and
  reads harmony_py's per-phase timings from ``--json`` when it carries them.
- Measured per run (bench/fanout_measure.py): wall time, the tool's process-tree
  CPU and memory, the hosts' CPU, load average and other processes' CPU during it,
  data segments to/from the hosts (iptables counting chain, when available).

Every sshd, namespace, leftover process and the counting chain are removed on
exit, also on Ctrl-C or SIGTERM. Not a test: run it by hand and record the table
in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (REPO / ".venv").resolve() and __name__ == "__main__":
    # harmony_py, asyncssh and the tests' sshd helpers live in the project's venv.
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.fanout_hosts import Fleet, HostCheck, check_hosts, cpu_of_leftovers, running_fleet, stop_leftovers  # noqa: E402
from bench.fanout_measure import RunSample, SegmentCounter, loadavg, run_measured, terminate_on_sigterm  # noqa: E402
from bench.fanout_workload import (  # noqa: E402
    Workload,
    ansible_files,
    converged_problems,
    fingerprint,
    harmony_score_file,
    make_workload,
    pyinfra_files,
)

TOOLS = ("harmony", "pyinfra", "ansible", "floor")
PHASES = ("first", "again")
PHASE_TITLES = {"first": "first apply", "again": "no-change apply"}
DEFAULT_PEERS_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harmony_py-bench" / "peers-venv"
PEER_REQUIREMENTS = ("pyinfra>=3,<4", "ansible-core")


# --- the tools ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolRun:
    """How to run one tool for one phase on one fleet."""

    argv: list[str]
    env: dict[str, str]
    after_exit: Callable[[], float] | None = None
    """Called once the tool exited: stops what it left running, returns that CPU time (seconds)."""


@dataclass
class SizeResult:
    hosts: int
    check: HostCheck
    steps: int
    samples: dict[str, dict[str, list[RunSample]]] = field(default_factory=dict)
    floor_inner: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    packets: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    phase_timings: dict[str, dict[str, float]] = field(default_factory=dict)
    touched: dict[str, int] = field(default_factory=dict)
    """Per tool: how many hosts its no-change apply changed something on (should be 0)."""
    started: str = ""
    finished: str = ""


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, fleet: Fleet, workload: Workload) -> None:
        self.args = args
        self.work = work
        self.fleet = fleet
        self.workload = workload
        self.count = len(fleet.servers)
        self.segments: SegmentCounter = args.segments
        # Every tool runs from compiled bytecode, as installed from a wheel (pip compiles the peers' at
        # install): this checkout's packages are compiled once here (into their __pycache__, which git
        # ignores), and a PYTHONDONTWRITEBYTECODE in the caller's environment is dropped. (A
        # PYTHONPYCACHEPREFIX would not do: the standard library's bytecode would be made again there
        # on the first timed run.)
        self.base_env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.base_env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.base_env.pop("PYTHONPYCACHEPREFIX", None)
        self.base_env.pop("HARMONY_SECRETS_DIR", None)
        python = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
        packages = [str(REPO / name) for name in ("harmony_py", "capabilities", "topologies", "bench")]
        subprocess.run([python, "-m", "compileall", "-q", *packages], env=self.base_env, check=True, stdout=subprocess.DEVNULL)
        self.peers: Path = args.peers_venv
        self._prepare()

    def _prepare(self) -> None:
        specs = [f"root@{address}:{port}" for address, port in self.fleet.endpoints]
        self.score_file = self.work / "fleet.py"
        self.score_file.write_text(
            harmony_score_file(self.workload, specs, self.fleet.key.private_path, self.fleet.known_hosts)
        )
        pyinfra_dir = self.work / "pyinfra"
        pyinfra_dir.mkdir()
        self.inventory, self.deploy = pyinfra_files(
            self.workload, pyinfra_dir, self.fleet.endpoints, self.fleet.key.private_path, self.fleet.known_hosts
        )
        ansible_dir = self.work / "ansible"
        ansible_dir.mkdir()
        _inventory, self.playbook, self.ansible_env = ansible_files(
            self.workload,
            ansible_dir,
            self.fleet.endpoints,
            self.fleet.key.private_path,
            self.fleet.known_hosts,
            str(self.fleet.mount),
        )
        self.control_dir = str(ansible_dir / "cp")
        self.floor_spec = self.work / "floor.json"
        self.floor_spec.write_text(
            json.dumps(
                {
                    "hosts": self.fleet.endpoints,
                    "key": str(self.fleet.key.private_path),
                    "known_hosts": str(self.fleet.known_hosts),
                    "root": self.workload.root,
                    "workload": self.workload.name,
                }
            )
        )

    def tool_run(self, tool: str, phase: str) -> ToolRun:
        python = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
        if tool == "harmony":
            return ToolRun([python, "-m", "harmony_py", "apply", str(self.score_file), "--yes"], self.base_env)
        if tool == "pyinfra":
            argv = [str(self.peers / "bin" / "pyinfra"), "-y", "--parallel", str(self.count), str(self.inventory), str(self.deploy)]
            return ToolRun(argv, self.base_env)
        if tool == "ansible":
            return ToolRun(
                [str(self.peers / "bin" / "ansible-playbook"), str(self.playbook)],
                {**self.base_env, **self.ansible_env},
                after_exit=self._stop_ansible_masters,
            )
        if tool == "floor":
            return ToolRun([python, str(REPO / "bench" / "fanout_floor.py"), str(self.floor_spec), phase], self.base_env)
        raise ValueError(tool)

    def _stop_ansible_masters(self) -> float:
        """Ansible's OpenSSH ControlPersist masters outlive the run: count their CPU, stop them (next run starts cold)."""
        spent = cpu_of_leftovers(self.control_dir)
        stop_leftovers(self.control_dir)
        return spent

    # -- one timed apply ---------------------------------------------------------------------------

    def timed(self, tool: str, phase: str, round_no: int) -> RunSample:
        run = self.tool_run(tool, phase)
        log = self.work / f"{tool}-{phase}-{round_no}.log"
        status, sample = run_measured(
            run.argv,
            log=log,
            env=run.env,
            cwd=self.work,
            listeners=self.fleet.listeners,
            segments=self.segments,
            after_exit=run.after_exit,
        )
        if status != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{tool} {PHASE_TITLES[phase]} at {self.count} hosts failed (exit {status}); {log}:\n{tail}")
        return sample

    def check_converged(self, tool: str, phase: str) -> None:
        for server, view in zip(self.fleet.servers, self.fleet.views(), strict=True):
            problems = converged_problems(self.workload, view)
            if problems:
                raise SystemExit(
                    f"{tool} {PHASE_TITLES[phase]}: host {server.address} not converged: {'; '.join(problems[:4])}"
                )

    def round(self, round_no: int, tools: Sequence[str], result: SizeResult) -> None:
        for tool in tools:
            self.fleet.reset()
            first = self.timed(tool, "first", round_no)
            self.check_converged(tool, "first")
            before = [fingerprint(self.workload, view) for view in self.fleet.views()]
            again = self.timed(tool, "again", round_no)
            self.check_converged(tool, "again")
            after = [fingerprint(self.workload, view) for view in self.fleet.views()]
            touched = sum(1 for b, a in zip(before, after, strict=True) if a != b)
            result.touched[tool] = max(result.touched.get(tool, 0), touched)
            per_tool = result.samples.setdefault(tool, {"first": [], "again": []})
            per_tool["first"].append(first)
            per_tool["again"].append(again)
            if tool == "floor":
                for phase in PHASES:
                    inner = self._floor_inner(phase, round_no)
                    if inner:
                        result.floor_inner.setdefault(phase, []).append(inner)
            print(
                f"  {self.count:4d} hosts  round {round_no + 1}  {tool:8s} first {first.wall_s:7.2f} s"
                f"  no-change {again.wall_s:7.2f} s   (cpu {first.cpu_s:.1f}/{again.cpu_s:.1f} s,"
                f" load {first.load_mean:.1f}/{again.load_mean:.1f}, others {first.others_cores:.2f}/{again.others_cores:.2f} cores)"
                + (f"  WARNING: no-change apply changed {touched} hosts" if touched else ""),
                flush=True,
            )

    def _floor_inner(self, phase: str, round_no: int) -> dict[str, float] | None:
        log = self.work / f"floor-{phase}-{round_no}.log"
        for line in reversed(log.read_text().splitlines()):
            if line.startswith("{"):
                inner: dict[str, float] = json.loads(line)
                return inner
        return None

    # -- the untimed counting run ----------------------------------------------------------------------

    def probe(self, tool: str, result: SizeResult) -> None:
        """One more first and no-change apply, SSH packets counted (and, for harmony_py, its --json read)."""
        self.fleet.reset()
        for phase in PHASES:
            counts_file = self.work / f"packets-{tool}-{phase}.json"
            out = self.work / f"probe-{tool}-{phase}.out"
            python = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
            probe = str(REPO / "bench" / "fanout_probe.py")
            if tool == "harmony":
                argv = [python, probe, str(counts_file), "harmony", "apply", str(self.score_file), "--yes", "--json"]
            elif tool == "pyinfra":
                argv = [
                    str(self.peers / "bin" / "python"), probe, str(counts_file), "pyinfra",
                    "-y", "--parallel", str(self.count), str(self.inventory), str(self.deploy),
                ]
            else:
                argv = [python, str(REPO / "bench" / "fanout_floor.py"), str(self.floor_spec), phase,
                        "--count-packets", str(counts_file)]
            with open(out, "wb") as stdout, open(self.work / f"probe-{tool}-{phase}.err", "wb") as stderr:
                done = subprocess.run(argv, cwd=self.work, env=self.base_env, stdout=stdout, stderr=stderr)
            if done.returncode != 0:
                raise SystemExit(f"counting run of {tool} ({phase}) failed (exit {done.returncode}); see {out}")
            self.check_converged(tool, phase)
            result.packets.setdefault(tool, {})[phase] = json.loads(counts_file.read_text())
            if tool == "harmony":
                timings = phase_timings(json.loads(out.read_text()))
                if timings:
                    result.phase_timings[phase] = timings


def phase_timings(document: dict[str, Any]) -> dict[str, float]:
    """Per-phase timings (connect, observe, change, ...) from harmony_py's --json, when it carries them.

    Accepts what part 2 of issue 14 adds: in ``plan``/``apply``, per host (``hosts[]``) a
    ``timings`` (or ``phases``) object of ``<phase>_s`` numbers, and/or the same at the run's top
    level. Returns ``"<run>.<phase>.median"``/``".max"`` over hosts, seconds; empty when absent.
    """
    found: dict[str, list[float]] = {}
    for run_name in ("plan", "apply"):
        run = document.get(run_name) or {}
        entries = [run, *(run.get("hosts") or [])]
        for entry in entries:
            table = entry.get("timings") or entry.get("phases") or {}
            if not isinstance(table, dict):
                continue
            for name, value in table.items():
                if isinstance(value, (int, float)):
                    found.setdefault(f"{run_name}.{name.removesuffix('_s')}", []).append(float(value))
    summary: dict[str, float] = {}
    for name, values in found.items():
        summary[f"{name}.median"] = statistics.median(values)
        summary[f"{name}.max"] = max(values)
    return summary


# --- running everything ---------------------------------------------------------------------------------


OPEN_FILES_PER_HOST = 40
"""A generous bound on descriptors one host costs in this process tree: its sshd's listener and
sessions, the tool's socket, and Ansible's per-fork pipes and ControlPersist master."""


def raise_open_files_limit(hosts: int) -> str:
    """Raise the soft open-files limit to the hard one (the tools inherit it); refuse a fleet it cannot hold."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    needed = hosts * OPEN_FILES_PER_HOST
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"{hosts} hosts need about {needed} open files; the hard limit (ulimit -Hn) is {hard}")
    return f"open files limit {hard} (was {soft}; about {needed} needed)"


def ensure_peers(venv: Path, tools: Sequence[str]) -> None:
    if not {"pyinfra", "ansible"} & set(tools):
        return
    if (venv / "bin" / "pyinfra").exists() and (venv / "bin" / "ansible-playbook").exists():
        return
    print(f"installing {', '.join(PEER_REQUIREMENTS)} into {venv} (the benchmark's own venv)", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PEER_REQUIREMENTS], check=True)


def versions(peers: Path) -> dict[str, str]:
    found = {"python": platform.python_version()}
    python = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
    probe = "import harmony_py, asyncssh; print(harmony_py.__version__, asyncssh.__version__)"
    shown = subprocess.run([python, "-c", probe], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if shown.returncode == 0:
        found["harmony_py"], found["asyncssh"] = shown.stdout.split()
    peer = "import importlib.metadata as m; print(m.version('pyinfra'), m.version('ansible-core'), m.version('paramiko'))"
    if (peers / "bin" / "python").exists():
        shown = subprocess.run([str(peers / "bin" / "python"), "-c", peer], capture_output=True, text=True)
        if shown.returncode == 0:
            found["pyinfra"], found["ansible-core"], found["paramiko"] = shown.stdout.split()
    openssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
    found["openssh"] = (openssh.stderr or openssh.stdout).strip().split(",")[0]
    return found


def bench_size(count: int, args: argparse.Namespace, tools: Sequence[str]) -> SizeResult:
    with tempfile.TemporaryDirectory(prefix=f"harmony-fanout-{count}-") as directory:
        work = Path(directory)
        with running_fleet(count, work) as fleet:
            workload = make_workload(str(fleet.mount / "app"), args.workload)
            check = check_hosts(fleet)
            print(
                f"  {count:4d} hosts up; `true` over SSH: median {check.true_median_s * 1000:.1f} ms, "
                f"max {check.true_max_s * 1000:.1f} ms; `ssh host true` (OpenSSH) {check.openssh_true_s * 1000:.0f} ms; "
                f"no pyenv on any host",
                flush=True,
            )
            result = SizeResult(count, check, len(workload.steps), started=now())
            bench = Bench(args, work, fleet, workload)
            try:
                for round_no in range(args.rounds):
                    shift = round_no % len(tools)
                    bench.round(round_no, [*tools[shift:], *tools[:shift]], result)
                if args.count_packets:
                    for tool in ("harmony", "pyinfra", "floor"):
                        if tool in tools:
                            bench.probe(tool, result)
            finally:
                stop_leftovers(bench.control_dir)
                if args.keep:
                    kept = Path(tempfile.mkdtemp(prefix=f"harmony-fanout-{count}-kept-"))
                    for pattern in ("*.log", "*.out", "*.err", "*.json", "fleet.py", "pyinfra", "ansible"):
                        for path in work.glob(pattern):
                            target = kept / path.name
                            shutil.copytree(path, target) if path.is_dir() else shutil.copy(path, target)
                    print(f"  logs kept in {kept}")
            result.finished = now()
            return result


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def parse_tools(values: Sequence[str]) -> list[str]:
    chosen: list[str] = []
    for value in values:
        for name in value.split(","):
            name = {"harmony_py": "harmony"}.get(name.strip(), name.strip())
            if not name:
                continue
            if name not in TOOLS:
                raise SystemExit(f"--tools: unknown tool {name!r} (choose from {', '.join(TOOLS)})")
            if name not in chosen:
                chosen.append(name)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, nargs="+", default=[50], help="host counts, run back to back (default: 50)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per size; figures are medians (default: 2)")
    parser.add_argument("--tools", nargs="+", default=[",".join(TOOLS)], help=f"comma-separated, from {','.join(TOOLS)}")
    parser.add_argument("--workload", choices=["auto", "table", "hostops"], default="auto",
                        help="table: issue 14's 10 steps with stand-ins; hostops: issue 15's scores; auto: hostops when available")
    parser.add_argument("--peers-venv", type=Path, default=DEFAULT_PEERS_VENV, help="venv for pyinfra and ansible-core")
    parser.add_argument("--no-count-packets", dest="count_packets", action="store_false",
                        help="skip the untimed packet-counting runs")
    parser.add_argument("--out", type=Path, help="write all measurements as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the tools' logs and generated files")
    args = parser.parse_args()
    tools = parse_tools(args.tools)
    if args.rounds < 1 or not tools:
        raise SystemExit("need at least one round and one tool")
    if os.geteuid() != 0:
        raise SystemExit("run as root: the hosts need their own mount namespaces")
    open_files = raise_open_files_limit(max(args.hosts))
    ensure_peers(args.peers_venv, tools)
    found = versions(args.peers_venv)
    started = time.monotonic()
    load_at_start = Path("/proc/loadavg").read_text().split()[:3]
    print(f"fan-out benchmark: hosts {args.hosts}, {args.rounds} rounds, tools {', '.join(tools)}; "
          f"load average at start {' '.join(load_at_start)}; {open_files}; {os.cpu_count()} CPUs, "
          f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') // 2**30} GiB memory", flush=True)
    segments = SegmentCounter()
    args.segments = segments
    results: list[SizeResult] = []
    with terminate_on_sigterm():
        try:
            if not segments.install():
                print("  (iptables unavailable: no TCP segment counts)")
            for count in args.hosts:
                results.append(bench_size(count, args, tools))
        finally:
            segments.remove()
    elapsed = time.monotonic() - started
    workload = make_workload("/ROOT", args.workload)
    from bench.fanout_report import report

    print()
    print(report(results, tools, workload, found, args, load_at_start, loadavg(), elapsed))
    if args.out is not None:
        args.out.write_text(json.dumps([asdict(result) for result in results], indent=1, default=str))
        print(f"measurements written to {args.out}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Every host, namespace and counting chain was already removed by the `finally` blocks on the way out.
        raise SystemExit("interrupted: hosts stopped, nothing left behind") from None
