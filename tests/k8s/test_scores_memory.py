"""The Kubernetes scores against an in-memory K8sClient: validation, diffs and idempotency as properties."""

from __future__ import annotations

import builtins
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capabilities.errors import K8sApiError
from harmony_py import Maestro, ScoreState, ScoreValueError
from harmony_py.scores import K8sDeploymentScore, K8sResourceScore, ManifestError, NamespaceScore
from harmony_py.scores.k8s_manifests import without_dropped
from harmony_py.values import ChangeAction

from .memory_client import InMemoryK8sApi, InMemoryK8sClient

names = st.text(alphabet="abcdefgh0123", min_size=1, max_size=8).map(lambda s: "n" + s)
values = st.text(alphabet="abcdefghij0123456789 -_", max_size=12)
string_maps = st.dictionaries(names, values, max_size=4)


@st.composite
def configmaps(draw: st.DrawFn) -> list[dict[str, Any]]:
    # Up to 7: from 5 of a kind in a namespace the plan lists them instead of reading each.
    chosen = draw(st.lists(names, min_size=1, max_size=7, unique=True))
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": draw(string_maps)},
            "data": draw(string_maps),
        }
        for name in chosen
    ]


def states(report: Any) -> list[ScoreState]:
    return [r.state for r in report.scores]


@settings(max_examples=40, deadline=None)
@given(first=configmaps(), second=configmaps())
def test_apply_converges_and_the_second_apply_is_noop(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> None:
    _converges(first, second, dry_run=True)


@settings(max_examples=15, deadline=None)
@given(first=configmaps(), second=configmaps())
def test_local_comparison_converges_and_the_second_apply_is_noop(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> None:
    # Without a server-side dry run: fields this manager applied before and
    # dropped now are found through the object's managedFields.
    _converges(first, second, dry_run=False)


def test_local_comparison_sees_a_dropped_field() -> None:
    first = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n0", "namespace": "default", "labels": {}}, "data": {"n0": ""}}]
    second = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n0", "namespace": "default", "labels": {}}, "data": {}}]
    _converges(first, second, dry_run=False)


async def test_local_plan_shows_a_dropped_field_as_removed() -> None:
    client = InMemoryK8sClient(dry_run_supported=False)
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"team": "a"}}, "data": {"a": "1", "b": "2"}}
    await Maestro(client).add(K8sResourceScore(manifest)).apply()
    dropped = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    [change] = (await Maestro(client).add(K8sResourceScore(dropped)).plan()).scores[0].changes
    assert change.summary == "update ConfigMap default/c: data.b: removed, metadata.labels: removed"


class CountingApi(InMemoryK8sApi):
    """Counts reads; ``may_list=False`` refuses lists as RBAC can while allowing gets."""

    def __init__(self, *, may_list: bool = True) -> None:
        super().__init__()
        self.may_list = may_list
        self.gets = 0
        self.lists = 0

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self.gets += 1
        return await super().get(api_version, kind, name, namespace)

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        self.lists += 1
        if not self.may_list:
            raise K8sApiError("configmaps is forbidden: cannot list", status=403, reason="Forbidden")
        return await super().list(api_version, kind, namespace, label_selector)


def many_configmaps(count: int, value: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "shop"}, "data": {"v": value}}
        for i in range(count)
    ]


@pytest.mark.parametrize("may_list", [True, False], ids=["one list", "list forbidden: one read each"])
async def test_many_objects_of_a_kind_are_read_with_one_list(may_list: bool) -> None:
    api = CountingApi(may_list=may_list)
    client = InMemoryK8sClient(api=api)
    assert states(await Maestro(client).add(K8sResourceScore(many_configmaps(6, "1"))).apply()) == [ScoreState.CHANGED]
    # Two observations, each with one list (or one read per object): the apply's, then the engine's verify.
    assert (api.gets, api.lists) == ((0, 2) if may_list else (12, 2))
    changed = many_configmaps(6, "1")
    changed[2]["data"] = {"v": "2"}
    [change] = (await Maestro(client).add(K8sResourceScore(changed)).plan()).scores[0].changes
    assert change.summary == "update ConfigMap shop/c2: data.v: '1' -> '2'"
    assert states(await Maestro(client).add(K8sResourceScore(changed)).apply()) == [ScoreState.CHANGED]
    assert states(await Maestro(client).add(K8sResourceScore(changed)).apply()) == [ScoreState.UNCHANGED]


