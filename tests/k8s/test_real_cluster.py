"""The same scenarios against a real cluster: opt-in, runs only when KUBECONFIG is set.

Everything happens in a namespace this module creates (``harmony-test-<random>``)
and deletes afterwards; nothing else in the cluster is touched.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest

from capabilities.k8s import ROLLOUT
from harmony_py import Maestro, ScoreState
from harmony_py.scores import K8sDeploymentScore, K8sResourceScore, NamespaceScore
from topologies.k8s_anywhere import K8sAnywhereTopology

pytestmark = [
    pytest.mark.real_cluster,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="real_cluster tier: KUBECONFIG is not set"),
]


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[K8sAnywhereTopology, str]]:
    topology = K8sAnywhereTopology(context=os.environ.get("HARMONY_K8S_CONTEXT"))
    namespace = f"harmony-test-{secrets.token_hex(4)}"
    try:
        yield topology, namespace
    finally:
        await topology.k8s_delete("v1", "Namespace", namespace)


async def test_apply_plan_noop_on_a_real_cluster(cluster: tuple[K8sAnywhereTopology, str]) -> None:
    topology, namespace = cluster
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": namespace, "labels": {"t": "x"}}, "data": {"a": "1"}}
    scores = (NamespaceScore(namespace, {"purpose": "harmony-test"}, quota={"pods": "5"}), K8sResourceScore(config))
    first = await Maestro(topology).add(*scores).apply()
    assert [r.state for r in first.scores] == [ScoreState.CHANGED, ScoreState.CHANGED], first
    assert [r.state for r in (await Maestro(topology).add(*scores).plan()).scores] == [ScoreState.UNCHANGED] * 2
    assert [r.state for r in (await Maestro(topology).add(*scores).apply()).scores] == [ScoreState.UNCHANGED] * 2
    assert [o["metadata"]["name"] for o in await topology.k8s_list("v1", "ConfigMap", namespace, "t=x")] == ["c"]
    changed = K8sResourceScore({**config, "data": {"a": "2"}})
    [change] = (await Maestro(topology).add(changed).plan()).scores[0].changes
    assert "data.a: '1' -> '2'" in change.summary


async def test_deployment_rollout_on_a_real_cluster(cluster: tuple[K8sAnywhereTopology, str]) -> None:
    topology, namespace = cluster
    image = os.environ.get("HARMONY_K8S_TEST_IMAGE", "nginx:1.27")
    score = K8sDeploymentScore("web", namespace, image, replicas=1, port=80, health_path="/", timeout_s=180)
    report = await Maestro(topology).add(NamespaceScore(namespace), score).apply()
    assert report.scores[1].state is ScoreState.CHANGED, report.scores[1].message
    await topology.k8s_wait("apps/v1", "Deployment", "web", namespace, condition=ROLLOUT, timeout_s=10)
    stuck = K8sDeploymentScore("stuck", namespace, "harmony.invalid/no-such-image:0", timeout_s=20)
    failed = await Maestro(topology).add(stuck).apply()
    assert failed.scores[0].state is ScoreState.FAILED and "pod stuck-" in failed.scores[0].message
