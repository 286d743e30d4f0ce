"""K8sAnywhereTopology: any Kubernetes cluster, reached the way kubectl reaches it.

The official ``kubernetes`` client is imported lazily (``import harmony_py``
and ``import topologies`` stay free of it) and, being synchronous, is only
ever called from worker threads, so the event loop never blocks on the API
server. Objects are handled unstructured through its DynamicClient: what the
server serves is discovered, not compiled in, so custom resources work too.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.from_thread
from anyio.streams.memory import MemoryObjectReceiveStream

from capabilities.errors import K8sApiError, K8sConflictError, K8sError, K8sNotReadyError, K8sUnknownKindError
from capabilities.k8s import ExecResult, Manifest, WatchEvent, describe_object
from harmony_py.errors import TopologyNotReadyError
from harmony_py.topology import TopologyReport

from .applications import K8sApplications
from .calls import CallGuard, run_guarded
from .postgres import K8sPostgreSQL
from .readiness import Readiness, judge, pod_problems

R = TypeVar("R")

_RETRY_STATUSES = (429, 500, 502, 503, 504)
_WATCH_BUFFER = 256
_IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_ROLLOUT_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}

NO_CLUSTER_HELP = (
    "no Kubernetes cluster is configured: set KUBECONFIG to a kubeconfig file "
    "(or create ~/.kube/config), or pass K8sAnywhereTopology(kubeconfig=..., context=...); "
    "inside a Pod the in-cluster service account is used automatically"
)


@dataclass(frozen=True)
class K8sAnywhereTopology(K8sApplications):
    """A Kubernetes cluster (one namespace of it, for namespaced objects).

    Provides ``K8sClient``, ``K8sPods`` (namespace, exec), the application
    runtime (Deployment and Service) and ``PostgreSQLServer`` (its
    ``postgresql()``, a :class:`~topologies.k8s.postgres.K8sPostgreSQL`):
    two of them in a ``FailoverTopology`` are a primary and a streaming replica
    (see topologies/k8s/postgres.py).

    ``kubeconfig`` defaults to ``$KUBECONFIG`` then ``~/.kube/config``, and
    ``context`` to that file's current context, as for kubectl; ``namespace``
    (like ``kubectl -n``) overrides the context's namespace. With
    ``in_cluster=None`` the in-cluster configuration is used when no kubeconfig
    exists and the process runs in a Pod. Requests that fail with 429/5xx or
    time out are retried ``retries`` times (every request this topology sends is
    idempotent: reads, server-side apply, delete).

    Every request, discovery and ``/version`` included, must answer within
    ``request_timeout_s`` (connecting within at most 10 s of it); cancelling a
    call (Ctrl-C, a score's timeout) returns at once and closes its connection
    (see topologies/k8s/calls.py).
    """

    context: str | None = None
    kubeconfig: str | None = None
    in_cluster: bool | None = None
    namespace: str | None = None
    request_timeout_s: float = 30.0
    retries: int = 3
    watch_idle_s: float = 30.0
    """A watch that receives nothing for this long reconnects (and notices a dead server)."""
    postgres_ready_timeout_s: float = 300.0
    """How long PostgreSQL operations wait for a server's Pod to become ready."""

    _state: _ConnectionHolder = field(default_factory=lambda: _ConnectionHolder(), init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        where = self.context or "current-context"
        return f"K8sAnywhereTopology({where}{'/' + self.namespace if self.namespace else ''})"

    def postgresql(self) -> K8sPostgreSQL:
        return K8sPostgreSQL(self, ready_timeout_s=self.postgres_ready_timeout_s)

    async def ensure_ready(self) -> TopologyReport:
        connection = await self._connection()
        version = await self._call("/version", lambda: _server_version(connection))
        facts = {
            "server": connection.server,
            "server_version": version,
            "context": connection.context,
            "namespace": connection.namespace,
        }
        return TopologyReport(self.name, facts)

    # -- K8sClient ---------------------------------------------------------

    async def k8s_apply(
        self,
        manifest: Manifest,
        *,
        field_manager: str,
        dry_run: bool = False,
        force_conflicts: bool = False,
    ) -> dict[str, Any]:
        api_version, kind, name = _identity(manifest)
        connection = await self._connection()
        resource = await self._resource(api_version, kind)
        namespace = connection.namespace_for(resource, manifest.get("metadata", {}).get("namespace"))
        body = _plain(manifest)
        if namespace is not None:
            body["metadata"]["namespace"] = namespace
        else:
            body["metadata"].pop("namespace", None)
        verb = "dry-run apply" if dry_run else "apply"

        def apply() -> dict[str, Any]:
            response = connection.dynamic.server_side_apply(
                resource,
                body=body,
                name=name,
                namespace=namespace,
                field_manager=field_manager,
                force_conflicts=True if force_conflicts else None,
                dry_run="All" if dry_run else None,
                serialize=False,
                _request_timeout=self._timeouts(),
            )
            return _json(response)

        return await self._call(f"{verb} {describe_object(kind, name, namespace)}", apply)

    async def k8s_get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        connection = await self._connection()
        resource = await self._resource(api_version, kind)
        namespace = connection.namespace_for(resource, namespace)

        def get() -> dict[str, Any] | None:
            response = _absent_is_none(
                lambda: connection.dynamic.get(
                    resource, name=name, namespace=namespace, serialize=False, _request_timeout=self._timeouts()
                )
            )
            return None if response is None else _json(response)

        return await self._call(f"read {describe_object(kind, name, namespace)}", get)

    async def k8s_list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        connection = await self._connection()
        resource = await self._resource(api_version, kind)

        def list_() -> list[dict[str, Any]]:
            response = connection.dynamic.get(
                resource,
                namespace=namespace if resource.namespaced else None,
                label_selector=label_selector or None,
                serialize=False,
                _request_timeout=self._timeouts(),
            )
            items: list[dict[str, Any]] = _json(response).get("items") or []
            for item in items:
                # Lists leave out each item's apiVersion and kind; callers want whole objects.
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
            return items

        where = f" in namespace {namespace}" if namespace else ""
        selected = f" with labels {label_selector}" if label_selector else ""
        return await self._call(f"list {kind}{where}{selected}", list_)

    async def k8s_delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> bool:
        connection = await self._connection()
        resource = await self._resource(api_version, kind)
        namespace = connection.namespace_for(resource, namespace)

        def delete() -> bool:
            response = _absent_is_none(
                lambda: connection.dynamic.delete(
                    resource,
                    name=name,
                    namespace=namespace,
                    propagation_policy="Background",
                    serialize=False,
                    _request_timeout=self._timeouts(),
                )
            )
            return response is not None

        return await self._call(f"delete {describe_object(kind, name, namespace)}", delete)

    @asynccontextmanager
    async def k8s_watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        name: str | None = None,
    ) -> AsyncIterator[AsyncIterator[WatchEvent]]:
        connection = await self._connection()
        resource = await self._resource(api_version, kind)
        send, receive = anyio.create_memory_object_stream[WatchEvent | Exception](_WATCH_BUFFER)
        guard = CallGuard()
        pump = _WatchPump(
            connection=connection,
            resource=resource,
            namespace=namespace if resource.namespaced else None,
            label_selector=label_selector,
            name=name,
            timeouts=(min(self.request_timeout_s, 10.0), self.watch_idle_s),
            emit=lambda item: anyio.from_thread.run(send.send, item),
        )
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(guard.run, pump.run)
                try:
                    yield _events(receive, f"watch {kind}")
                finally:
                    pump.stop()
                    guard.abandon()
                    group.cancel_scope.cancel()
                    send.close()
                    receive.close()
        except BaseExceptionGroup as failed:
            # The pump reports its errors through the stream, so the group holds only the
            # consumer's own error (a stream error it re-raised, say): that error, not a group.
            if len(failed.exceptions) == 1:
                raise failed.exceptions[0] from None
            raise

    async def k8s_wait(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        condition: str,
        timeout_s: float,
    ) -> dict[str, Any]:
        connection = await self._connection()
        resource = await self._resource(api_version, kind)
        namespace = connection.namespace_for(resource, namespace)
        what = describe_object(kind, name, namespace)
        last: dict[str, Any] | None = None
        waiting = "does not exist yet"
        try:
            with anyio.fail_after(timeout_s):
                async with self.k8s_watch(api_version, kind, namespace, name=name) as events:
                    async for event in events:
                        if event.name != name:
                            continue
                        if event.type == "DELETED":
                            last, waiting = None, "was deleted"
                            continue
                        last = event.object
                        verdict = judge(last, condition)
                        if verdict.readiness is Readiness.READY:
                            return last
                        waiting = verdict.message
                        if verdict.readiness is Readiness.FAILED:
                            break
        except TimeoutError:
            reasons = [waiting, *await self._pod_reasons(last)]
            raise K8sNotReadyError(f"{what} not {condition} after {timeout_s:g} s", reasons) from None
        reasons = [waiting, *await self._pod_reasons(last)]
        raise K8sNotReadyError(f"{what} cannot become {condition}", reasons)

    # -- K8sPods -------------------------------------------------------------

    async def k8s_namespace(self) -> str:
        return (await self._connection()).namespace

    async def k8s_exec(
        self,
        pod: str,
        command: Sequence[str],
        *,
        namespace: str | None = None,
        container: str | None = None,
        timeout_s: float = 60.0,
        stdin: bytes | None = None,
    ) -> ExecResult:
        connection = await self._connection()
        namespace = namespace or connection.namespace
        what = f"exec {command[0] if command else '?'} in {describe_object('Pod', pod, namespace)}"
        found = await self.k8s_get("v1", "Pod", pod, namespace)
        if found is None:
            raise K8sNotReadyError(f"{what}: the pod does not exist", ["its workload has not created it (yet)"])
        if found.get("status", {}).get("phase") != "Running":
            problem = pod_problems(found) or f"phase {found.get('status', {}).get('phase', 'unknown')}"
            raise K8sNotReadyError(f"{what}: the pod is not running", [problem])
        # Exec never retries: the command may not be idempotent.
        handshake_s = self.request_timeout_s
        return await self._call(
            what, lambda: _exec(connection, what, pod, namespace, list(command), container, timeout_s, handshake_s, stdin), retries=0
        )

    # -- internals ---------------------------------------------------------

    async def _pod_reasons(self, owner: Mapping[str, Any] | None) -> list[str]:
        """Why the pods of a workload are not ready, for the message of a failed wait."""
        if owner is None or owner.get("kind") not in _ROLLOUT_KINDS:
            return []
        labels = owner.get("spec", {}).get("selector", {}).get("matchLabels") or {}
        if not labels:
            return []
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        namespace = owner.get("metadata", {}).get("namespace")
        try:
            pods = await self.k8s_list("v1", "Pod", namespace, selector)
        except K8sError as exc:
            return [f"pods could not be listed: {exc}"]
        if not pods:
            return ["no pods were created"]
        return [problem for pod in pods if (problem := pod_problems(pod)) is not None]

    def _timeouts(self) -> tuple[float, float]:
        """(connect, read) seconds for each request: a server that accepts but never answers fails the read."""
        return (min(self.request_timeout_s, 10.0), self.request_timeout_s)

    async def _connection(self) -> _Connection:
        holder = self._state
        if holder.connection is None:
            await run_guarded(partial(holder.connect, self))
        assert holder.connection is not None
        return holder.connection

    async def _resource(self, api_version: str, kind: str) -> Any:
        connection = await self._connection()
        return await run_guarded(partial(connection.resource, api_version, kind))

    async def _call(self, what: str, call: Callable[[], R], *, retries: int | None = None) -> R:
        """``call()`` in a worker thread, its errors worded; cancelling the caller stops it (see k8s_calls)."""
        endpoint = (await self._connection()).endpoint
        return await run_guarded(partial(endpoint.translated, what, call, retries=retries))


class _ConnectionHolder:
    """The topology's one client, made on first use (it reads files and asks the server)."""

    def __init__(self) -> None:
        self.connection: _Connection | None = None
        self._lock = threading.Lock()

    def connect(self, topology: K8sAnywhereTopology) -> None:
        with self._lock:
            if self.connection is None:
                self.connection = _Connection.open(topology)


class _Connection:
    """The kubernetes client objects, and what the kubeconfig said about where to go."""

    def __init__(self, dynamic: Any, endpoint: _Endpoint, context: str, namespace: str) -> None:
        self.dynamic = dynamic
        self.endpoint = endpoint
        self.configuration = endpoint.configuration
        self.server = endpoint.server
        self.context = context
        self.namespace = namespace
        self._resources: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, topology: K8sAnywhereTopology) -> _Connection:
        from . import transport as k8s_transport

        client = _kube("kubernetes.client")

        configuration = client.Configuration()
        context, namespace = _load_configuration(topology, configuration)
        timeouts = topology._timeouts()
        # Pauses between attempts never exceed one request's timeout, whatever Retry-After says.
        configuration.retries = k8s_transport.retry_policy(topology.retries, timeouts[1], _RETRY_STATUSES)
        api_client = client.ApiClient(configuration)
        k8s_transport.guard_connections(api_client.rest_client.pool_manager)
        endpoint = _Endpoint(configuration.host, timeouts, topology.retries, configuration)
        dynamic = endpoint.translated(
            "discovery", lambda: k8s_transport.dynamic_client(api_client, timeouts), not_ready=True
        )
        return cls(dynamic, endpoint, context, topology.namespace or namespace)

    def namespace_for(self, resource: Any, namespace: str | None) -> str | None:
        if not resource.namespaced:
            return None
        return namespace or self.namespace

    def resource(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        with self._lock:  # the discoverer's cache is not thread-safe
            found = self._resources.get(key)
            if found is None:
                found = self.endpoint.translated(
                    f"discovery of {api_version}", lambda: self._discover(api_version, kind)
                )
                self._resources[key] = found
        return found

    def _discover(self, api_version: str, kind: str) -> Any:
        ResourceNotFoundError = _kube("kubernetes.dynamic.exceptions").ResourceNotFoundError

        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise K8sUnknownKindError(
                f"the API server at {self.server} does not serve kind {kind} in apiVersion {api_version}"
            ) from None


@dataclass(frozen=True)
class _Endpoint:
    """One API server as requests reach it: where, with which deadlines, and how its failures read."""

    server: str
    timeouts: tuple[float, float]
    """(connect, read) seconds of each attempt."""
    retries: int
    configuration: Any = field(repr=False)

    def translated(self, what: str, call: Callable[[], R], *, retries: int | None = None, not_ready: bool = False) -> R:
        """Run a client call, turning the library's errors into K8sError messages that name ``what`` and the server."""
        try:
            return call()
        except Exception as exc:
            error = self.error(what, exc, self.retries if retries is None else retries)
            if error is exc:
                raise
        if not_ready:
            raise TopologyNotReadyError(str(error)) from None
        raise error from None

    def error(self, what: str, exc: Exception, retries: int) -> Exception:
        """``exc`` worded for the user as a K8sError; ``exc`` itself when it is not the client's."""
        import urllib3

        from . import transport as k8s_transport

        ApiException = _kube("kubernetes.client.exceptions").ApiException
        websocket = _kube("websocket")
        where = f"Kubernetes API at {self.server}"
        attempts = f" ({retries + 1} attempts)" if retries else ""
        if isinstance(exc, K8sError):
            return exc
        if isinstance(exc, k8s_transport.NotJsonAnswer):
            return K8sApiError(f"{where}: {what} {exc}: {self.preview(exc.body)}", status=exc.status, reason=exc.reason)
        if isinstance(exc, ApiException):
            return self._api_error(what, exc, retries)
        if isinstance(exc, urllib3.exceptions.MaxRetryError):
            return self._no_answer(what, exc.reason, attempts)
        if isinstance(exc, websocket.WebSocketBadStatusException):
            body = exc.resp_body or b""
            return K8sApiError(
                f"{where}: {what}: the exec websocket was refused with {exc.status_code}: {self.preview(body)}",
                status=int(exc.status_code or 0),
            )
        if isinstance(exc, (urllib3.exceptions.HTTPError, OSError, websocket.WebSocketException)):
            return self._no_answer(what, exc, "")
        return exc

    def preview(self, body: bytes | str) -> str:
        from . import transport as k8s_transport

        return k8s_transport.preview(body, k8s_transport.secrets_of(self.configuration))

    def _no_answer(self, what: str, cause: BaseException | None, attempts: str) -> K8sApiError:
        import urllib3

        websocket = _kube("websocket")
        where = f"Kubernetes API at {self.server}"
        connect_s, read_s = self.timeouts
        if isinstance(cause, urllib3.exceptions.NewConnectionError):  # a subclass of ConnectTimeoutError, oddly
            return K8sApiError(f"{where}: {what} could not connect{attempts}: {_connection_problem(cause)}")
        if isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
            return K8sApiError(f"{where}: {what} could not connect within {connect_s:g} s{attempts}")
        if isinstance(cause, (urllib3.exceptions.TimeoutError, TimeoutError, websocket.WebSocketTimeoutException)):
            return K8sApiError(f"{where}: {what} did not answer within {read_s:g} s{attempts}")
        return K8sApiError(f"{where}: {what} failed{attempts}: {_cause(cause)}")

    def _api_error(self, what: str, exc: Any, retries: int) -> K8sError:
        status = int(getattr(exc, "status", 0) or 0)
        raw = getattr(exc, "body", None)
        body = _status_body(raw)
        reason = str(body.get("reason") or getattr(exc, "reason", "") or "")
        again = f" (still failing after {retries} retries)" if status in _RETRY_STATUSES and retries else ""
        if raw and not body:
            preview = self.preview(raw if isinstance(raw, (bytes, str)) else str(raw))
            return K8sApiError(
                f"Kubernetes API at {self.server}: {what} answered {status} {reason} "
                f"with something that is not JSON: {preview}{again}",
                status=status,
                reason=reason,
            )
        message = str(body.get("message") or reason or "no message")
        text = f"{what}: the API server answered {status} {reason}: {message}{again}"
        if status == 409:
            return K8sConflictError(
                text + "; another field manager owns these fields: change them through it, "
                "or apply with force_conflicts=True to take them over",
                status=status,
                reason=reason,
            )
        return K8sApiError(text, status=status, reason=reason)


class _WatchPump:
    """Runs in a worker thread: reads a watch stream and hands each event to the event loop."""

    def __init__(
        self,
        *,
        connection: _Connection,
        resource: Any,
        namespace: str | None,
        label_selector: str | None,
        name: str | None,
        timeouts: tuple[float, float],
        emit: Callable[[WatchEvent | Exception], None],
    ) -> None:
        self._connection = connection
        # A watch reads with its own timeouts (the idle one), and its errors say so.
        self._endpoint = replace(connection.endpoint, timeouts=timeouts)
        self._resource = resource
        self._namespace = namespace
        self._label_selector = label_selector
        self._field_selector = f"metadata.name={name}" if name else None
        self._timeouts = timeouts
        self._emit = emit
        self._stopped = threading.Event()
        self._response: Any = None

    def stop(self) -> None:
        self._stopped.set()
        response = self._response
        if response is not None:
            response.shutdown()  # unblocks the read this thread is waiting in

    def run(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # the consumer gets it as the stream's error
            if not self._stopped.is_set():
                with _suppress_closed():
                    self._emit(self._endpoint.error(f"watch {self._resource.kind}", exc, self._endpoint.retries))

    def _follow(self) -> None:
        import urllib3

        from .transport import parse_json_text

        iter_resp_lines = _kube("kubernetes.watch.watch").iter_resp_lines

        resource_version: str | None = None
        while not self._stopped.is_set():
            response = self._endpoint.translated(
                f"watch {self._resource.kind}",
                lambda: self._connection.dynamic.request(
                    "get",
                    self._resource.path(namespace=self._namespace),
                    watch=True,
                    label_selector=self._label_selector,
                    field_selector=self._field_selector,
                    resource_version=resource_version,
                    allow_watch_bookmarks=True,
                    serialize=False,
                    _request_timeout=self._timeouts,
                ),
            )
            self._response = response
            try:
                for line in iter_resp_lines(response):
                    if self._stopped.is_set():
                        return
                    resource_version = self._handle(parse_json_text(line), resource_version)
            except (urllib3.exceptions.HTTPError, OSError):
                continue  # idle for watch_idle_s, or the stream broke: reconnect where we were
            except _Expired:
                resource_version = None  # too old to resume: start again from the current state
            finally:
                self._response = None
                response.release_conn()

    def _handle(self, event: dict[str, Any], resource_version: str | None) -> str | None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired
            raise K8sApiError(
                f"watch {self._resource.kind}: {obj.get('reason', 'error')}: {obj.get('message', '')}",
                status=int(obj.get("code") or 0),
                reason=str(obj.get("reason", "")),
            )
        version = obj.get("metadata", {}).get("resourceVersion") or resource_version
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            obj.setdefault("apiVersion", self._resource.group_version)
            obj.setdefault("kind", self._resource.kind)
            with _suppress_closed(stop=self):
                self._emit(WatchEvent(kind, obj))
        return version


class _Expired(Exception):
    """The server no longer has the resource version a watch resumed from (HTTP 410)."""


class _suppress_closed:
    """Ends the pump quietly once the consumer has gone (stream closed, loop finished)."""

    def __init__(self, stop: _WatchPump | None = None) -> None:
        self._stop = stop

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        if isinstance(exc, (anyio.ClosedResourceError, anyio.BrokenResourceError, RuntimeError)):
            if self._stop is not None:
                self._stop._stopped.set()
            return True
        return False


async def _events(receive: MemoryObjectReceiveStream[WatchEvent | Exception], what: str) -> AsyncIterator[WatchEvent]:
    async for item in receive:
        if isinstance(item, Exception):
            raise item
        yield item


def _load_configuration(topology: K8sAnywhereTopology, configuration: Any) -> tuple[str, str]:
    """Fill ``configuration`` from a kubeconfig or the Pod's service account; (context, namespace)."""
    config = _kube("kubernetes.config")
    ConfigException = _kube("kubernetes.config.config_exception").ConfigException

    paths = _kubeconfig_paths(topology.kubeconfig)
    use_cluster = topology.in_cluster
    if use_cluster is None:
        use_cluster = not paths and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    try:
        if use_cluster:
            config.load_incluster_config(client_configuration=configuration)
            namespace = _IN_CLUSTER_NAMESPACE.read_text().strip() if _IN_CLUSTER_NAMESPACE.exists() else "default"
            return "in-cluster", namespace
        if not paths:
            raise TopologyNotReadyError(NO_CLUSTER_HELP)
        config_file = os.pathsep.join(paths)
        config.load_kube_config(
            config_file=config_file, context=topology.context, client_configuration=configuration, persist_config=False
        )
        contexts, active = config.list_kube_config_contexts(config_file=config_file)
    except ConfigException as exc:
        raise TopologyNotReadyError(f"cannot use the Kubernetes configuration: {exc}; {NO_CLUSTER_HELP}") from exc
    chosen = next((c for c in contexts if c["name"] == topology.context), active) if topology.context else active
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return str(chosen["name"]), str(namespace)


def _kubeconfig_paths(explicit: str | None) -> list[str]:
    if explicit is not None:
        if not Path(explicit).expanduser().is_file():
            raise TopologyNotReadyError(f"kubeconfig {explicit} does not exist; {NO_CLUSTER_HELP}")
        return [str(Path(explicit).expanduser())]
    listed = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in listed.split(os.pathsep) if p] or [str(Path("~/.kube/config").expanduser())]
    return [p for p in candidates if Path(p).is_file()]


def _kube(module: str) -> Any:
    """A module of the kubernetes client, imported on first use.

    Through importlib, not an import statement: mypy then does not follow the
    package (126 MB with its models, typed), which would make every type check
    of a score file that imports ``topologies`` take minutes.
    """
    return importlib.import_module(module)


def _server_version(connection: _Connection) -> str:
    response = connection.dynamic.request("get", "/version", serialize=False)  # the client's default deadline applies
    return str(_json(response).get("gitVersion", "unknown"))


def _exec(
    connection: _Connection,
    what: str,
    pod: str,
    namespace: str,
    command: list[str],
    container: str | None,
    timeout_s: float,
    handshake_s: float,
    stdin: bytes | None = None,
) -> ExecResult:
    """``kubectl exec`` over the API's websocket; output and exit code from its channels.

    The request is built by the ApiClient (auth headers included): going
    through CoreV1Api would import its 4 MB module, seconds of CPU on first use.
    The websocket is opened by k8s_transport, with a deadline on its handshake.
    """
    from .transport import run_exec

    client = _kube("kubernetes.client")
    api_client = client.ApiClient(connection.configuration)
    query: list[tuple[str, Any]] = [("command", part) for part in command]
    query += [("stdout", True), ("stderr", True), ("stdin", stdin is not None), ("tty", False)]
    if container:
        query.append(("container", container))
    _, url, headers, _, _ = api_client.param_serialize(
        method="GET",
        resource_path="/api/v1/namespaces/{namespace}/pods/{name}/exec",
        path_params={"namespace": namespace, "name": pod},
        query_params=query,
        header_params={"Accept": "*/*"},
        auth_settings=["BearerToken"],
    )
    channels = run_exec(connection.configuration, url, headers, stdin=stdin, timeout_s=timeout_s, handshake_timeout_s=handshake_s)
    if not channels.finished:
        raise K8sApiError(f"{what}: the command did not finish within {timeout_s:g} s")
    status = _status_body(channels.status)
    if channels.status.strip() and not status:
        preview = connection.endpoint.preview(channels.status)
        raise K8sApiError(f"{what}: the API server ended the exec with a status that is not JSON: {preview}")
    return ExecResult(_exit_code(what, status), _text(channels.stdout), _text(channels.stderr))


def _exit_code(what: str, status: Mapping[str, Any]) -> int:
    """The exit code in an exec's final Status (``Success``, or ``NonZeroExitCode`` with it as a cause)."""
    if not status or status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            code = str(cause.get("message", "1"))
            if not code.isdigit():
                raise K8sApiError(f"{what}: the API server reported an exit code that is not a number: {code!r}")
            return int(code)
    raise K8sApiError(f"{what}: the command could not run: {status.get('message') or status}")


def _text(data: object) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")


def _absent_is_none(call: Callable[[], R]) -> R | None:
    NotFoundError = _kube("kubernetes.dynamic.exceptions").NotFoundError

    try:
        return call()
    except NotFoundError:
        return None


def _status_body(raw: object) -> dict[str, Any]:
    """A Status object sent as an error body; empty when there is none or it is not JSON."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _connection_problem(exc: BaseException) -> str:
    """``[Errno 111] Connection refused`` rather than urllib3's wording around it."""
    return str(exc).rsplit("Failed to establish a new connection: ", 1)[-1]


def _cause(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    return f"{type(exc).__name__}: {exc}"


def _json(response: Any) -> dict[str, Any]:
    """The JSON object of an answer; a non-JSON answer raises k8s_transport.NotJsonAnswer."""
    from .transport import parse_json

    return parse_json(response)


def _identity(manifest: Manifest) -> tuple[str, str, str]:
    metadata = manifest.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    if not (isinstance(api_version, str) and api_version and isinstance(kind, str) and kind):
        raise K8sError(f"manifest needs apiVersion and kind, got apiVersion={api_version!r} kind={kind!r}")
    if not (isinstance(name, str) and name):
        raise K8sError(f"{kind} manifest needs metadata.name")
    return api_version, kind, name


def _plain(value: Any) -> Any:
    """A JSON-ready deep copy: mappings become dicts, tuples become lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return copy.copy(value)
