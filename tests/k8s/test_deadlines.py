"""Every call to the Kubernetes API has a deadline, and cancelling one returns at once and lets go of it.

Two misbehaving servers, both real: one that accepts connections and never
answers (so even discovery hangs), and the emulator with its object reads
made to hang (discovery answers, reading a ConfigMap does not). The timeouts
in ``fail_after`` and ``communicate`` only guard the suite: they are far
longer than the behaviour under test, and far shorter than the topology's own
``request_timeout_s`` where a test shows that cancelling does not wait for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import kmock
import pytest

from capabilities.errors import K8sApiError
from harmony_py import Maestro, ScoreState
from harmony_py.errors import TopologyNotReadyError
from harmony_py.scores import K8sResourceScore
from topologies import K8sAnywhereTopology

from .emulator import client_gone
from .harness import EmulatorThread
from .stub_servers import SilentServer, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 60
"""Test guard only: how long a test waits before calling a hang a failure."""
LONG_S = 600.0
"""A request timeout far longer than GUARD_S: what returns before the guard did not wait for it."""

CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"}, "data": {"a": "1"}}


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


class HungReads:
    """The emulator's ConfigMap reads never answer; ``received`` once one arrived, ``abandoned`` once its client left."""

    def __init__(self, server: EmulatorThread) -> None:
        self.received = threading.Event()
        self.abandoned = threading.Event()
        self._released = threading.Event()

        async def hang(request: Any) -> dict[str, Any]:
            self.received.set()
            raw = request._raw_request  # kmock 0.8 keeps aiohttp's request here
            try:
                while not self._released.is_set() and not client_gone(raw):
                    await asyncio.sleep(0.02)
            finally:
                # Ended before the test released it: the client closed the connection
                # (aiohttp then cancels the handler, or it sees the transport closing).
                if not self._released.is_set():
                    self.abandoned.set()
            return {}

        view = server.api[kmock.method.GET, kmock.resource("", "v1", "configmaps")]
        server.call(lambda: view << hang)

    def release(self) -> None:
        self._released.set()


@pytest.fixture
def hung_reads(server: EmulatorThread) -> Iterator[HungReads]:
    hung = HungReads(server)
    yield hung
    hung.release()


# -- a server that accepts and never answers ---------------------------------------


async def test_discovery_from_a_server_that_never_answers_fails_within_the_request_timeout(
    silent: SilentServer, tmp_path: Path
) -> None:
    config = write_kubeconfig(tmp_path / "config", silent.url)
    topology = K8sAnywhereTopology(kubeconfig=str(config), request_timeout_s=1, retries=0)
    with anyio.fail_after(GUARD_S), pytest.raises(TopologyNotReadyError) as caught:
        await topology.ensure_ready()
    assert str(caught.value) == f"Kubernetes API at {silent.url}: discovery did not answer within 1 s"


async def test_plan_against_a_server_that_never_answers_names_what_timed_out(silent: SilentServer, tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "config", silent.url)
    topology = K8sAnywhereTopology(kubeconfig=str(config), request_timeout_s=1, retries=1)
    with anyio.fail_after(GUARD_S), pytest.raises(TopologyNotReadyError) as caught:
        await Maestro(topology).add(K8sResourceScore(CONFIGMAP)).plan()
    assert str(caught.value) == f"Kubernetes API at {silent.url}: discovery did not answer within 1 s (2 attempts)"


async def test_cancelling_a_call_to_a_silent_server_returns_and_lets_go_of_its_connection(
    silent: SilentServer, tmp_path: Path
) -> None:
    config = write_kubeconfig(tmp_path / "config", silent.url)
    topology = K8sAnywhereTopology(kubeconfig=str(config), request_timeout_s=LONG_S, retries=3)
    with anyio.fail_after(GUARD_S):
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(topology.ensure_ready)
                await anyio.to_thread.run_sync(silent.accepted.wait)
                scope.cancel()
        assert scope.cancelled_caught
        # The abandoned worker thread closed its socket: it does not linger for LONG_S (or retry).
        assert await anyio.to_thread.run_sync(silent.client_closed.wait, GUARD_S)


# -- object requests hang, discovery answers -------------------------------------------


async def test_plan_whose_object_reads_hang_fails_naming_the_read_and_its_deadline(
    kubeconfig: Path, server: EmulatorThread, hung_reads: HungReads
) -> None:
    topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig), request_timeout_s=0.5, retries=1)
    with anyio.fail_after(GUARD_S):
        report = await Maestro(topology).add(K8sResourceScore(CONFIGMAP)).plan()
    [score] = report.scores
    assert score.state is ScoreState.FAILED
    assert score.message == (
        f"plan failed: Kubernetes API at {server.url}: read ConfigMap settings in namespace default "
        "did not answer within 0.5 s (2 attempts)"
    )


