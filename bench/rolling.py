"""Time a rolling update of 4 replicas and count the requests that failed during it.

    python bench/rolling.py [--runs 5] [--replicas 4]

Starts its own dockerd and nginx (as tests/docker does), deploys v1, then
updates v1 -> v2 -> v1 ... while a client sends requests through the
balancer in a loop. Not a test: it prints one line per run and a summary.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harmony_py import Maestro, ScoreState  # noqa: E402
from harmony_py.scores import ReplicatedServiceScore, UpdatePolicy  # noqa: E402
from tests.docker import conftest  # noqa: E402
from tests.docker.load import LoadClient  # noqa: E402
from topologies import LocalhostTopology  # noqa: E402


class _Factory:
    """Enough of pytest's TempPathFactory for the engine fixture."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def mktemp(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.base))
        return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harmony-bench-") as base:
        factory = _Factory(Path(base))
        engines = conftest.engine.__wrapped__(factory)  # type: ignore[attr-defined]
        engine = next(engines)
        roots = conftest.balancer_root.__wrapped__(factory)  # type: ignore[attr-defined]
        root = next(roots)
        try:
            run_all(LocalhostTopology(docker_host=engine.socket, balancer_root=root), args.runs, args.replicas)
        finally:
            for generator in (roots, engines):
                with pytest.raises(StopIteration):
                    next(generator)


def run_all(host: LocalhostTopology, runs: int, replicas: int) -> None:
    port, ports = conftest.free_port(), conftest.free_range(4 * replicas)

    def score(tag: str) -> ReplicatedServiceScore:
        return ReplicatedServiceScore(
            "bench",
            f"{conftest.IMAGE}:{tag}",
            replicas,
            port,
            backend_ports=ports,
            health_interval_s=0.2,
            stop_grace_s=2,
            update=UpdatePolicy(monitor_s=20, drain_timeout_s=5),
        )

    def apply(tag: str) -> ScoreState:
        return anyio.run(Maestro(host).add(score(tag)).apply).scores[0].state

    assert apply("v1") is ScoreState.CHANGED
    durations: list[float] = []
    failed_total = 0
    for run in range(runs):
        tag = "v2" if run % 2 == 0 else "v1"
        with LoadClient(port) as load:
            started = time.perf_counter()
            state = apply(tag)
            durations.append(time.perf_counter() - started)
        failed_total += len(load.failures)
        print(
            f"run {run + 1}: update to {tag} of {replicas} replicas: {state.value}, "
            f"{durations[-1]:.2f} s, {load.requests} requests, {len(load.failures)} failed"
            + (f" ({load.failures[:3]})" if load.failures else "")
        )
    print(
        f"summary: {runs} runs, update time median {statistics.median(durations):.2f} s "
        f"(min {min(durations):.2f}, max {max(durations):.2f}), failed requests in total: {failed_total}"
    )
    anyio.run(lambda: host.remove_balanced_service("bench", drain_timeout_s=2))


if __name__ == "__main__":
    main()
