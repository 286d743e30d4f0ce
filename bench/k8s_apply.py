"""Benchmark: plan and apply of 200 manifests, harmony_py side by side with kubectl.

Not a test. Runs against the emulated API server of tests/k8s (kmock with the
test-side subclass, on its own thread), and against a real cluster too when
KUBECONFIG is set (``--real``). Each tool works in its own namespace so both
really create their objects; timings are medians of ``--rounds`` rounds.

    python bench/k8s_apply.py [--objects 200] [--rounds 3] [--concurrent-requests N] [--real]

Each round prints the machine's load average (this machine is shared), and the
report the ratio harmony_py/kubectl per step, medians and per round.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project and its tests/ package

from harmony_py import Maestro, ScoreState
from harmony_py.scores import K8sResourceScore, NamespaceScore
from topologies import K8sAnywhereTopology


def manifests(namespace: str, count: int) -> list[dict[str, Any]]:
    """Half ConfigMaps, a quarter Services, a quarter Deployments (replicas 0: nothing to schedule)."""
    found: list[dict[str, Any]] = []
    for index in range(count):
        name = f"obj-{index:03d}"
        meta = {"name": name, "namespace": namespace, "labels": {"bench": "k8s-apply", "index": str(index)}}
        if index % 4 in (0, 1):
            found.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"index": str(index), "text": "x" * 200}})
        elif index % 4 == 2:
            found.append({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                          "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
        else:
            labels = {"app": name}
            found.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
                "replicas": 0, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
    return found


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


class Harmony:
    def __init__(self, kubeconfig: Path | None, context: str | None, concurrent_requests: int | None = None) -> None:
        self.kubeconfig, self.context = kubeconfig, context
        self.concurrent_requests = concurrent_requests

    def topology(self) -> K8sAnywhereTopology:
        # A fresh topology per step: discovery is paid each time, as kubectl pays it per run.
        kubeconfig = str(self.kubeconfig) if self.kubeconfig else None
        if self.concurrent_requests is None:
            return K8sAnywhereTopology(kubeconfig=kubeconfig, context=self.context)
        return K8sAnywhereTopology(kubeconfig=kubeconfig, context=self.context, concurrent_requests=self.concurrent_requests)

    def plan(self, score: K8sResourceScore, expect_changes: bool) -> None:
        report = anyio.run(Maestro(self.topology()).add(score).plan)
        assert report.has_changes == expect_changes, report

    def apply(self, score: K8sResourceScore, expect: ScoreState) -> None:
        report = anyio.run(Maestro(self.topology()).add(score).apply)
        assert report.scores[0].state is expect, report.scores[0].message


class Kubectl:
    def __init__(self, kubeconfig: Path | None, context: str | None, cache: Path) -> None:
        self.base = ["kubectl", "--cache-dir", str(cache)]
        if kubeconfig:
            self.base += ["--kubeconfig", str(kubeconfig)]
        if context:
            self.base += ["--context", context]

    def run(self, *args: str, ok: tuple[int, ...] = (0,)) -> None:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=600)
        if done.returncode not in ok:
            raise RuntimeError(f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")

    def apply(self, path: Path) -> None:
        self.run("apply", "--server-side", "--field-manager", "kubectl-bench", "--validate=false", "-f", str(path))

    def diff(self, path: Path) -> None:
        # Exit 1 means "differences found": both are normal outcomes of a plan.
        self.run("diff", "--server-side", "--field-manager", "kubectl-bench", "-f", str(path), ok=(0, 1))


def one_round(harmony: Harmony, kubectl: Kubectl | None, workdir: Path, count: int) -> dict[str, float]:
    suffix = secrets.token_hex(3)
    ours, theirs = f"bench-h-{suffix}", f"bench-k-{suffix}"
    anyio.run(Maestro(harmony.topology()).add(NamespaceScore(ours), NamespaceScore(theirs)).apply)
    score = K8sResourceScore(manifests(ours, count))
    result = {
        "harmony plan (all new)": timed(lambda: harmony.plan(score, True)),
        "harmony apply (create)": timed(lambda: harmony.apply(score, ScoreState.CHANGED)),
        "harmony plan (no change)": timed(lambda: harmony.plan(score, False)),
        "harmony apply (no change)": timed(lambda: harmony.apply(score, ScoreState.UNCHANGED)),
    }
    if kubectl is not None:
        path = workdir / f"{theirs}.yaml"
        path.write_text(yaml.safe_dump_all(manifests(theirs, count)))
        result["kubectl diff --server-side (all new)"] = timed(lambda: kubectl.diff(path))
        result["kubectl apply --server-side (create)"] = timed(lambda: kubectl.apply(path))
        result["kubectl diff --server-side (no change)"] = timed(lambda: kubectl.diff(path))
        result["kubectl apply --server-side (no change)"] = timed(lambda: kubectl.apply(path))
    for namespace in (ours, theirs):
        anyio.run(harmony.topology().k8s_client().delete, "v1", "Namespace", namespace)
    load = os.getloadavg()[0]
    shown = ", ".join(f"{key.split(' ', 1)[1]} {value:.2f}" for key, value in result.items() if key.startswith("harmony"))
    print(f"round: load {load:.2f}; harmony {shown}; " + ", ".join(f"{k} {v:.2f}" for k, v in result.items() if k.startswith("kubectl")), flush=True)
    return result


def report(title: str, rounds: list[dict[str, float]]) -> None:
    print(f"\n{title}: median of {len(rounds)} rounds")
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    for key, value in medians.items():
        print(f"  {key:42s} {value:7.2f} s")
    pairs = [("plan (all new)", "diff --server-side (all new)"), ("apply (create)", "apply --server-side (create)"),
             ("plan (no change)", "diff --server-side (no change)"), ("apply (no change)", "apply --server-side (no change)")]
    for ours, theirs in pairs:
        if f"kubectl {theirs}" in medians:
            ratio = medians[f"harmony {ours}"] / medians[f"kubectl {theirs}"]
            each = " ".join(f"{r[f'harmony {ours}'] / r[f'kubectl {theirs}']:.2f}" for r in rounds)
            print(f"  ratio harmony/kubectl, {ours:22s} {ratio:5.2f}   (rounds: {each})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--real", action="store_true", help="also against the cluster KUBECONFIG points at")
    parser.add_argument("--concurrent-requests", type=int, default=None, help="K8sAnywhereTopology(concurrent_requests=...)")
    args = parser.parse_args()
    have_kubectl = shutil.which("kubectl") is not None
    if not have_kubectl:
        print("kubectl not found: harmony_py only")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = workdir / "kubeconfig"
        # The server gets its own process, as a real API server would: no GIL shared with the client.
        with subprocess.Popen([sys.executable, "-m", "tests.k8s.serve", str(config)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:
            assert server.stdout is not None and server.stdin is not None
            server.stdout.readline()
            kubectl = Kubectl(config, None, workdir / "kubectl-cache") if have_kubectl else None
            rounds = [one_round(Harmony(config, None, args.concurrent_requests), kubectl, workdir, args.objects) for _ in range(args.rounds)]
            report(f"emulator (kmock 0.8 + test subclass, own process), {args.objects} manifests", rounds)
            server.stdin.close()
        if args.real:
            if not os.environ.get("KUBECONFIG"):
                print("\nreal cluster: skipped, KUBECONFIG is not set")
                return
            context = os.environ.get("HARMONY_K8S_CONTEXT")
            kubectl = Kubectl(None, context, workdir / "kubectl-cache-real") if have_kubectl else None
            rounds = [one_round(Harmony(None, context, args.concurrent_requests), kubectl, workdir, args.objects) for _ in range(args.rounds)]
            report(f"real cluster, {args.objects} manifests", rounds)


if __name__ == "__main__":
    main()
