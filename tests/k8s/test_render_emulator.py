"""Rendered Kubernetes files against what apply creates, on the emulated API server (tests/k8s/harness.py).

One namespace gets the shop the way ``apply`` makes it (the application
runtime through the Maestro, the PostgreSQL server's objects through its
objects step); another gets the rendered files, applied as ``kubectl apply``
would. Every object must be the same in both, but for what render leaves out
on purpose: Secret values and the pod template's secret digest. The files
also load into the official client's models with no field dropped.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from capabilities.postgresql import PgUser
from harmony_py import Maestro, Secret
from harmony_py.graph import build_graph
from harmony_py.render import render
from harmony_py.scores import ApplicationScore, PostgreSQLScore
from harmony_py.scores.k8s_application_manifests import SECRET_DIGEST_ANNOTATION
from harmony_py.scores.k8s_postgres_manifests import Declared
from topologies import K8sAnywhereTopology

from .harness import EmulatorThread

APPLY_MANAGERS = ("harmony-application", "harmony-postgres")
SERVER_FIELDS = ("namespace", "uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink")
API_KEY = "emulator-api-key-value"


@pytest.fixture(autouse=True)
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "secrets"
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(path))
    yield path


@pytest.fixture
def server() -> Iterator[EmulatorThread]:
    with EmulatorThread() as running:
        yield running


def web() -> ApplicationScore:
    return ApplicationScore(
        "shop",
        image="registry.example.org/shop:1.4",
        command=("python3", "server.py"),
        replicas=2,
        port=8080,
        database=None,
        secrets={"SHOP_API_KEY": Secret(API_KEY), "DATABASE_URL": Secret("postgresql://shop:pw@shop:25433/shop")},
        env={"SHOP_CURRENCY": "EUR"},
    )


def database() -> PostgreSQLScore:
    return PostgreSQLScore("shop", port=25433, databases=["shop"], users=[PgUser("shop", databases=("shop",))])


def rendered_objects() -> list[dict[str, Any]]:
    rendering = render(build_graph([(web(), database())]), "kubernetes")
    assert rendering.complete
    return [yaml.safe_load(content) for content in rendering.files.values()]


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without what the server adds, and without what render leaves out on purpose."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    for key in SERVER_FIELDS:
        obj["metadata"].pop(key, None)
    if obj["kind"] == "Secret":
        obj.pop("data", None)
    template = obj.get("spec", {}).get("template", {}).get("metadata", {})
    annotations = template.get("annotations", {})
    annotations.pop(SECRET_DIGEST_ANNOTATION, None)
    if "annotations" in template and not annotations:
        del template["annotations"]
    return obj


def applied_by_harmony(server: EmulatorThread, namespace: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The objects in ``namespace`` that apply wrote (not those the toy controller made from them)."""

    def collect() -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for key, obj in server.api.store.items():
            managers = {entry.get("manager") for entry in obj.get("metadata", {}).get("managedFields") or []}
            if key[3] == namespace and managers & set(APPLY_MANAGERS):
                found[(obj["kind"], obj["metadata"]["name"])] = copy.deepcopy(obj)
        return found

    return server.call(collect)


async def test_rendered_files_applied_give_the_same_objects_as_apply(server: EmulatorThread, tmp_path: Path) -> None:
    kubeconfig = str(server.write_kubeconfig(tmp_path / "kubeconfig"))
    applied, files = (
        K8sAnywhereTopology(kubeconfig=kubeconfig, namespace=namespace, request_timeout_s=2.0, retries=2, watch_idle_s=2.0)
        for namespace in ("applied", "rendered")
    )
    for namespace in ("applied", "rendered"):
        await applied.k8s_client().apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, field_manager="test")

    report = await Maestro(applied).add(web()).apply()
    assert report.ok, report
    await applied.postgresql().server(database().config).apply_objects(Declared(), None)
    for obj in rendered_objects():
        await files.k8s_client().apply(obj, field_manager="kubectl")

    by_apply = applied_by_harmony(server, "applied")
    assert sorted(by_apply) == sorted((obj["kind"], obj["metadata"]["name"]) for obj in rendered_objects())
    for (kind, name), obj in by_apply.items():
        rendered = server.call(lambda: server.api.find(kind, name, "rendered"))
        assert rendered is not None, f"{kind} {name} is not in the rendered files"
        assert comparable(rendered) == comparable(obj), f"{kind} {name} differs"
    secret = server.call(lambda: server.api.find("Secret", "shop-web-env", "rendered"))
    assert secret is not None and not secret.get("data")


def serialised(client: ApiClient, model: object) -> Any:
    """The model as the client sends it (its ``sanitize_for_serialization``, which the package leaves untyped)."""
    sanitize: Any = client.sanitize_for_serialization
    return sanitize(model)


def test_rendered_files_load_with_the_official_client_models() -> None:
    client = ApiClient()
    objects = rendered_objects()
    assert [obj["kind"] for obj in objects] == [
        "Secret", "Deployment", "Service", "Secret", "Secret", "ConfigMap", "ConfigMap", "Service", "StatefulSet"
    ]  # fmt: skip
    for obj in objects:
        model_name = obj["apiVersion"].rpartition("/")[2].capitalize() + obj["kind"]
        model = client.deserialize(json.dumps(obj), model_name, "application/json")
        assert type(model).__name__ == model_name
        # Every field is one the model knows: none was dropped on the way in.
        assert serialised(client, model) == obj