async def test_cancelling_a_plan_whose_object_reads_hang_returns_and_closes_the_request(
    kubeconfig: Path, hung_reads: HungReads
) -> None:
    topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig), request_timeout_s=LONG_S, retries=3)
    with anyio.fail_after(GUARD_S):
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(Maestro(topology).add(K8sResourceScore(CONFIGMAP)).plan)
                await anyio.to_thread.run_sync(hung_reads.received.wait)
                scope.cancel()
        assert scope.cancelled_caught
        assert await anyio.to_thread.run_sync(hung_reads.abandoned.wait, GUARD_S)


async def test_score_timeout_stops_a_plan_whose_object_reads_hang(kubeconfig: Path, hung_reads: HungReads) -> None:
    topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig), request_timeout_s=LONG_S, retries=3)
    with anyio.fail_after(GUARD_S):
        report = await Maestro(topology, score_timeout_s=0.5).add(K8sResourceScore(CONFIGMAP)).plan()
    [score] = report.scores
    assert score.state is ScoreState.FAILED
    assert score.message == "plan failed: timed out after 0.5 s"
    assert await anyio.to_thread.run_sync(hung_reads.abandoned.wait, GUARD_S)


async def test_exec_whose_websocket_handshake_hangs_fails_within_the_request_timeout(
    kubeconfig: Path, server: EmulatorThread
) -> None:
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tool-0", "namespace": "default"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip

    def setup() -> None:
        server.api.exec_handshake_hangs = True
        server.api.put_object("", "v1", "pods", "default", pod)

    server.call(setup)
    topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig), request_timeout_s=0.5, retries=2)
    try:
        with anyio.fail_after(GUARD_S), pytest.raises(K8sApiError) as caught:
            await topology.k8s_client().exec("tool-0", ["true"], timeout_s=LONG_S)
    finally:
        server.call(lambda: setattr(server.api, "exec_handshake_hangs", False))
    # Exec is never retried: the command may not be idempotent.
    assert str(caught.value) == (
        f"Kubernetes API at {server.url}: exec true in Pod tool-0 in namespace default did not answer within 0.5 s"
    )


# -- the command line: Ctrl-C ------------------------------------------------------------


def _score_file(tmp_path: Path, kubeconfig: Path, request_timeout_s: float) -> Path:
    path = tmp_path / "cluster.py"
    path.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from harmony_py.scores import K8sResourceScore
            from topologies import K8sAnywhereTopology

            topology = K8sAnywhereTopology(kubeconfig={str(kubeconfig)!r}, request_timeout_s={request_timeout_s}, retries=3)
            maestro = Maestro(topology).add(K8sResourceScore({CONFIGMAP!r}))
            """
        )
    )
    return path


def _plan(score: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harmony_py", "plan", str(score)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def _interrupt_when(started: threading.Event, process: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        assert started.wait(GUARD_S), process.communicate(timeout=GUARD_S)
        process.send_signal(signal.SIGINT)
        return process.communicate(timeout=GUARD_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ctrl_c_stops_a_plan_waiting_for_discovery_from_a_silent_server(silent: SilentServer, tmp_path: Path) -> None:
    score = _score_file(tmp_path, write_kubeconfig(tmp_path / "config", silent.url), LONG_S)
    _, err = _interrupt_when(silent.accepted, _plan(score))
    assert err.startswith("interrupted (SIGINT): nothing more was started"), err


def test_ctrl_c_stops_a_plan_whose_object_reads_hang(kubeconfig: Path, hung_reads: HungReads, tmp_path: Path) -> None:
    score = _score_file(tmp_path, kubeconfig, LONG_S)
    process = _plan(score)
    _, err = _interrupt_when(hung_reads.received, process)
    assert process.returncode == 130, err
    assert err.startswith("interrupted (SIGINT): nothing more was started"), err


def test_cli_plan_against_a_silent_server_fails_naming_discovery(silent: SilentServer, tmp_path: Path) -> None:
    score = _score_file(tmp_path, write_kubeconfig(tmp_path / "config", silent.url), 0.5)
    process = _plan(score)
    _, err = process.communicate(timeout=GUARD_S)
    assert process.returncode == 1, err
    assert f"Kubernetes API at {silent.url}: discovery did not answer within 0.5 s (4 attempts)" in err
    assert "Traceback" not in err
