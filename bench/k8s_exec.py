"""Benchmark: the cost of ``K8sAnywhereTopology.k8s_client().exec``, first call and steady state.

Not a test. Runs against the emulated API server of tests/k8s with its toy
kubelet (each exec runs ``true`` as a local process), and also measures, in a
fresh interpreter, what importing ``kubernetes.client.CoreV1Api`` costs (the
path ``kubernetes.stream.stream`` needs, which the client's exec avoids).

    python bench/k8s_exec.py [--calls 50]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.k8s.harness import EmulatorThread  # noqa: E402
from topologies import K8sAnywhereTopology  # noqa: E402

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tool-0", "namespace": "default"}, "status": {"phase": "Running"}}


def core_v1_import_s() -> float:
    code = "import time, kubernetes.client as c; t = time.perf_counter(); c.CoreV1Api; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    calls = parser.parse_args().calls
    with EmulatorThread(keep_requests=False) as server:

        def setup() -> None:
            server.api.exec_locally = True
            server.api.put_object("", "v1", "pods", "default", POD)

        server.call(setup)
        kubeconfig = server.write_kubeconfig(Path(tempfile.mkdtemp()) / "kubeconfig")
        topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig))

        async def run() -> list[float]:
            await topology.ensure_ready()  # discovery is not what is measured
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                result = await topology.k8s_client().exec("tool-0", ["true"])
                times.append(time.perf_counter() - started)
                assert result.ok
            return times

        times = anyio.run(run)
    print(f"exec: first {times[0] * 1000:.1f} ms, median {statistics.median(times[1:]) * 1000:.1f} ms over {calls - 1}")
    print(f"importing CoreV1Api (avoided): {core_v1_import_s():.2f} s")


if __name__ == "__main__":
    main()
