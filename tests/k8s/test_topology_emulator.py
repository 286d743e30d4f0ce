"""K8sAnywhereTopology through HTTP with the official client, against the emulated API server."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import anyio
import kmock
import pytest

from capabilities.errors import K8sApiError, K8sConflictError, K8sNotReadyError, K8sUnknownKindError
from capabilities.k8s import ROLLOUT, K8sClient, K8sPodClient
from harmony_py.capability_check import capability_gaps
from harmony_py.errors import TopologyNotReadyError
from topologies import K8sAnywhereTopology

from .harness import EmulatorThread


def configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "data": data,
    }


def deployment(name: str, replicas: int = 2, namespace: str = "default") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        },
    }


def inject(server: EmulatorThread, method: kmock.method, plural: str, payload: Any, times: int | None = None) -> None:
    group, _, version = ("", "", "v1") if plural in ("configmaps", "pods", "namespaces") else ("apps", "", "v1")
    view = server.api[method, kmock.resource(group, version, plural)]
    server.call(lambda: (view[:times] if times is not None else view) << payload)


def api_error(status: int, reason: str, message: str) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=status, reason=reason, message=message, details={})


def test_topology_provides_k8s_client() -> None:
    assert capability_gaps(K8sAnywhereTopology(), K8sClient) == []
    assert capability_gaps(K8sAnywhereTopology(), K8sPodClient) == []


async def test_one_client_per_topology_object_keeps_its_connection(topology: K8sAnywhereTopology) -> None:
    client = topology.k8s_client()
    assert topology.k8s_client() is client
    assert topology.application_runtime().client is client  # the runtime is built on the same client
    await client.get("v1", "ConfigMap", "absent")
    # An equal topology made elsewhere is another object: its own client, its own connection.
    twin = dataclasses.replace(topology)
    assert twin == topology and twin.k8s_client() is not client


async def test_ensure_ready_reports_server_and_context(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    report = await topology.ensure_ready()
    assert report.facts["server"] == server.url
    assert report.facts["server_version"].startswith("v1.")
    assert report.facts["context"] == "emulator"
    assert report.facts["namespace"] == "default"


async def test_without_any_cluster_the_error_says_how_to_configure_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(TopologyNotReadyError, match="KUBECONFIG"):
        await K8sAnywhereTopology().ensure_ready()


async def test_unknown_context_is_a_clear_error(kubeconfig: Path) -> None:
    with pytest.raises(TopologyNotReadyError, match="nowhere"):
        await K8sAnywhereTopology(kubeconfig=str(kubeconfig), context="nowhere").ensure_ready()


async def test_namespace_of_the_context_is_the_default(server: EmulatorThread, tmp_path: Path) -> None:
    config = server.write_kubeconfig(tmp_path / "ns-config", namespace="team")
    topology = K8sAnywhereTopology(kubeconfig=str(config))
    await topology.k8s_client().apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}, field_manager="t")
    await topology.k8s_client().apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, field_manager="t")
    assert server.call(lambda: server.api.find("ConfigMap", "c", "team")) is not None


async def test_apply_get_update_and_noop(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    assert await topology.k8s_client().get("v1", "ConfigMap", "settings") is None
    created = await topology.k8s_client().apply(configmap("settings", {"a": "1"}), field_manager="harmony")
    assert created["data"] == {"a": "1"} and created["metadata"]["uid"]
    version = created["metadata"]["resourceVersion"]
    again = await topology.k8s_client().apply(configmap("settings", {"a": "1"}), field_manager="harmony")
    assert again["metadata"]["resourceVersion"] == version
    updated = await topology.k8s_client().apply(configmap("settings", {"b": "2"}), field_manager="harmony")
    assert updated["data"] == {"b": "2"}  # a field this manager no longer applies is removed
    assert (await topology.k8s_client().get("v1", "ConfigMap", "settings")) == updated


async def test_dry_run_changes_nothing(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    preview = await topology.k8s_client().apply(configmap("preview", {"a": "1"}), field_manager="harmony", dry_run=True)
    assert preview["data"] == {"a": "1"}
    assert await topology.k8s_client().get("v1", "ConfigMap", "preview") is None


async def test_list_filters_by_label_selector(topology: K8sAnywhereTopology) -> None:
    for name, labels in [("a", {"tier": "web", "env": "prod"}), ("b", {"tier": "db", "env": "prod"}), ("c", {"tier": "web"})]:
        await topology.k8s_client().apply(configmap(name, {}, labels), field_manager="harmony")

    async def names(selector: str | None) -> list[str]:
        return [o["metadata"]["name"] for o in await topology.k8s_client().list("v1", "ConfigMap", "default", selector)]

    assert await names(None) == ["a", "b", "c"]
    assert await names("tier=web") == ["a", "c"]
    assert await names("tier=web,env=prod") == ["a"]
    assert await names("tier!=web") == ["b"]
    assert await names("tier in (db, cache)") == ["b"]
    assert await names("!env") == ["c"]
    items = await topology.k8s_client().list("v1", "ConfigMap", "default", "tier=db")
    assert items[0]["kind"] == "ConfigMap" and items[0]["apiVersion"] == "v1"


async def test_namespaces_are_created_listed_and_deleted(topology: K8sAnywhereTopology) -> None:
    await topology.k8s_client().apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "a"}}}, field_manager="t")
    await topology.k8s_client().apply(configmap("inside", {}, namespace="shop"), field_manager="t")
    assert [n["metadata"]["name"] for n in await topology.k8s_client().list("v1", "Namespace", label_selector="team=a")] == ["shop"]
    assert await topology.k8s_client().delete("v1", "Namespace", "shop") is True
    assert await topology.k8s_client().get("v1", "ConfigMap", "inside", "shop") is None


async def test_objects_need_their_namespace(topology: K8sAnywhereTopology) -> None:
    with pytest.raises(K8sApiError, match='namespaces "nowhere" not found') as caught:
        await topology.k8s_client().apply(configmap("lost", {}, namespace="nowhere"), field_manager="t")
    assert caught.value.status == 404


async def test_delete_reports_whether_something_was_there(topology: K8sAnywhereTopology) -> None:
    await topology.k8s_client().apply(configmap("gone", {}), field_manager="t")
    assert await topology.k8s_client().delete("v1", "ConfigMap", "gone") is True
    assert await topology.k8s_client().delete("v1", "ConfigMap", "gone") is False
    assert await topology.k8s_client().get("v1", "ConfigMap", "gone") is None


async def test_unknown_kind_is_named(topology: K8sAnywhereTopology) -> None:
    with pytest.raises(K8sUnknownKindError, match="kind Widget in apiVersion example.com/v1"):
        await topology.k8s_client().apply({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}, field_manager="t")


async def test_custom_resources_work_once_served(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    server.call(lambda: server.api.declare("example.com/v1/widgets", "Widget", namespaced=True))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}
    assert (await topology.k8s_client().apply(widget, field_manager="t"))["spec"] == {"size": 3}


async def test_watch_sees_existing_objects_then_changes(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    await topology.k8s_client().apply(configmap("first", {}, {"watched": "yes"}), field_manager="t")
    seen: list[tuple[str, str]] = []
    with anyio.fail_after(10):
        async with topology.k8s_client().watch("v1", "ConfigMap", "default", "watched=yes") as events:
            async for event in events:
                seen.append((event.type, event.name))
                if event.name == "first" and event.type == "ADDED":
                    await topology.k8s_client().apply(configmap("ignored", {}, {"watched": "no"}), field_manager="t")
                    await topology.k8s_client().apply(configmap("second", {}, {"watched": "yes"}), field_manager="t")
                    await topology.k8s_client().delete("v1", "ConfigMap", "first")
                if event.type == "DELETED":
                    break
    assert seen == [("ADDED", "first"), ("ADDED", "second"), ("DELETED", "first")]


async def test_watch_reconnects_after_idle_and_stops_promptly(kubeconfig: Path) -> None:
    topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig), watch_idle_s=0.2)
    with anyio.fail_after(10):
        async with topology.k8s_client().watch("v1", "ConfigMap", "default") as events:
            await anyio.sleep(0.5)  # longer than the idle timeout: the watch reconnects meanwhile
            await topology.k8s_client().apply(configmap("late", {}), field_manager="t")
            async for event in events:
                if event.name == "late":
                    break


async def test_wait_for_rollout(topology: K8sAnywhereTopology) -> None:
    await topology.k8s_client().apply(deployment("web"), field_manager="t")
    done = await topology.k8s_client().wait("apps/v1", "Deployment", "web", None, condition=ROLLOUT, timeout_s=10)
    assert done["status"]["availableReplicas"] == 2


async def test_wait_timeout_names_the_pods_and_their_reasons(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    server.call(lambda: setattr(server.api, "auto_ready", False))
    await topology.k8s_client().apply(deployment("stuck", replicas=1), field_manager="t")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stuck-abc", "namespace": "default", "labels": {"app": "stuck"}},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}]},
    }
    server.call(lambda: server.api.put_object("", "v1", "pods", "default", pod))
    with pytest.raises(K8sNotReadyError) as caught:
        await topology.k8s_client().wait("apps/v1", "Deployment", "stuck", "default", condition=ROLLOUT, timeout_s=0.5)
    message = str(caught.value)
    assert "Deployment stuck in namespace default not Rollout after 0.5 s" in message
    assert "pod stuck-abc: c: ImagePullBackOff (no such image)" in message


async def test_wait_for_a_condition_sees_later_status(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    server.call(lambda: setattr(server.api, "auto_ready", False))
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"}, "spec": {"template": {"spec": {}}}}
    await topology.k8s_client().apply(job, field_manager="t")
    key = ("batch", "v1", "jobs", "default", "once")

    async def complete_later() -> None:
        await anyio.sleep(0.2)
        server.call(lambda: server.api.set_status(key, {"conditions": [{"type": "Complete", "status": "True"}]}))

    async with anyio.create_task_group() as group:
        group.start_soon(complete_later)
        done = await topology.k8s_client().wait("batch/v1", "Job", "once", None, condition="Complete", timeout_s=10)
    assert done["status"]["conditions"][0]["type"] == "Complete"


async def test_failed_job_ends_the_wait_at_once(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    server.call(lambda: setattr(server.api, "auto_ready", False))
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bad"}, "spec": {"template": {"spec": {}}}}
    await topology.k8s_client().apply(job, field_manager="t")
    server.call(lambda: server.api.set_status(("batch", "v1", "jobs", "default", "bad"), {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}))
    with pytest.raises(K8sNotReadyError, match="cannot become Complete.*BackoffLimitExceeded"):
        await topology.k8s_client().wait("batch/v1", "Job", "bad", None, condition="Complete", timeout_s=30)


async def test_conflict_between_field_managers(topology: K8sAnywhereTopology) -> None:
    await topology.k8s_client().apply(configmap("shared", {"a": "1"}), field_manager="someone-else")
    with pytest.raises(K8sConflictError, match='conflict with "someone-else": .data.a.*force_conflicts=True') as caught:
        await topology.k8s_client().apply(configmap("shared", {"a": "2"}), field_manager="harmony")
    assert caught.value.status == 409
    taken = await topology.k8s_client().apply(configmap("shared", {"a": "2"}), field_manager="harmony", force_conflicts=True)
    assert taken["data"] == {"a": "2"}


async def test_injected_409_is_reported_not_retried(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    inject(server, kmock.method.PATCH, "configmaps", api_error(409, "Conflict", 'Apply failed with 1 conflict: conflict with "kubectl": .data.a'))
    with pytest.raises(K8sConflictError, match="apply ConfigMap c in namespace default: the API server answered 409 Conflict"):
        await topology.k8s_client().apply(configmap("c", {"a": "1"}), field_manager="harmony")
    patches = [r for r in server.call(lambda: list(server.api)) if r.method == kmock.method.PATCH]
    assert len(patches) == 1


async def test_transient_500_is_retried(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    inject(server, kmock.method.PATCH, "configmaps", api_error(500, "InternalError", "etcdserver: leader changed"), times=2)
    applied = await topology.k8s_client().apply(configmap("c", {"a": "1"}), field_manager="harmony")
    assert applied["data"] == {"a": "1"}


async def test_persistent_500_becomes_a_clear_error(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    inject(server, kmock.method.GET, "configmaps", api_error(500, "InternalError", "etcdserver: request timed out"))
    with pytest.raises(K8sApiError, match=r"read ConfigMap c in namespace default: the API server answered 500 InternalError: etcdserver: request timed out \(still failing after 2 retries\)"):
        await topology.k8s_client().get("v1", "ConfigMap", "c")


async def test_request_timeout_is_retried_then_reported(kubeconfig: Path, server: EmulatorThread) -> None:
    async def slow(request: Any) -> dict[str, Any]:
        await asyncio.sleep(1.0)
        return {}

    inject(server, kmock.method.GET, "configmaps", slow)
    topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig), request_timeout_s=0.2, retries=1)
    with pytest.raises(K8sApiError, match=r"Kubernetes API at http://127\.0\.0\.1:\d+: read ConfigMap c in namespace default did not answer within 0\.2 s \(2 attempts\)"):
        await topology.k8s_client().get("v1", "ConfigMap", "c")


async def test_one_slow_answer_is_absorbed_by_a_retry(kubeconfig: Path, server: EmulatorThread) -> None:
    async def slow(request: Any) -> dict[str, Any]:
        await asyncio.sleep(1.0)
        return {}

    inject(server, kmock.method.GET, "configmaps", slow, times=1)
    topology = K8sAnywhereTopology(kubeconfig=str(kubeconfig), request_timeout_s=0.3, retries=2)
    assert await topology.k8s_client().get("v1", "ConfigMap", "absent") is None


async def test_unreachable_server_fails_ensure_ready_clearly(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    with pytest.raises(TopologyNotReadyError, match=r"Kubernetes API at http://127\.0\.0\.1:9: discovery could not connect: .*Connection refused"):
        await K8sAnywhereTopology(kubeconfig=str(config), retries=0).ensure_ready()
