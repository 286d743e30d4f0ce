"""When a plan may call an object unchanged without asking the server (``applied_as_declared``).

True must mean that a server-side apply would change nothing; anything it
cannot be sure of is False, and the plan then asks for a dry run.
"""

from __future__ import annotations

import copy
from typing import Any

from harmony_py.scores.k8s_manifests import applied_as_declared

MANAGER = "harmony"

CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "c", "namespace": "shop", "labels": {"app": "shop"}},
    "data": {"mode": "prod", "replicas": "2"},
}


def _live(manifest: dict[str, Any], fields: dict[str, Any], *, manager: str = MANAGER, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    live = copy.deepcopy(manifest)
    live["metadata"].update(uid="u1", resourceVersion="7", creationTimestamp="2026-12-02T00:00:00Z")
    live["metadata"]["managedFields"] = [
        {"manager": manager, "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields}
    ]
    for key, value in (extra or {}).items():
        live[key] = value
    return live


CONFIGMAP_FIELDS: dict[str, Any] = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:data": {".": {}, "f:mode": {}, "f:replicas": {}},
}


def test_an_object_as_this_manager_applied_it_is_unchanged() -> None:
    assert applied_as_declared(_live(CONFIGMAP, CONFIGMAP_FIELDS), CONFIGMAP, MANAGER)


def test_a_value_changed_behind_our_back_is_not_unchanged() -> None:
    live = _live(CONFIGMAP, CONFIGMAP_FIELDS)
    live["data"]["mode"] = "staging"
    assert not applied_as_declared(live, CONFIGMAP, MANAGER)


def test_a_field_this_manager_owns_and_the_manifest_dropped_is_a_removal() -> None:
    live = _live(CONFIGMAP, CONFIGMAP_FIELDS)
    dropped = copy.deepcopy(CONFIGMAP)
    del dropped["data"]["replicas"]
    assert not applied_as_declared(live, dropped, MANAGER)
    unlabelled = copy.deepcopy(CONFIGMAP)
    del unlabelled["metadata"]["labels"]
    assert not applied_as_declared(live, unlabelled, MANAGER)


def test_fields_only_another_manager_set_do_not_make_a_change() -> None:
    live = _live(CONFIGMAP, CONFIGMAP_FIELDS)
    live["metadata"]["labels"]["owner"] = "ops"
    live["metadata"]["annotations"] = {"note": "by hand"}
    assert applied_as_declared(live, CONFIGMAP, MANAGER)


def test_an_object_another_manager_created_exactly_so_is_unchanged() -> None:
    assert applied_as_declared(_live(CONFIGMAP, CONFIGMAP_FIELDS, manager="kubectl"), CONFIGMAP, MANAGER)


def test_without_managed_fields_the_server_must_decide() -> None:
    live = _live(CONFIGMAP, CONFIGMAP_FIELDS)
    del live["metadata"]["managedFields"]
    assert not applied_as_declared(live, CONFIGMAP, MANAGER)


def test_json_types_must_match_and_nulls_and_status_go_to_the_server() -> None:
    deployment: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "shop"}, "spec": {"replicas": 1}}
    fields: dict[str, Any] = {"f:spec": {"f:replicas": {}}}
    assert applied_as_declared(_live(deployment, fields), deployment, MANAGER)
    as_bool = _live(deployment, fields)
    as_bool["spec"]["replicas"] = True
    as_float = _live(deployment, fields)
    as_float["spec"]["replicas"] = 1.0
    assert not applied_as_declared(as_bool, deployment, MANAGER)
    assert not applied_as_declared(as_float, deployment, MANAGER)
    with_null = copy.deepcopy(deployment)
    with_null["spec"]["paused"] = None
    assert not applied_as_declared(_live(deployment, fields), with_null, MANAGER)
    with_status = {**deployment, "status": {}}
    assert not applied_as_declared(_live(deployment, fields), with_status, MANAGER)


SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]},
}
# What a real API server records for it: list items by their merge keys.
SERVICE_FIELDS: dict[str, Any] = {
    "f:spec": {
        "f:selector": {},
        "f:ports": {
            ".": {},
            'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}},
            'k:{"port":443,"protocol":"TCP"}': {".": {}, "f:port": {}, "f:protocol": {}},
        },
    }
}


def test_list_items_owned_by_key_are_matched_to_the_manifests_items() -> None:
    live = _live(SERVICE, SERVICE_FIELDS)
    # The server defaults fields of each item (443's targetPort): the manifest's items are a subset.
    live["spec"]["ports"][1]["targetPort"] = 443
    assert applied_as_declared(live, SERVICE, MANAGER)


def test_a_list_item_the_manifest_dropped_is_a_removal() -> None:
    live = _live(SERVICE, SERVICE_FIELDS)
    one_port = copy.deepcopy(SERVICE)
    one_port["spec"]["ports"] = one_port["spec"]["ports"][:1]
    live["spec"]["ports"] = copy.deepcopy(one_port["spec"]["ports"])  # even if someone removed it already
    assert not applied_as_declared(live, one_port, MANAGER)


def test_a_field_dropped_inside_an_owned_list_item_is_a_removal() -> None:
    live = _live(SERVICE, SERVICE_FIELDS)
    no_target = copy.deepcopy(SERVICE)
    del no_target["spec"]["ports"][0]["targetPort"]
    assert not applied_as_declared(live, no_target, MANAGER)


def test_an_atomic_list_must_be_equal_as_a_whole() -> None:
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": {"args": ["a", "b"]}}
    fields: dict[str, Any] = {"f:spec": {"f:args": {}}}
    assert applied_as_declared(_live(pod, fields), pod, MANAGER)
    reordered = _live(pod, fields)
    reordered["spec"]["args"] = ["b", "a"]
    assert not applied_as_declared(reordered, pod, MANAGER)
    longer = _live(pod, fields)
    longer["spec"]["args"].append("c")
    assert not applied_as_declared(longer, pod, MANAGER)


def test_an_index_owned_list_item_cannot_be_decided_locally() -> None:
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": {"args": ["a"]}}
    assert not applied_as_declared(_live(pod, {"f:spec": {"f:args": {"i:0": {}}}}), pod, MANAGER)


def test_two_apply_entries_of_one_manager_go_to_the_server() -> None:
    live = _live(CONFIGMAP, CONFIGMAP_FIELDS)
    live["metadata"]["managedFields"].append({**live["metadata"]["managedFields"][0], "apiVersion": "v1beta1"})
    assert not applied_as_declared(live, CONFIGMAP, MANAGER)