def test_a_dropped_field_another_manager_also_owns_is_kept() -> None:
    live = {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2", "c": "3"}}
    ours: dict[str, Any] = {"f:data": {".": {}, "f:a": {}, "f:b": {}, "f:c": {}}}
    theirs: dict[str, Any] = {"f:data": {"f:b": {}}}
    assert without_dropped(live, ours, {"metadata": {"name": "c"}, "data": {"a": "1"}}, [theirs])["data"] == {"a": "1", "b": "2"}


def _converges(first: list[dict[str, Any]], second: list[dict[str, Any]], *, dry_run: bool) -> None:
    client = InMemoryK8sClient(dry_run_supported=dry_run)

    async def run() -> None:
        for manifests in (first, second):
            applied = await Maestro(client).add(K8sResourceScore(manifests)).apply()
            assert states(applied)[0] in (ScoreState.CHANGED, ScoreState.UNCHANGED)
            writes = client.api.writes
            assert states(await Maestro(client).add(K8sResourceScore(manifests)).plan()) == [ScoreState.UNCHANGED]
            assert states(await Maestro(client).add(K8sResourceScore(manifests)).apply()) == [ScoreState.UNCHANGED]
            assert client.api.writes == writes
            for manifest in manifests:
                live = await client.k8s_client().get("v1", "ConfigMap", manifest["metadata"]["name"], "default")
                assert live is not None and live["data"] == manifest["data"]

    anyio.run(run)


@settings(max_examples=25, deadline=None)
@given(namespace=names, labels=string_maps, quota=st.none() | st.dictionaries(st.sampled_from(["pods", "services", "requests.cpu"]), st.sampled_from(["1", "10", "2Gi"]), min_size=1))
def test_namespace_score_is_idempotent(namespace: str, labels: dict[str, str], quota: dict[str, str] | None) -> None:
    client = InMemoryK8sClient()
    score = NamespaceScore(namespace, labels, quota)

    async def run() -> None:
        assert states(await Maestro(client).add(score).apply()) == [ScoreState.CHANGED]
        assert states(await Maestro(client).add(score).plan()) == [ScoreState.UNCHANGED]
        assert states(await Maestro(client).add(score).apply()) == [ScoreState.UNCHANGED]

    anyio.run(run)
    assert (client.api.objects.get(("v1", "ResourceQuota", namespace, f"{namespace}-quota")) is not None) == (quota is not None)


@settings(max_examples=25, deadline=None)
@given(replicas=st.integers(0, 5), port=st.integers(1, 65535), env=st.dictionaries(st.text(alphabet="ABCDE_", min_size=1, max_size=6).map(lambda s: "V" + s), values, max_size=3))
def test_deployment_score_is_idempotent(replicas: int, port: int, env: dict[str, str]) -> None:
    client = InMemoryK8sClient()
    score = K8sDeploymentScore("web", "shop", "nginx:1.27", replicas=replicas, port=port, env=env)

    async def run() -> None:
        assert states(await Maestro(client).add(score).apply()) == [ScoreState.CHANGED]
        assert states(await Maestro(client).add(score).plan()) == [ScoreState.UNCHANGED]
        assert states(await Maestro(client).add(score).apply()) == [ScoreState.UNCHANGED]

    anyio.run(run)


async def test_local_comparison_when_the_server_has_no_dry_run() -> None:
    client = InMemoryK8sClient(dry_run_supported=False)
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    await Maestro(client).add(K8sResourceScore(manifest)).apply()
    plan = await Maestro(client).add(K8sResourceScore({**manifest, "data": {"a": "2"}})).plan()
    [change] = plan.scores[0].changes
    assert change.action is ChangeAction.UPDATE and "data.a: '1' -> '2'" in change.summary


async def test_a_change_made_behind_the_scores_back_is_planned_back() -> None:
    client = InMemoryK8sClient()
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}}
    await Maestro(client).add(K8sResourceScore(manifest)).apply()
    client.api.put({**manifest, "data": {"a": "edited"}})
    plan = await Maestro(client).add(K8sResourceScore(manifest)).plan()
    assert plan.scores[0].changes[0].summary == "update ConfigMap default/c: data.a: 'edited' -> '1'"


async def test_deployment_score_fails_when_the_rollout_does_not_complete() -> None:
    client = InMemoryK8sClient(ready=False)
    report = await Maestro(client).add(K8sDeploymentScore("web", "shop", "nginx:1.27", timeout_s=1)).apply()
    assert report.scores[0].state is ScoreState.FAILED
    assert "rollout did not complete" in report.scores[0].message


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ({"kind": "ConfigMap", "metadata": {"name": "c"}}, "manifest 1 (ConfigMap c): missing apiVersion"),
        ({"apiVersion": "v1", "metadata": {"name": "c"}}, "manifest 1 (? c): missing kind"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "manifest 1 (ConfigMap ?): missing metadata"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "missing metadata.name"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "Bad_NS"}}, "metadata.namespace must be a DNS label"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": 1}}}, "metadata.labels must map strings to strings"),
        ("kind: [unclosed", "invalid YAML"),
        ("- just\n- a list\n", "a YAML document must be a mapping"),
        ("", "no manifests given"),
        ([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}] * 2, "manifest 2 (ConfigMap c): the same object as manifest 1"),
    ],
)
def test_bad_manifests_are_reported_when_the_score_is_built(source: Any, problem: str) -> None:
    with pytest.raises(ManifestError, match="invalid manifests") as caught:
        K8sResourceScore(source)
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_every_bad_object_is_reported_at_once() -> None:
    yaml_text = "apiVersion: v1\nkind: ConfigMap\n---\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n"
    with pytest.raises(ManifestError) as caught:
        K8sResourceScore(yaml_text)
    assert len(caught.value.problems) == 2


