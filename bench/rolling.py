"""Time a rolling update of 4 replicas and count the requests that failed during it.

    python bench/rolling.py [--runs 5] [--replicas 4] [--over-ssh]

Starts its own dockerd and nginx (as tests/docker does), deploys v1, then
updates v1 -> v2 -> v1 ... while a client sends requests through the
balancer in a loop. Not a test: it prints one line per run and a summary.

With ``--over-ssh`` the same runs go to a LinuxHostTopology: an sshd of its own on
127.35.0.1, the engine reached only through the socket forwarded over SSH, nginx
driven over SSH and listening on 127.35.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harmony_py import Maestro, ScoreState  # noqa: E402
from harmony_py.scores import ReplicatedServiceScore, UpdatePolicy  # noqa: E402
from bench import rolling_trace  # noqa: E402
from tests.docker import conftest  # noqa: E402
from tests.docker.load import LoadClient  # noqa: E402
from tests.ssh.sshd import make_user_key, start_server, stop_server, write_known_hosts  # noqa: E402
from topologies import LinuxHostTopology, LocalhostTopology  # noqa: E402

SSH_HOST = "127.35.0.1"


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
    parser.add_argument("--over-ssh", action="store_true", help="a LinuxHostTopology over a local sshd")
    parser.add_argument("--trace", action="store_true", help="print per-step timings of each run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harmony-bench-") as base:
        factory = _Factory(Path(base))
        engines = conftest.engine.__wrapped__(factory)  # type: ignore[attr-defined]
        engine = next(engines)
        roots = conftest.balancer_root.__wrapped__(factory)  # type: ignore[attr-defined]
        root = next(roots)
        try:
            with contextlib.ExitStack() as stack:
                if args.over_ssh:
                    host: LocalhostTopology | LinuxHostTopology = stack.enter_context(
                        ssh_host(Path(base), engine.socket, root)
                    )
                    address = SSH_HOST
                else:
                    host, address = LocalhostTopology(docker_host=engine.socket, balancer_root=root), "127.0.0.1"
                if args.trace:
                    stack.enter_context(trace_steps())
                run_all(host, address, args.runs, args.replicas)
        finally:
            for generator in (roots, engines):
                with pytest.raises(StopIteration):
                    next(generator)


@contextlib.contextmanager
def ssh_host(base: Path, docker_socket: str, balancer_root: str) -> Iterator[LinuxHostTopology]:
    key = make_user_key(base)
    server = start_server(SSH_HOST, base / "sshd", key, extra_config=conftest.QUIET_SHELL)
    try:
        yield LinuxHostTopology(
            SSH_HOST,
            port=server.port,
            user="root",
            client_keys=(str(key.private_path),),
            use_agent=False,
            known_hosts=str(write_known_hosts(base / "known_hosts", [server])),
            docker_socket=docker_socket,
            balancer_root=balancer_root,
        )
    finally:
        stop_server(server)


_spans: rolling_trace.Spans | None = None


@contextlib.contextmanager
def trace_steps() -> Iterator[None]:
    """Time the engine's, the balancer's, the host's and the update's own steps (see rolling_trace)."""
    global _spans
    from harmony_py.scores import replicated_service as rs
    from topologies.balancer.nginx import NginxBalancer
    from topologies.docker.engine import DockerEngine
    from topologies.docker.over_ssh import ForwardedSocket
    from topologies.host.local_runner import LocalCommandRunner
    from topologies.host.ssh.runner import SshCommandRunner

    runner_steps = ("run", "stat", "read_file", "write_file", "make_directory")
    targets: dict[type, tuple[str, ...]] = {
        DockerEngine: ("image_id", "run_container", "wait_healthy", "stop_container", "remove_container",
                       "list_containers", "version"),
        ForwardedSocket: ("url",),
        NginxBalancer: ("service", "balance"),
        SshCommandRunner: runner_steps,
        LocalCommandRunner: runner_steps,
        LinuxHostTopology: ("ensure_ready", "aclose"),
        LocalhostTopology: ("ensure_ready",),
        rs.ReplicatedServiceInterpret: ("plan", "apply"),
        rs._RollingRun: ("execute", "_start_batch", "_retire", "_balance"),
    }  # fmt: skip
    with rolling_trace.traced(targets) as spans:
        _spans = spans
        try:
            yield
        finally:
            _spans = None


def run_all(host: LocalhostTopology | LinuxHostTopology, address: str, runs: int, replicas: int) -> None:
    port, ports = conftest.free_port(), conftest.free_range(4 * replicas)

    def score(tag: str) -> ReplicatedServiceScore:
        return ReplicatedServiceScore(
            "bench",
            f"{conftest.IMAGE}:{tag}",
            replicas,
            port,
            address=address,
            backend_ports=ports,
            health_interval_s=0.2,
            stop_grace_s=2,
            update=UpdatePolicy(monitor_s=20, drain_timeout_s=5),
        )

    async def apply_in_one_loop(tag: str) -> ScoreState:
        async with Maestro(host).add(score(tag)) as maestro:  # closes the SSH connection, if any
            return (await maestro.apply()).scores[0].state

    def apply(tag: str) -> ScoreState:
        return anyio.run(apply_in_one_loop, tag)

    async def stop_serving() -> None:
        async with Maestro(host):
            await host.load_balancer().remove("bench", drain_timeout_s=2)

    assert apply("v1") is ScoreState.CHANGED
    if _spans is not None:
        _spans.clear()
    durations: list[float] = []
    failed_total = 0
    for run in range(runs):
        tag = "v2" if run % 2 == 0 else "v1"
        with LoadClient(port, address) as load:
            started = time.perf_counter()
            state = apply(tag)
            durations.append(time.perf_counter() - started)
        failed_total += len(load.failures)
        print(
            f"run {run + 1}: update to {tag} of {replicas} replicas: {state.value}, "
            f"{durations[-1]:.2f} s, {load.requests} requests, {len(load.failures)} failed"
            + (f" ({load.failures[:3]})" if load.failures else "")
        )
        if _spans is not None:
            print(rolling_trace.report(_spans))
    print(
        f"summary: {runs} runs, update time median {statistics.median(durations):.2f} s "
        f"(min {min(durations):.2f}, max {max(durations):.2f}), failed requests in total: {failed_total}"
    )
    anyio.run(stop_serving)


if __name__ == "__main__":
    main()
