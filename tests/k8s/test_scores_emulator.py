"""The Kubernetes scores through the Maestro, against the emulated API server over HTTP."""

from __future__ import annotations

import json

import pytest

from harmony_py import Maestro, MissingCapabilityError, ScoreState
from harmony_py.values import ChangeAction
from harmony_py.scores import K8sDeploymentScore, K8sResourceScore, NamespaceScore
from topologies import K8sAnywhereTopology, LocalhostTopology

from .harness import EmulatorThread

APP_YAML = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: shop
  labels: {app: shop}
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
  namespace: shop
stringData:
  password: s3cr3t-value
"""


async def test_apply_twice_is_noop_and_plan_after_apply_is_empty(topology: K8sAnywhereTopology) -> None:
    scores = (NamespaceScore("shop", {"team": "web"}, quota={"pods": "10"}), K8sResourceScore(APP_YAML))
    first = await Maestro(topology).add(*scores).apply()
    assert [r.state for r in first.scores] == [ScoreState.CHANGED, ScoreState.CHANGED], first
    assert {c.action for r in first.scores for c in r.changes} == {ChangeAction.CREATE}
    plan = await Maestro(topology).add(*scores).plan()
    assert [r.state for r in plan.scores] == [ScoreState.UNCHANGED, ScoreState.UNCHANGED]
    second = await Maestro(topology).add(*scores).apply()
    assert [r.state for r in second.scores] == [ScoreState.UNCHANGED, ScoreState.UNCHANGED]


async def test_plan_mutates_nothing_and_lists_each_object(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    plan = await Maestro(topology).add(NamespaceScore("shop"), K8sResourceScore(APP_YAML)).plan()
    targets = [c.target for r in plan.scores for c in r.changes]
    assert targets == ["Namespace shop", "ConfigMap shop/app-config", "Secret shop/app-secret"]
    assert server.call(lambda: server.api.find("Namespace", "shop")) is None


async def test_update_shows_field_diff_from_the_server_dry_run(topology: K8sAnywhereTopology) -> None:
    await Maestro(topology).add(NamespaceScore("shop"), K8sResourceScore(APP_YAML)).apply()
    changed = APP_YAML.replace("greeting: hello", "greeting: bonjour")
    plan = await Maestro(topology).add(K8sResourceScore(changed)).plan()
    [change] = plan.scores[0].changes
    assert change.action is ChangeAction.UPDATE
    assert change.summary == "update ConfigMap shop/app-config: data.greeting: 'hello' -> 'bonjour'"
    assert change.diff is not None and "-  greeting: hello" in change.diff and "+  greeting: bonjour" in change.diff
    applied = await Maestro(topology).add(K8sResourceScore(changed)).apply()
    assert applied.scores[0].state is ScoreState.CHANGED
    again = await Maestro(topology).add(K8sResourceScore(changed)).plan()
    assert again.scores[0].state is ScoreState.UNCHANGED


async def test_secret_values_never_reach_plans_or_reports(topology: K8sAnywhereTopology) -> None:
    await Maestro(topology).add(NamespaceScore("shop")).apply()
    created = await Maestro(topology).add(K8sResourceScore(APP_YAML)).apply()
    changed = APP_YAML.replace("s3cr3t-value", "other-s3cr3t")
    plan = await Maestro(topology).add(K8sResourceScore(changed)).plan()
    dumped = json.dumps([repr(r) for r in (*created.scores, *plan.scores)])
    assert "s3cr3t" not in dumped
    assert "(hidden, changed)" in dumped


async def test_unknown_kinds_are_all_named_before_anything_is_sent(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    manifests = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fine"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "g"}},
    ]
    report = await Maestro(topology).add(K8sResourceScore(manifests)).apply()
    [failed] = report.scores
    assert failed.state is ScoreState.FAILED
    assert "kind Widget in apiVersion example.com/v1" in failed.message and "kind Gadget in apiVersion v1" in failed.message
    assert server.call(lambda: server.api.find("ConfigMap", "fine")) is None


async def test_deployment_rolls_out_and_is_noop_the_second_time(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    score = K8sDeploymentScore("web", "shop", "nginx:1.27", replicas=3, port=8080, env={"MODE": "prod"}, health_path="/ready")
    first = await Maestro(topology).add(NamespaceScore("shop"), score).apply()
    assert first.scores[1].state is ScoreState.CHANGED, first.scores[1].message
    assert "rolled out 3 replica(s)" in first.scores[1].message
    deployment = server.call(lambda: server.api.find("Deployment", "web", "shop"))
    assert deployment is not None
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["env"] == [{"name": "MODE", "value": "prod"}]
    assert server.call(lambda: server.api.find("Service", "web", "shop")) is not None
    second = await Maestro(topology).add(NamespaceScore("shop"), score).apply()
    assert [r.state for r in second.scores] == [ScoreState.UNCHANGED, ScoreState.UNCHANGED]


async def test_deployment_that_does_not_roll_out_fails_with_pod_reasons(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    server.call(lambda: setattr(server.api, "auto_ready", False))
    await Maestro(topology).add(NamespaceScore("shop")).apply()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app.kubernetes.io/name": "web"}},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "web", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
    }
    server.call(lambda: server.api.put_object("", "v1", "pods", "shop", pod))
    score = K8sDeploymentScore("web", "shop", "nginx:1.27", timeout_s=0.5)
    report = await Maestro(topology).add(score).apply()
    [result] = report.scores
    assert result.state is ScoreState.FAILED
    assert "rollout did not complete" in result.message and "pod web-1: web: CrashLoopBackOff" in result.message
    # The objects were applied; re-running converges without re-sending them, and still reports the stuck rollout.
    again = await Maestro(topology).add(score).apply()
    assert again.scores[0].state is ScoreState.FAILED and not again.scores[0].changes


async def test_another_managers_fields_fail_the_apply_clearly(topology: K8sAnywhereTopology) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned"}, "data": {"k": "theirs"}}
    await topology.k8s_client().apply(manifest, field_manager="kubectl")
    ours = {**manifest, "data": {"k": "ours"}}
    report = await Maestro(topology).add(K8sResourceScore(ours)).apply()
    assert report.scores[0].state is ScoreState.FAILED
    assert "conflict" in report.scores[0].message and "force_conflicts=True" in report.scores[0].message
    forced = await Maestro(topology).add(K8sResourceScore(ours, force_conflicts=True)).apply()
    assert forced.scores[0].state is ScoreState.CHANGED


async def test_k8s_score_on_a_topology_without_k8s_client_is_refused_at_run_time() -> None:
    maestro = Maestro(LocalhostTopology()).add(NamespaceScore("shop"))  # type: ignore[arg-type]
    with pytest.raises(MissingCapabilityError, match="NamespaceScore requires capability K8sClient.*missing k8s_client"):
        maestro.check_capabilities()


async def test_prune_over_http_deletes_only_the_applyset_objects_left_out(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    await Maestro(topology).add(NamespaceScore("shop")).apply()
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": "shop"}, "data": {}}
    await Maestro(topology).add(K8sResourceScore(other)).apply()
    both = K8sResourceScore(APP_YAML, applyset="shop-app", prune=True)
    assert [r.state for r in (await Maestro(topology).add(both).apply()).scores] == [ScoreState.CHANGED]
    config_only = K8sResourceScore(APP_YAML.split("---")[0], applyset="shop-app", prune=True, prune_kinds=("v1/Secret",))
    plan = await Maestro(topology).add(config_only).plan()
    assert [(c.action, c.target) for c in plan.scores[0].changes] == [(ChangeAction.DELETE, "Secret shop/app-secret")]
    assert [r.state for r in (await Maestro(topology).add(config_only).apply()).scores] == [ScoreState.CHANGED]
    assert server.call(lambda: server.api.find("Secret", "app-secret", "shop")) is None
    assert server.call(lambda: server.api.find("ConfigMap", "other", "shop")) is not None
    assert [r.state for r in (await Maestro(topology).add(config_only).apply()).scores] == [ScoreState.UNCHANGED]
