"""An in-memory K8sClient: the scores' unit tests run against it, in microseconds.

:class:`InMemoryK8sApi` keeps objects in a dict and applies the same
simplified server-side-apply rules as the emulator; it is a second
implementation of ``K8sClientService``, so a score that only works against one
of them is caught. :class:`InMemoryK8sClient` is the topology that hands it out.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from capabilities.errors import K8sApiError, K8sNotReadyError, K8sUnknownKindError
from capabilities.k8s import Manifest, WatchEvent
from harmony_py.topology import TopologyReport
from topologies.k8s.readiness import Readiness, judge

from .emulator import _deep_merge, _prune, _ready_status, fields_v1, label_selector_matches

KNOWN_KINDS = frozenset(
    {("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "ResourceQuota"),
     ("v1", "Pod"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("batch/v1", "Job")}
)
CLUSTER_KINDS = frozenset({"Namespace"})
Key = tuple[str, str, str | None, str]


class InMemoryK8sClient:
    """A topology that provides K8sClient: its ``k8s_client()`` is :attr:`api`."""

    def __init__(self, *, dry_run_supported: bool = True, ready: bool = True, api: InMemoryK8sApi | None = None) -> None:
        self.api = api if api is not None else InMemoryK8sApi(dry_run_supported=dry_run_supported, ready=ready)
        self.name = "in-memory-k8s"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name, {"server_version": "in-memory"})

    def k8s_client(self) -> InMemoryK8sApi:
        return self.api


class InMemoryK8sApi:
    """Provides K8sClientService. ``dry_run_supported=False`` makes dry runs fail with 405, like an old server."""

    def __init__(self, *, dry_run_supported: bool = True, ready: bool = True) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.applied: dict[Key, dict[str, Any]] = {}
        self.dry_run_supported = dry_run_supported
        self.ready = ready
        self.writes = 0

    def _key(self, api_version: str, kind: str, name: str, namespace: str | None) -> Key:
        if (api_version, kind) not in KNOWN_KINDS:
            raise K8sUnknownKindError(f"the API server does not serve kind {kind} in apiVersion {api_version}")
        return (api_version, kind, None if kind in CLUSTER_KINDS else (namespace or "default"), name)

    async def apply(
        self, manifest: Manifest, *, field_manager: str, dry_run: bool = False, force_conflicts: bool = False
    ) -> dict[str, Any]:
        meta = manifest["metadata"]
        key = self._key(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace"))
        if dry_run and not self.dry_run_supported:
            raise K8sApiError("dry run not supported", status=405, reason="MethodNotAllowed")
        desired = copy.deepcopy(dict(manifest))
        if key[2] is not None:
            desired["metadata"] = {**desired["metadata"], "namespace": key[2]}
        current = self.objects.get(key)
        if current is None:
            result = desired
        else:
            base = {k: v for k, v in current.items() if k != "status"}
            result = _deep_merge(_prune(base, self.applied.get(key, {}), desired), desired)
            if "status" in current:
                result["status"] = current["status"]
        result["metadata"]["uid"] = (current or {}).get("metadata", {}).get("uid", f"uid-{len(self.objects)}")
        # What a server records: the fields this manager applied are its own (the local plan reads them).
        result["metadata"]["managedFields"] = [{"manager": field_manager, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": fields_v1(desired)}]
        if not dry_run:
            if result != current:
                self.writes += 1
            if self.ready and (status := _ready_status({**result, "metadata": {**result["metadata"], "generation": 1}})):
                result["metadata"]["generation"] = 1
                result["status"] = status
            self.objects[key] = result
            self.applied[key] = desired
        return copy.deepcopy(result)

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        found = self.objects.get(self._key(api_version, kind, name, namespace))
        return copy.deepcopy(found) if found is not None else None

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        self._key(api_version, kind, "", namespace)
        return [
            copy.deepcopy(obj)
            for (version, k, ns, _), obj in sorted(self.objects.items(), key=lambda kv: str(kv[0]))
            if (version, k) == (api_version, kind)
            and (namespace is None or ns == namespace)
            and label_selector_matches(label_selector or "", obj["metadata"].get("labels") or {})
        ]

    async def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        key = self._key(api_version, kind, name, namespace)
        self.applied.pop(key, None)
        return self.objects.pop(key, None) is not None

    @asynccontextmanager
    async def watch(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None, *, name: str | None = None
    ) -> AsyncIterator[AsyncIterator[WatchEvent]]:
        objects = [o for o in await self.list(api_version, kind, namespace, label_selector) if name in (None, o["metadata"]["name"])]

        async def events() -> AsyncIterator[WatchEvent]:
            for obj in objects:
                yield WatchEvent("ADDED", obj)

        yield events()

    async def wait(
        self, api_version: str, kind: str, name: str, namespace: str | None, *, condition: str, timeout_s: float
    ) -> dict[str, Any]:
        found = await self.get(api_version, kind, name, namespace)
        if found is None:
            raise K8sNotReadyError(f"{kind} {name} does not exist")
        verdict = judge(found, condition)
        if verdict.readiness is not Readiness.READY:
            raise K8sNotReadyError(f"{kind} {name} not {condition} after {timeout_s:g} s", [verdict.message])
        return found

    def put(self, obj: Mapping[str, Any]) -> None:
        """Change an object behind the score's back, as another client would."""
        meta = obj["metadata"]
        self.objects[self._key(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))] = copy.deepcopy(dict(obj))
