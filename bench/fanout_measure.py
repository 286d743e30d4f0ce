"""How one tool run is measured: wall time, the CPU and memory of its process tree, the hosts' CPU, the machine's load.

- CPU: ``os.wait4`` on the tool's process gives user+sys of it and of every
  descendant it waited for (a tool that forks workers, as Ansible does, is
  counted whole); extra processes a tool leaves running (Ansible's OpenSSH
  ControlPersist masters) are added by the caller.
- Memory: the largest process's peak RSS (``ru_maxrss`` from ``wait4``), and the
  peak of the whole tree's summed RSS, sampled every 0.2 s through
  ``/proc/PID/task/TID/children`` (summed RSS counts pages that forked workers
  share once per worker, so it is an upper bound for Ansible).
- Hosts: the sshd listeners' ``cutime+cstime`` (every per-connection sshd and the
  commands it ran, once reaped), i.e. what the hosts spent serving this run.
- Load: the 1-minute load average sampled during the run, and the CPU that
  other processes on the machine used meanwhile (/proc/stat busy time minus
  this run's tool, hosts and the benchmark itself), in cores.
- TCP segments carrying data to and from the hosts, when ``iptables`` can count
  them (a counting-only chain, removed at exit).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
SAMPLE_EVERY_S = 0.2
HOSTS_NET = "127.34.0.0/16"
CHAIN = "HARMONY_FANOUT"


@dataclass
class RunSample:
    """What one run of one tool cost."""

    wall_s: float
    cpu_s: float
    """User+sys of the tool's process tree (plus processes it left behind, when the caller adds them)."""
    max_rss_kib: int
    """Peak RSS of the largest single process of the tool."""
    tree_rss_kib: int
    """Peak of the summed RSS of the tool's process tree (sampled)."""
    hosts_cpu_s: float
    load_mean: float
    load_max: float
    others_cores: float
    """Cores that processes other than this run (other engineers' tests) used during it, on average."""
    steal_cores: float
    window_s: float
    """From the hosts' settling before the run to the end of their settling after it (what the CPU shares are over)."""
    segments_out: int | None = None
    segments_in: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def cpu_times() -> tuple[float, float]:
    """(busy, steal) seconds of the whole machine since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / TICKS, steal / TICKS


def process_cpu(pid: int, *, children: bool) -> float:
    """utime+stime of ``pid`` (and, with ``children``, of its reaped descendants), seconds; 0 when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # Fields after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    ticks = int(stat[11]) + int(stat[12])
    if children:
        ticks += int(stat[13]) + int(stat[14])
    return ticks / TICKS


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def tree_rss_kib(root: int) -> int:
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        pending += children_of(pid)
    return total


class _Sampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.done = threading.Event()
        self.peak_rss = 0
        self.loads: list[float] = []

    def run(self) -> None:
        while not self.done.wait(SAMPLE_EVERY_S):
            self.peak_rss = max(self.peak_rss, tree_rss_kib(self.root))
            self.loads.append(loadavg())


def hosts_cpu(listeners: Sequence[int]) -> float:
    return sum(process_cpu(pid, children=True) for pid in listeners)


def settle_hosts(listeners: Sequence[int], timeout_s: float = 5.0) -> None:
    """Wait until no host serves a connection any more (its sshd children exited and were reaped)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(children_of(pid) for pid in listeners):
        time.sleep(0.05)


class SegmentCounter:
    """Data-carrying TCP segments between this machine and the hosts' addresses, counted by an iptables chain."""

    def __init__(self) -> None:
        self.enabled = False

    def install(self) -> bool:
        iptables = shutil.which("iptables")
        if iptables is None:
            return False
        self.remove()
        commands = [
            ["-N", CHAIN],
            # A pure ACK on loopback is 52 bytes (20 IP + 32 TCP with timestamps): count only longer ones.
            ["-A", CHAIN, "-d", HOSTS_NET, "-m", "length", "--length", "53:65535"],
            ["-A", CHAIN, "-s", HOSTS_NET, "-m", "length", "--length", "53:65535"],
            ["-I", "OUTPUT", "-p", "tcp", "-j", CHAIN],
        ]
        for args in commands:
            if subprocess.run([iptables, "-w", *args], capture_output=True).returncode != 0:
                self.remove()
                return False
        self.enabled = True
        return True

    def read_and_zero(self) -> tuple[int | None, int | None]:
        if not self.enabled:
            return None, None
        shown = subprocess.run(
            ["iptables", "-w", "-L", CHAIN, "-n", "-v", "-x", "-Z"], capture_output=True, text=True
        ).stdout.splitlines()
        rows = [line.split() for line in shown[2:] if line.split() and line.split()[0].isdigit()]
        counts = {"out": 0, "in": 0}
        for row in rows:
            # pkts bytes target prot opt in out source destination [length match]
            packets, source = int(row[0]), row[6]
            counts["in" if source == HOSTS_NET else "out"] += packets
        return counts["out"], counts["in"]

    def remove(self) -> None:
        if shutil.which("iptables") is None:
            return
        subprocess.run(["iptables", "-w", "-D", "OUTPUT", "-p", "tcp", "-j", CHAIN], capture_output=True)
        subprocess.run(["iptables", "-w", "-F", CHAIN], capture_output=True)
        subprocess.run(["iptables", "-w", "-X", CHAIN], capture_output=True)
        self.enabled = False


def run_measured(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str],
    cwd: Path,
    listeners: Sequence[int],
    segments: SegmentCounter,
    after_exit: Callable[[], float] | None = None,
) -> tuple[int, RunSample]:
    """Run ``argv`` to completion (output to ``log``) and return its exit status and what it cost.

    ``after_exit`` runs once the tool exited (before the hosts are read): it stops what the
    tool left running and returns that CPU time, which counts as the tool's.
    """
    settle_hosts(listeners)
    segments.read_and_zero()
    started = time.monotonic()
    hosts_before = hosts_cpu(listeners)
    busy_before, steal_before = cpu_times()
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    load_before = loadavg()
    with open(log, "wb") as out:
        launched = time.monotonic()
        process = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        sampler = _Sampler(process.pid)
        sampler.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            process.wait()
            raise
        finally:
            sampler.done.set()
        wall = time.monotonic() - launched
    process.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    left_behind = after_exit() if after_exit is not None else 0.0
    settle_hosts(listeners)
    hosts = hosts_cpu(listeners) - hosts_before
    busy_after, steal_after = cpu_times()
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    own = (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
    cpu = usage.ru_utime + usage.ru_stime + left_behind
    elapsed_total = time.monotonic() - started
    others = (busy_after - busy_before) - cpu - hosts - own
    seg_out, seg_in = segments.read_and_zero()
    loads = sampler.loads or [load_before]
    sample = RunSample(
        wall_s=wall,
        cpu_s=cpu,
        max_rss_kib=usage.ru_maxrss,
        tree_rss_kib=max(sampler.peak_rss, usage.ru_maxrss),
        hosts_cpu_s=hosts,
        load_mean=sum(loads) / len(loads),
        load_max=max(loads),
        others_cores=max(0.0, others) / elapsed_total,
        steal_cores=(steal_after - steal_before) / elapsed_total,
        window_s=elapsed_total,
        segments_out=seg_out,
        segments_in=seg_in,
    )
    return process.returncode, sample


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit, so cleanup (``finally``) runs as it does on Ctrl-C."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
