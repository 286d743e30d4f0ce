"""kmock's KubernetesEmulator, with the gaps a real API server does not have closed.

kmock==0.8 as shipped cannot create Namespaces (``/api/v1/namespaces`` is parsed
as a namespace prefix), ignores label and field selectors, 404s on PUT and on
server-side apply of a new object, persists dry runs, and sets no uid or
resourceVersion. This subclass keeps kmock's HTTP server, request log,
discovery and error-injection DSL (``emulator['patch'] << 500``), and serves
the objects itself:

- server-side apply: create-or-merge, fields the same manager applied before
  and no longer applies are removed, other managers' differing fields are a
  409 conflict unless ``force=true``;
- ``dryRun=All`` answers what would happen and persists nothing;
- uid, resourceVersion, generation (bumped on spec changes), creationTimestamp,
  managedFields;
- label selectors (``=``, ``==``, ``!=``, ``in``, ``notin``, exists, ``!``)
  and ``metadata.name``/``metadata.namespace`` field selectors, on list and watch;
- namespaced objects need their Namespace to exist, as on a real server;
- a toy controller (``auto_ready``) that marks workloads rolled out, Pods
  ready and Jobs complete shortly after each change, so waits have something
  to wait for, and gives each StatefulSet its Pods ``<name>-<i>`` (made
  again when deleted, removed when scaled down);
- a toy kubelet for ``exec`` (off unless ``exec_locally``): the exec
  websocket (``v4.channel.k8s.io``) of a Pod the test stored runs the command
  as a local process, with that Pod's ``exec_env`` added to its environment;
  with ``exec_handshake_hangs`` it never answers the websocket handshake
  (until the client goes away or the flag is cleared).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp.web
import attrs
from kmock import KubernetesEmulator, KubernetesError, ResourceInfo
from kmock import method as kmock_method
from kmock._internal import parsing, rendering

Key = tuple[str, str, str, str | None, str]
"""(group, version, plural, namespace, name)"""

_EXEC_PATH = re.compile(r"^/api/v1/namespaces/(?P<namespace>[^/]+)/pods/(?P<pod>[^/]+)/exec/?$")
_NAMESPACES_PATH = re.compile(r"^/api/v1/namespaces(?:/(?P<name>[^/]+)(?:/(?P<sub>status|finalize))?)?/?$")
_original_parse_path = parsing.parse_path


def _parse_path(path: str) -> parsing.ParsedPath:
    """kmock's parser, except that /api/v1/namespaces[/NAME] is the Namespace resource itself."""
    match = _NAMESPACES_PATH.match(path)
    if match is None:
        return _original_parse_path(path)
    return parsing.ParsedPath("", "v1", "namespaces", None, match["name"], match["sub"])


parsing.parse_path = _parse_path  # read at call time by kmock's Request._parse

