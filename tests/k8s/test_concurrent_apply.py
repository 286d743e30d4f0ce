"""Many objects through K8sResourceScore against the emulated API server: waves, bound, errors, no-change.

What the requests were is read from the emulator's request history (the HTTP
requests that reached it), not from the client.
"""

from __future__ import annotations

import asyncio
import threading
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import kmock

from harmony_py import Maestro, ScoreState
from harmony_py.outcome import InterpretStatus
from harmony_py.scores import K8sResourceScore, NamespaceScore
from harmony_py.scores.k8s_manifests import comparable
from topologies import K8sAnywhereTopology

from .emulator import client_gone
from .harness import EmulatorThread


OBJECTS = 64


def _objects(namespace: str, count: int) -> list[dict[str, Any]]:
    """ConfigMaps, Services and Deployments (replicas 0), as bench/k8s_apply.py makes them."""
    found: list[dict[str, Any]] = []
    for index in range(count):
        name = f"obj-{index:03d}"
        meta = {"name": name, "namespace": namespace, "labels": {"index": str(index)}}
        if index % 4 in (0, 1):
            found.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"index": str(index)}})
        elif index % 4 == 2:
            found.append({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                          "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
        else:
            labels = {"app": name}
            found.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
                "replicas": 0, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
    return found


def _requests(server: EmulatorThread) -> list[tuple[str, str, dict[str, str]]]:
    """(METHOD, path, query) of every request the emulator has answered so far."""
    return server.call(lambda: [(str(r.method).rsplit(".", 1)[-1].upper(), r.url.path, dict(r.params)) for r in server.api])


async def test_reapply_of_objects_as_declared_sends_no_dry_run_and_no_patch(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    score = K8sResourceScore(_objects("shop", 24))
    first = await Maestro(topology).add(NamespaceScore("shop"), score).apply()
    assert [r.state for r in first.scores] == [ScoreState.CHANGED, ScoreState.CHANGED], first
    before = len(_requests(server))
    plan = await Maestro(topology).add(score).plan()
    again = await Maestro(topology).add(score).apply()
    assert plan.scores[0].state is ScoreState.UNCHANGED and not plan.has_changes
    assert again.scores[0].state is ScoreState.UNCHANGED
    sent = _requests(server)[before:]
    assert [r for r in sent if r[0] not in ("GET",)] == []
    # One list per kind and namespace, for the plan and for the apply: no read, no dry run per object.
    assert sorted(path for _, path, _ in sent if "/namespaces/shop/" in path) == sorted(
        ["/api/v1/namespaces/shop/configmaps", "/api/v1/namespaces/shop/services", "/apis/apps/v1/namespaces/shop/deployments"] * 2
    )


async def test_a_field_changed_behind_our_back_is_still_planned_and_applied(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    score = K8sResourceScore(_objects("shop", 8))
    await Maestro(topology).add(NamespaceScore("shop"), score).apply()
    server.call(lambda: server.api.put_object("", "v1", "configmaps", "shop", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "obj-004", "namespace": "shop", "labels": {"index": "4"}},
        "data": {"index": "edited"}}))  # fmt: skip
    plan = await Maestro(topology).add(score).plan()
    [change] = plan.scores[0].changes
    assert change.summary == "update ConfigMap shop/obj-004: data.index: 'edited' -> '4'"
    applied = await Maestro(topology).add(score).apply()
    assert applied.scores[0].state is ScoreState.CHANGED
    assert [c.target for c in applied.scores[0].changes] == ["ConfigMap shop/obj-004"]
    assert (await Maestro(topology).add(score).plan()).has_changes is False


class _RecordingClient:
    """The topology's client, recording when each apply of an object starts and ends."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.events: list[tuple[str, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def apply(self, manifest: Any, *, field_manager: str, dry_run: bool = False, force_conflicts: bool = False) -> dict[str, Any]:
        if dry_run:
            return dict(await self.inner.apply(manifest, field_manager=field_manager, dry_run=True, force_conflicts=force_conflicts))
        target = f"{manifest['kind']} {manifest['metadata'].get('namespace', '')}/{manifest['metadata']['name']}"
        self.events.append(("start", target))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return dict(await self.inner.apply(manifest, field_manager=field_manager, force_conflicts=force_conflicts))
        finally:
            self.in_flight -= 1
            self.events.append(("end", target))

    def __getattr__(self, name: str) -> Any:
        if name == "apply_all":
            raise AttributeError(name)  # one apply per object, so that each is recorded
        return getattr(self.inner, name)


def _stored(server: EmulatorThread, namespace: str) -> dict[str, dict[str, Any]]:
    """The objects in ``namespace`` as the server keeps them, without what differs between any two applies."""

    def read() -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for key, obj in server.api.store.items():
            if key[3] == namespace:
                kept = comparable(obj)
                kept["metadata"].pop("namespace")
                found[f"{obj['kind']} {key[4]}"] = kept
        return found

    return server.call(read)


async def test_objects_applied_concurrently_are_those_a_one_at_a_time_apply_makes(
    kubeconfig: Path, server: EmulatorThread
) -> None:
    results = {}
    # Four times the bound of 16 at once (bench/k8s_apply.py measures 200; the emulator answers about 6 per second
    # under a full suite's load, so the equivalence is checked on fewer).
    for namespace, bound in (("one-by-one", 1), ("concurrent", 16)):
        topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig), concurrent_requests=bound)
        outcome = await Maestro(topology).add(NamespaceScore(namespace), K8sResourceScore(_objects(namespace, OBJECTS))).apply()
        assert [r.state for r in outcome.scores] == [ScoreState.CHANGED, ScoreState.CHANGED], outcome
        assert len(outcome.scores[1].changes) == OBJECTS
        results[namespace] = _stored(server, namespace)
    assert len(results["concurrent"]) == OBJECTS
    assert results["concurrent"] == results["one-by-one"]
    # In the order the server received them: the Namespace, then the ConfigMaps, then the workloads.
    patches = [path for method, path, _ in _requests(server) if method == "PATCH" and "concurrent" in path]
    assert patches[0] == "/api/v1/namespaces/concurrent"
    last_configmap = max(i for i, path in enumerate(patches) if "/configmaps/" in path)
    first_workload = min(i for i, path in enumerate(patches) if "/services/" in path or "/deployments/" in path)
    assert last_configmap < first_workload


async def test_a_namespaced_object_is_never_sent_before_its_namespace_exists(topology: K8sAnywhereTopology) -> None:
    manifests = [*_objects("shop", 60), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}]
    client = _RecordingClient(topology.k8s_client())
    outcome = await K8sResourceScore(manifests).interpret().apply_with(client)
    assert outcome.status is InterpretStatus.SUCCESS, outcome.message
    namespace_done = client.events.index(("end", "Namespace /shop"))
    assert all(event[0] == "end" or index > namespace_done for index, event in enumerate(client.events) if event[1] != "Namespace /shop")
    # What workloads name (ConfigMaps here) is in place before the workloads are sent.
    last_configmap = max(i for i, (what, target) in enumerate(client.events) if what == "end" and target.startswith("ConfigMap"))
    first_workload = min(i for i, (what, target) in enumerate(client.events) if what == "start" and target.startswith(("Service", "Deployment")))
    assert last_configmap < first_workload
    assert client.most_in_flight > 1  # a wave's objects went out together


async def test_no_more_connections_than_the_bound_are_opened(kubeconfig: Path) -> None:
    topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig), concurrent_requests=4)
    outcome = await Maestro(topology).add(NamespaceScore("shop"), K8sResourceScore(_objects("shop", 120))).apply()
    assert outcome.scores[1].state is ScoreState.CHANGED
    connection = topology.k8s_client()._holder.connection
    assert connection is not None
    pools = connection.dynamic.client.rest_client.pool_manager.pools  # urllib3's pools, one per server
    opened = sum(pools[key].num_connections for key in pools.keys())
    assert 1 < opened <= 4


async def test_failing_objects_are_each_named_and_the_others_applied(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    lost = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": {"a": "b"}}
        for name, namespace in (("stray", "nowhere"), ("lost", "elsewhere"))
    ]
    await Maestro(topology).add(NamespaceScore("shop")).apply()
    outcome = await Maestro(topology).add(K8sResourceScore([*_objects("shop", 40), *lost])).apply()
    [result] = outcome.scores
    assert result.state is ScoreState.FAILED
    assert result.message.startswith("2 objects failed: ")
    assert "ConfigMap stray in namespace nowhere" in result.message and "ConfigMap lost in namespace elsewhere" in result.message
    # The ConfigMaps of the same wave were applied; the wave after it (Services, Deployments) was not sent.
    assert "20 of 42 changes made, 20 not sent (they come after the failed ones)" in result.message
    assert len(result.changes) == 20
    assert len(_stored(server, "shop")) == 20
    # Once the cause is gone, the next apply finishes the job.
    await Maestro(topology).add(NamespaceScore("nowhere"), NamespaceScore("elsewhere")).apply()
    again = await Maestro(topology).add(K8sResourceScore([*_objects("shop", 40), *lost])).apply()
    assert again.scores[0].state is ScoreState.CHANGED and len(again.scores[0].changes) == 22


class _HungPatches:
    """The emulator's ConfigMap PATCHes never answer; ``received`` once one arrived, ``abandoned`` once its client left."""

    def __init__(self, server: EmulatorThread) -> None:
        self.received = threading.Event()
        self.abandoned = threading.Event()
        self.released = threading.Event()

        async def hang(request: Any) -> dict[str, Any]:
            self.received.set()
            raw = request._raw_request  # kmock 0.8 keeps aiohttp's request here
            try:
                while not self.released.is_set() and not client_gone(raw):
                    await asyncio.sleep(0.02)
            finally:
                if not self.released.is_set():
                    self.abandoned.set()
            return {}

        view = server.api[kmock.method.PATCH, kmock.resource("", "v1", "configmaps")]
        server.call(lambda: view << hang)


async def test_cancelling_a_bulk_apply_whose_patches_hang_returns_and_closes_the_requests(
    kubeconfig: Path, server: EmulatorThread
) -> None:
    hung = _HungPatches(server)
    client = K8sAnywhereTopology(kubeconfig=str(kubeconfig), request_timeout_s=600.0, retries=3).k8s_client()
    manifests = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "default"}} for i in range(6)]
    try:
        with anyio.fail_after(60):  # the suite's guard only: far shorter than the request timeout
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as group:
                    group.start_soon(partial(client.apply_all, manifests, field_manager="harmony"))
                    await anyio.to_thread.run_sync(hung.received.wait)
                    scope.cancel()
            assert scope.cancelled_caught
            assert await anyio.to_thread.run_sync(hung.abandoned.wait, 60)
    finally:
        hung.released.set()
