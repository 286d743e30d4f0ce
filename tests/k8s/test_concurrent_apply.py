"""Many objects through K8sResourceScore against the emulated API server: waves, bound, errors, no-change.

What the requests were is read from the emulator's request history (the HTTP
requests that reached it), not from the client.
"""

from __future__ import annotations

from typing import Any

from harmony_py import Maestro, ScoreState
from harmony_py.scores import K8sResourceScore, NamespaceScore
from topologies import K8sAnywhereTopology

from .harness import EmulatorThread


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