def test_yaml_lists_and_multiple_documents_are_expanded() -> None:
    yaml_text = (
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n---\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    )
    assert [o["metadata"]["name"] for o in K8sResourceScore(yaml_text).objects] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: NamespaceScore("Not_A_Label"), "NamespaceScore.namespace must be a DNS label"),
        (lambda: NamespaceScore("ok", quota={}), "quota must name at least one limit"),
        (lambda: K8sDeploymentScore("web", "shop", "nginx", replicas=-1), "replicas must be a non-negative int"),
        (lambda: K8sDeploymentScore("web", "shop", "nginx", port=70000), "port must be a port number between 1 and 65535"),
        (lambda: K8sDeploymentScore("web", "shop", "has space"), "image must be an image reference"),
        (lambda: K8sDeploymentScore("web", "shop", "nginx", health_path="healthz"), "health_path must start with '/'"),
        (lambda: K8sResourceScore({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, field_manager=""), "field_manager"),
    ],
)
def test_bad_score_values_fail_clearly(build: Any, message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        build()


def _config_map(name: str, namespace: str = "default", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


async def test_prune_deletes_what_left_the_manifests_then_noop() -> None:
    client = InMemoryK8sClient()
    client.api.put(_config_map("unrelated", a="1"))
    first = K8sResourceScore([_config_map("a", a="1"), _config_map("b", namespace="shop", b="2")], applyset="web", prune=True)
    assert states(await Maestro(client).add(first).apply()) == [ScoreState.CHANGED]
    live = await client.k8s_client().get("v1", "ConfigMap", "a", "default")
    assert live is not None and live["metadata"]["labels"] == {"harmony.dev/applyset": "web"}

    second = K8sResourceScore([_config_map("a", a="1")], applyset="web", prune=True)
    [change] = (await Maestro(client).add(second).plan()).scores[0].changes
    assert (change.action, change.summary) == (ChangeAction.DELETE, "delete ConfigMap shop/b (no longer in the manifests of applyset web)")
    assert states(await Maestro(client).add(second).apply()) == [ScoreState.CHANGED]
    assert await client.k8s_client().get("v1", "ConfigMap", "b", "shop") is None
    assert await client.k8s_client().get("v1", "ConfigMap", "unrelated", "default") is not None
    assert states(await Maestro(client).add(second).plan()) == [ScoreState.UNCHANGED]
    assert states(await Maestro(client).add(second).apply()) == [ScoreState.UNCHANGED]


async def test_prune_finds_a_kind_removed_entirely_through_prune_kinds() -> None:
    client = InMemoryK8sClient()
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {}}
    await Maestro(client).add(K8sResourceScore([_config_map("a"), secret], applyset="web")).apply()
    without = [_config_map("a")]
    assert states(await Maestro(client).add(K8sResourceScore(without, applyset="web", prune=True)).plan()) == [ScoreState.UNCHANGED]
    pruning = K8sResourceScore(without, applyset="web", prune=True, prune_kinds=("v1/Secret",))
    assert [c.target for c in (await Maestro(client).add(pruning).plan()).scores[0].changes] == ["Secret default/s"]
    await Maestro(client).add(pruning).apply()
    assert await client.k8s_client().get("v1", "Secret", "s") is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: K8sResourceScore(_config_map("a"), prune=True), r"prune=True\) needs applyset"),
        (lambda: K8sResourceScore(_config_map("a"), applyset="no spaces"), "applyset must be a label value"),
        (lambda: K8sResourceScore(_config_map("a"), applyset="web", prune=True, prune_kinds=("Secret",)), r"prune_kinds\[0\] must be <apiVersion>/<Kind>"),
    ],
)
def test_bad_pruning_values_fail_clearly(build: Any, message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        build()


@settings(max_examples=15, deadline=None)
@given(first=configmaps(), second=configmaps(), dry_run=st.booleans())
def test_pruning_converges_to_exactly_the_manifests(first: list[dict[str, Any]], second: list[dict[str, Any]], dry_run: bool) -> None:
    client = InMemoryK8sClient(dry_run_supported=dry_run)

    async def run() -> None:
        for manifests in (first, second):
            score = K8sResourceScore(manifests, applyset="set", prune=True)
            assert states(await Maestro(client).add(score).apply())[0] in (ScoreState.CHANGED, ScoreState.UNCHANGED)
            writes = client.api.writes
            assert states(await Maestro(client).add(score).plan()) == [ScoreState.UNCHANGED]
            assert states(await Maestro(client).add(score).apply()) == [ScoreState.UNCHANGED]
            assert client.api.writes == writes
            live = await client.k8s_client().list("v1", "ConfigMap", None, "harmony.dev/applyset=set")
            assert sorted(o["metadata"]["name"] for o in live) == sorted(m["metadata"]["name"] for m in manifests)

    anyio.run(run)