# (api path, kind, namespaced) of the built-in kinds the tests and scores use.
BUILTIN_KINDS: tuple[tuple[str, str, bool], ...] = (
    ("v1/namespaces", "Namespace", False),
    ("v1/pods", "Pod", True),
    ("v1/services", "Service", True),
    ("v1/secrets", "Secret", True),
    ("v1/configmaps", "ConfigMap", True),
    ("v1/persistentvolumeclaims", "PersistentVolumeClaim", True),
    ("v1/resourcequotas", "ResourceQuota", True),
    ("v1/serviceaccounts", "ServiceAccount", True),
    ("apps/v1/deployments", "Deployment", True),
    ("apps/v1/statefulsets", "StatefulSet", True),
    ("apps/v1/daemonsets", "DaemonSet", True),
    ("batch/v1/jobs", "Job", True),
)
_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}
_SERVER_FIELDS = {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"}


def _status_error(status: int, reason: str, message: str) -> KubernetesError:
    return KubernetesError(status=status, reason=reason, message=message, details={})


def client_gone(raw_request: aiohttp.web.BaseRequest) -> bool:
    """Whether the client closed the connection of a request still being served."""
    transport = raw_request.transport
    return transport is None or transport.is_closing()


@attrs.define(kw_only=True)
class HarmonyEmulator(KubernetesEmulator):
    """A KubernetesEmulator that behaves like an API server for everything harmony_py sends."""

    auto_ready: bool = True
    keep_requests: bool = True
    """kmock matches each request against every request it recorded: O(n) each. Benchmarks turn it off."""
    controller_delay_s: float = 0.01
    exec_locally: bool = False
    exec_handshake_hangs: bool = False
    exec_env: dict[tuple[str, str], dict[str, str]] = attrs.field(factory=dict)
    """Environment added to the commands exec'd in each (namespace, pod)."""
    exec_log: list[tuple[str, ...]] = attrs.field(factory=list)
    """The argv of every command exec'd (what the API server's request URLs, and so audit logs, hold)."""
    store: dict[Key, dict[str, Any]] = attrs.field(factory=dict, init=False)
    _applied: dict[Key, dict[str, dict[str, Any]]] = attrs.field(factory=dict, init=False)
    _watchers: set[tuple[Any, asyncio.Queue[dict[str, Any]]]] = attrs.field(factory=set, init=False)
    _versions: Any = attrs.field(factory=lambda: itertools.count(1), init=False)
    _kinds: dict[tuple[str, str, str], str] = attrs.field(factory=dict, init=False)
    _tasks: set[asyncio.Task[None]] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.fallback[kmock_method.PUT] << self._serve_replace
        for path, kind, namespaced in BUILTIN_KINDS:
            self.declare(path, kind, namespaced=namespaced)
        self.put_object("", "v1", "namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})

    def declare(self, path: str, kind: str, *, namespaced: bool) -> None:
        """Serve a kind (also a custom resource) in discovery, and accept its objects."""
        group, version, plural = _split_path(path)
        self.resources[path] = ResourceInfo(kind=kind, namespaced=namespaced, verbs=_VERBS, singular=kind.lower())
        self._kinds[(group, version, plural)] = kind

    # -- serving -----------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        match = _EXEC_PATH.match(raw_request.path)
        if match is not None and raw_request.headers.get("Upgrade", "").lower() == "websocket":
            while self.exec_handshake_hangs and not client_gone(raw_request):
                await asyncio.sleep(0.02)
            return await self._serve_exec(raw_request, match["namespace"], match["pod"])
        return await super().__call__(raw_request)

    async def _serve_exec(self, raw_request: aiohttp.web.BaseRequest, namespace: str, pod: str) -> aiohttp.web.StreamResponse:
        """The exec websocket: stdout on channel 1, stderr on 2, the final Status on 3."""
        socket = aiohttp.web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await socket.prepare(raw_request)
        command = raw_request.query.getall("command", [])
        self.exec_log.append(tuple(command))
        if ("", "v1", "pods", namespace, pod) not in self.store:
            status: dict[str, Any] = {"status": "Failure", "reason": "NotFound", "message": f'pods "{pod}" not found'}
        elif not self.exec_locally:
            status = {"status": "Failure", "reason": "BadRequest", "message": "this emulator runs no containers"}
        else:
            with_stdin = raw_request.query.get("stdin", "").lower() == "true"
            try:
                process = await asyncio.create_subprocess_exec(
                    *command, stdin=asyncio.subprocess.PIPE if with_stdin else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    env={**os.environ, **self.exec_env.get((namespace, pod), {})},
                )
            except OSError as exc:
                status = {"status": "Failure", "reason": "InternalError", "message": f"failed to exec in container: {exc}"}
            else:
                # Channel 0 frames go to the process's stdin, which (as over v4) is never closed.
                feeder = asyncio.ensure_future(_feed_stdin(socket, process)) if with_stdin else None
                try:
                    stdout, stderr, _ = await asyncio.gather(process.stdout.read(), process.stderr.read(), process.wait())  # type: ignore[union-attr]
                finally:
                    if feeder is not None:
                        feeder.cancel()
                await socket.send_bytes(b"\x01" + stdout)
                await socket.send_bytes(b"\x02" + stderr)
                status = {"status": "Success"}
                if process.returncode:
                    status = {"status": "Failure", "reason": "NonZeroExitCode", "message": f"command terminated with non-zero exit code: {process.returncode}",
                              "details": {"causes": [{"reason": "ExitCode", "message": str(process.returncode)}]}}
        await socket.send_bytes(b"\x03" + json.dumps({"metadata": {}, **status}).encode())
        await socket.close()
        return socket

    async def _handle(self, request: rendering.Request) -> Any:
        # Skip KubernetesEmulator's own object tracking: the fallbacks below keep the store.
        try:
            return await super(KubernetesEmulator, self)._handle(request)
        finally:
            if not self.keep_requests:
                self._requests.remove(request)

    async def _serve_version(self, request: rendering.Request) -> Any:
        listing = await super()._serve_version(request)
        if isinstance(listing, dict):
            # kmock writes the core group as "/v1"; clients (kubectl's REST mapper) want "v1".
            listing["groupVersion"] = str(listing.get("groupVersion", "")).lstrip("/")
        return listing

    async def _serve_fetch(self, request: rendering.Request) -> Any:
        obj = self.store.get(self._key(request))
        if obj is None:
            raise self._not_found(request)
        return obj

    async def _serve_list(self, request: rendering.Request) -> Any:
        group, version, plural = self._resource(request)
        items = [
            obj
            for key, obj in sorted(self.store.items(), key=lambda kv: (kv[0][3] or "", kv[0][4]))
            if key[:3] == (group, version, plural) and self._selected(request, obj)
        ]
        return {
            "apiVersion": f"{group}/{version}".lstrip("/"),
            "kind": f"{self._kinds.get((group, version, plural), 'Object')}List",
            "metadata": {"resourceVersion": str(self._peek_version())},
            "items": items,
        }

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[Any]:
        yield b""
        resource = self._resource(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        entry = (resource, queue)
        self._watchers.add(entry)
        try:
            for key, obj in list(self.store.items()):
                if key[:3] == resource and self._selected(request, obj):
                    yield {"type": "ADDED", "object": obj}
            while True:
                event = await queue.get()
                if self._selected(request, event["object"]):
                    yield event
        finally:
            self._watchers.discard(entry)

    async def _serve_create(self, request: rendering.Request) -> Any:
        body = request.data or {}
        name = body.get("metadata", {}).get("name")
        key = (*self._resource(request), self._namespace(request, body), name)
        if key in self.store:
            raise _status_error(409, "AlreadyExists", f"{key[2]} {name!r} already exists")
        return self._commit(request, key, self._stamped(key, None, body, "Update", request))

    async def _serve_replace(self, request: rendering.Request) -> Any:
        key = self._key(request)
        current = self.store.get(key)
        return self._commit(request, key, self._stamped(key, current, request.data or {}, "Update", request))

    async def _serve_update(self, request: rendering.Request) -> Any:
        key = self._key(request)
        current = self.store.get(key)
        content_type = request.headers.get("Content-Type", "")
        patch = request.data or {}
        if "apply-patch" in content_type:
            manager = request.params.get("fieldManager")
            if not manager:
                raise _status_error(400, "BadRequest", "fieldManager is required for apply patch")
            desired = self._applied_result(key, current, patch, manager, request.params.get("force") == "true")
            result = self._stamped(key, current, desired, "Apply", request)
            if request.params.get("dryRun") != "All":
                self._applied.setdefault(key, {})[manager] = copy.deepcopy(patch)
            return self._commit(request, key, result)
        if current is None:
            raise self._not_found(request)
        merged = _merge_patch(_content(current), patch)
        return self._commit(request, key, self._stamped(key, current, merged, "Update", request))

    async def _serve_delete(self, request: rendering.Request) -> Any:
        key = self._key(request)
        current = self.store.get(key)
        if current is None:
            raise self._not_found(request)
        if request.params.get("dryRun") == "All":
            return current
        del self.store[key]
        self._applied.pop(key, None)
        if key[2] == "namespaces":
            for inner in [k for k in self.store if k[3] == key[4]]:
                self.remove(inner)
        self._publish(key, "DELETED", current)
        for owner in current.get("metadata", {}).get("ownerReferences") or []:
            if owner.get("kind") == "StatefulSet" and self.auto_ready:
                self._schedule_controller(("apps", "v1", "statefulsets", key[3], owner["name"]))  # it makes the Pod again
        return current

    # -- the store, also for tests ----------------------------------------

    def put_object(self, group: str, version: str, plural: str, namespace: str | None, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store an object as a controller would (no field manager), and tell the watchers."""
        key = (group, version, plural, namespace, obj["metadata"]["name"])
        current = self.store.get(key)
        stamped = self._stamped(key, current, copy.deepcopy(dict(obj)), None, None)
        if "status" in obj:
            stamped["status"] = copy.deepcopy(obj["status"])
        self.store[key] = stamped
        self._publish(key, "MODIFIED" if current else "ADDED", stamped)
        return stamped

    def set_status(self, key: Key, status: Mapping[str, Any]) -> None:
        obj = self.store[key]
        obj = {**obj, "status": copy.deepcopy(dict(status)), "metadata": {**obj["metadata"], "resourceVersion": str(next(self._versions))}}
        self.store[key] = obj
        self._publish(key, "MODIFIED", obj)

    def remove(self, key: Key) -> None:
        obj = self.store.pop(key, None)
        self._applied.pop(key, None)
        if obj is not None:
            self._publish(key, "DELETED", obj)

    def find(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        for key, obj in self.store.items():
            if obj.get("kind") == kind and key[4] == name and (namespace is None or key[3] == namespace):
                return obj
        return None

    # -- helpers -----------------------------------------------------------

    def _commit(self, request: rendering.Request, key: Key, result: dict[str, Any]) -> dict[str, Any]:
        if request.params.get("dryRun") == "All":
            return result
        current = self.store.get(key)
        if current is not None and _content(current) == _content(result) and current.get("metadata", {}).get("labels") == result.get("metadata", {}).get("labels"):
            return current  # a no-op write changes nothing, resourceVersion included
        if current is not None:
            result["metadata"]["resourceVersion"] = str(next(self._versions))
        self.store[key] = result
        self._publish(key, "MODIFIED" if current else "ADDED", result)
        if self.auto_ready:
            self._schedule_controller(key)
        return result

    def _applied_result(self, key: Key, current: dict[str, Any] | None, patch: dict[str, Any], manager: str, force: bool) -> dict[str, Any]:
        if patch.get("metadata", {}).get("name") != key[4]:
            raise _status_error(400, "BadRequest", "the name in the body does not match the name in the URL")
        if current is None:
            self._require_namespace(key)
            return copy.deepcopy(patch)
        conflicts = [
            (other, path)
            for other, applied in self._applied.get(key, {}).items()
            if other != manager
            for path in _conflicting_paths(applied, patch)
        ]
        if conflicts and not force:
            listed = ", ".join(f'conflict with "{other}": {path}' for other, path in conflicts)
            raise _status_error(409, "Conflict", f"Apply failed with {len(conflicts)} conflict(s): {listed}")
        previous = self._applied.get(key, {}).get(manager, {})
        pruned = _prune(_content(current), previous, patch)
        return _deep_merge(pruned, patch)

    def _stamped(self, key: Key, current: dict[str, Any] | None, desired: Mapping[str, Any], operation: str | None, request: rendering.Request | None) -> dict[str, Any]:
        """``desired`` with the server-owned metadata a real API server adds."""
        result = {k: copy.deepcopy(v) for k, v in desired.items() if k != "status"}
        metadata = {k: v for k, v in dict(result.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
        old = (current or {}).get("metadata", {})
        if key[3] is not None:
            metadata["namespace"] = key[3]
        generation = int(old.get("generation", 0))
        if current is None or _spec(current) != _spec(result):
            generation += 1
        metadata.update(
            uid=old.get("uid") or str(uuid.uuid4()),
            resourceVersion=old.get("resourceVersion") or str(next(self._versions)),
            generation=generation,
            creationTimestamp=old.get("creationTimestamp") or _now(),
        )
        managers = {entry["manager"]: entry for entry in old.get("managedFields", [])}
        if operation is not None and request is not None:
            manager = request.params.get("fieldManager") or "unknown"
            owned = request.data if operation == "Apply" else _content(result)
            managers[manager] = {"manager": manager, "operation": operation, "apiVersion": result.get("apiVersion"), "fieldsType": "FieldsV1",
                                 "fieldsV1": fields_v1(owned or {}), "time": _now()}
        if managers:
            metadata["managedFields"] = list(managers.values())
        result["metadata"] = metadata
        result.setdefault("apiVersion", f"{key[0]}/{key[1]}".lstrip("/"))
        result.setdefault("kind", self._kinds.get(key[:3], "Object"))
        if current is not None and "status" in current:
            result["status"] = copy.deepcopy(current["status"])
        return result

    def _require_namespace(self, key: Key) -> None:
        if key[3] is not None and ("", "v1", "namespaces", None, key[3]) not in self.store:
            raise _status_error(404, "NotFound", f'namespaces "{key[3]}" not found')

    def _publish(self, key: Key, kind: str, obj: dict[str, Any]) -> None:
        for resource, queue in list(self._watchers):
            if resource == key[:3]:
                queue.put_nowait({"type": kind, "object": obj})

    def _schedule_controller(self, key: Key) -> None:
        task = asyncio.get_running_loop().create_task(self._reconcile(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile(self, key: Key) -> None:
        await asyncio.sleep(self.controller_delay_s)
        obj = self.store.get(key)
        if obj is None or not self.auto_ready:
            return
        if obj.get("kind") == "StatefulSet":
            self._statefulset_pods(key, obj)
        status = _ready_status(obj)
        if status is not None and obj.get("status") != status:
            self.set_status(key, status)

    def _statefulset_pods(self, key: Key, statefulset: Mapping[str, Any]) -> None:
        """Pods ``<name>-0..n-1`` (marked running and ready; nothing runs), none beyond ``replicas``."""
        name, namespace = key[4], key[3]
        replicas = int(statefulset.get("spec", {}).get("replicas", 1))
        template = statefulset.get("spec", {}).get("template", {})
        owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name, "uid": statefulset["metadata"]["uid"], "controller": True}
        for pod_key in [k for k in self.store if k[:4] == ("", "v1", "pods", namespace) and re.fullmatch(rf"{re.escape(name)}-\d+", k[4])]:
            if int(pod_key[4].rsplit("-", 1)[1]) >= replicas:
                self.remove(pod_key)
        for index in range(replicas):
            pod_name = f"{name}-{index}"
            if ("", "v1", "pods", namespace, pod_name) not in self.store:
                pod = {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod_name, "namespace": namespace, "labels": dict(template.get("metadata", {}).get("labels") or {}), "ownerReferences": [owner]},
                    "spec": copy.deepcopy(template.get("spec") or {}),
                    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
                }  # fmt: skip
                self.put_object("", "v1", "pods", namespace, pod)

    def _peek_version(self) -> int:
        version: int = next(self._versions)
        return version

    def _resource(self, request: rendering.Request) -> tuple[str, str, str]:
        resource = request.resource
        assert resource is not None
        found = (resource.group or "", resource.version or "", resource.plural or "")
        if found not in self._kinds:
            raise _status_error(404, "NotFound", f"the server could not find the requested resource {found}")
        return found

    def _namespace(self, request: rendering.Request, body: Mapping[str, Any] | None = None) -> str | None:
        namespaced = self.resources[self._path_of(request)].namespaced
        if not namespaced:
            return None
        return request.namespace or (body or {}).get("metadata", {}).get("namespace") or "default"

    def _path_of(self, request: rendering.Request) -> str:
        group, version, plural = self._resource(request)
        return f"{group}/{version}/{plural}" if group else f"{version}/{plural}"

    def _key(self, request: rendering.Request) -> Key:
        group, version, plural = self._resource(request)
        return (group, version, plural, self._namespace(request), request.name or "")

    def _not_found(self, request: rendering.Request) -> KubernetesError:
        return _status_error(404, "NotFound", f'{request.resource and request.resource.plural} "{request.name}" not found')

    def _selected(self, request: rendering.Request, obj: Mapping[str, Any]) -> bool:
        metadata = obj.get("metadata", {})
        if request.namespace is not None and metadata.get("namespace") != request.namespace:
            return False
        labels = metadata.get("labels") or {}
        if not label_selector_matches(request.params.get("labelSelector", ""), labels):
            return False
        for term in filter(None, request.params.get("fieldSelector", "").split(",")):
            field, _, value = term.partition("=")
            actual = metadata.get(field.removeprefix("metadata."), "")
            if actual != value.lstrip("="):
                return False
        return True


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics for one object's labels."""
    for requirement in _split_requirements(selector):
        if not _requirement_matches(requirement.strip(), labels):
            return False
    return True


def _split_requirements(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def _requirement_matches(requirement: str, labels: Mapping[str, str]) -> bool:
    set_match = re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", requirement)
    if set_match:
        key, operator, values = set_match.groups()
        allowed = {value.strip() for value in values.split(",")}
        return (labels.get(key) in allowed) if operator == "in" else (labels.get(key) not in allowed)
    for operator in ("!=", "==", "="):
        if operator in requirement:
            key, _, value = requirement.partition(operator)
            matched = labels.get(key.strip()) == value.strip()
            return not matched if operator == "!=" else matched
    if requirement.startswith("!"):
        return requirement[1:].strip() not in labels
    return requirement in labels


def fields_v1(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fieldsV1`` tree of the fields ``obj`` sets, as managedFields records them.

    Maps become ``{".": {}, "f:<key>": ...}``; lists and scalars are leaves
    (a real server tracks list items by key; these tests need no more).
    Identity fields (apiVersion, kind, metadata.name/namespace) are not owned.
    """

    def tree(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            return {}
        return {".": {}, **{f"f:{key}": tree(item) for key, item in value.items()}}

    top = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    metadata = {k: v for k, v in dict(top.pop("metadata", None) or {}).items() if k not in ("name", "namespace", *_SERVER_FIELDS)}
    fields = {f"f:{key}": tree(item) for key, item in top.items()}
    if metadata:
        fields["f:metadata"] = {f"f:{key}": tree(item) for key, item in metadata.items()}
    return fields


def _split_path(path: str) -> tuple[str, str, str]:
    parts = path.split("/")
    return ("", parts[0], parts[1]) if len(parts) == 2 else (parts[0], parts[1], parts[2])


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The user-owned part of an object: no status, no server-owned metadata."""
    result = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    result["metadata"] = {k: v for k, v in dict(obj.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    return result


def _spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_patch(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch (also used for strategic merge: lists replace)."""
    result = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = _merge_patch(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _prune(current: dict[str, Any], previous: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Remove from ``current`` the fields ``previous`` applied that ``desired`` no longer applies."""
    result = copy.deepcopy(current)
    for key, value in previous.items():
        if key not in desired:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(desired[key], Mapping) and isinstance(result.get(key), dict):
            result[key] = _prune(result[key], value, desired[key])
    return result


def _conflicting_paths(owned: Mapping[str, Any], desired: Mapping[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in desired.items():
        if key not in owned or (prefix == "" and key in ("apiVersion", "kind")) or (prefix == ".metadata" and key in ("name", "namespace")):
            continue
        if isinstance(value, Mapping) and isinstance(owned[key], Mapping):
            paths.extend(_conflicting_paths(owned[key], value, f"{prefix}.{key}"))
        elif owned[key] != value:
            paths.append(f"{prefix}.{key}")
    return paths


def _ready_status(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = obj.get("kind")
    generation = obj["metadata"].get("generation", 1)
    replicas = int(obj.get("spec", {}).get("replicas", 1))
    if kind == "Deployment":
        return {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    if kind == "StatefulSet":
        return {"observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas, "currentRevision": "r1", "updateRevision": "r1"}
    if kind == "DaemonSet":
        return {"observedGeneration": generation, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1, "numberAvailable": 1}
    if kind == "Pod":
        return {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    if kind == "Job":
        return {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    return None


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _feed_stdin(socket: aiohttp.web.WebSocketResponse, process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    async for message in socket:
        if message.type is aiohttp.WSMsgType.BINARY and message.data[:1] == b"\x00":
            process.stdin.write(message.data[1:])
        elif message.type is aiohttp.WSMsgType.TEXT and message.data[:1] == "\x00":
            process.stdin.write(message.data[1:].encode())
        else:
            continue
        try:
            await process.stdin.drain()
        except ConnectionError:
            return  # the command ended without reading it all
