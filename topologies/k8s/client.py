"""The K8sClient service: one cluster's API through the official client, in worker threads.

:class:`K8sApiClient` is what ``K8sAnywhereTopology.k8s_client()`` returns,
made once per topology. The official ``kubernetes`` client, being
synchronous, is only ever called from worker threads, so the event loop never
blocks on the API server, and a cancelled call stops (see calls.py). Objects
are handled unstructured through its DynamicClient: what the server serves is
discovered, not compiled in, so custom resources work too.
"""

from __future__ import annotations

import builtins
import copy
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.from_thread

from capabilities.errors import K8sApiError, K8sError, K8sNotReadyError
from capabilities.k8s import ExecResult, Manifest, WatchEvent, describe_object

from .calls import CallGuard, run_guarded
from .connection import Connection, ConnectionHolder, K8sSettings, kube, json_object, server_version, status_body
from .readiness import Readiness, judge, pod_problems
from .watch import WatchPump, watch_events

R = TypeVar("R")

_WATCH_BUFFER = 256
_ROLLOUT_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


class K8sApiClient:
    """A Kubernetes API server reached with the user's credentials: provides ``K8sPodClientService``.

    The connection (kubeconfig, discovery) is made on the first call and kept
    for the client's life. Requests that fail with 429/5xx or time out are
    retried ``settings.retries`` times (every request sent is idempotent:
    reads, server-side apply, delete; exec never retries). At most
    ``settings.concurrent_requests`` requests are in flight at once, each on
    a connection of a pool of that size; watches are not counted.
    """

    def __init__(self, settings: K8sSettings) -> None:
        self.settings = settings
        self._holder = ConnectionHolder()
        # Every request waits here for one of the pool's connections: many objects applied
        # at once never open more than ``concurrent_requests`` connections to the server.
        self._in_flight = anyio.CapacityLimiter(settings.concurrent_requests)

    async def facts(self) -> dict[str, str]:
        """Connect, ask the server's version, and say where requests go (the topology's readiness report)."""
        connection = await self._connection()
        version = await self._call("/version", lambda: server_version(connection))
        return {
            "server": connection.server,
            "server_version": version,
            "context": connection.context,
            "namespace": connection.namespace,
        }

    # -- K8sClientService ----------------------------------------------------

    async def apply(
        self,
        manifest: Manifest,
        *,
        field_manager: str,
        dry_run: bool = False,
        force_conflicts: bool = False,
    ) -> dict[str, Any]:
        what, apply = await self._apply_request(manifest, field_manager, dry_run, force_conflicts)
        return await self._call(what, apply)

    async def apply_all(
        self, manifests: Sequence[Manifest], *, field_manager: str, force_conflicts: bool = False
    ) -> builtins.list[dict[str, Any] | K8sError]:
        """Server-side apply every manifest, ``concurrent_requests`` at a time (provides ``K8sBulkApply``).

        A few worker threads take the objects in turn, each holding one of the
        client's request slots, instead of one thread hand-off per object: that
        hand-off cost about as much CPU as the request itself (adr/0105).
        Cancelling the caller stops every worker (each runs under its CallGuard).
        """
        results: list[dict[str, Any] | K8sError | None] = [None] * len(manifests)
        requests: list[tuple[int, str, Callable[[], dict[str, Any]]]] = []
        for index, manifest in enumerate(manifests):
            try:
                what, apply = await self._apply_request(manifest, field_manager, False, force_conflicts)
            except K8sError as exc:
                results[index] = exc  # an unknown kind, a manifest without a name
                continue
            requests.append((index, what, apply))
        endpoint = (await self._connection()).endpoint
        pending = iter(requests)
        taking = threading.Lock()

        def work() -> None:
            while True:
                with taking:
                    request = next(pending, None)
                if request is None:
                    return
                index, what, apply = request
                try:
                    results[index] = endpoint.translated(what, apply)
                except K8sError as exc:
                    results[index] = exc

        async def worker() -> None:
            async with self._in_flight:
                await run_guarded(work)

        try:
            async with anyio.create_task_group() as group:
                for _ in range(min(self.settings.concurrent_requests, len(requests))):
                    group.start_soon(worker)
        except BaseExceptionGroup as failed:
            raise _first_leaf(failed) from None  # not a K8sError (a bug): that error, not a group
        return [result if result is not None else K8sError("not applied") for result in results]

    async def _apply_request(
        self, manifest: Manifest, field_manager: str, dry_run: bool, force_conflicts: bool
    ) -> tuple[str, Callable[[], dict[str, Any]]]:
        """What the apply of ``manifest`` is called in messages, and the blocking call that sends it."""
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

        query = [("fieldManager", field_manager)]
        if force_conflicts:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        timeouts = self._timeouts()

        def apply() -> dict[str, Any]:
            from .transport import server_side_apply

            return server_side_apply(
                connection.dynamic.client, resource, name=name, namespace=namespace, body=body, query=query, timeouts=timeouts
            )

        return f"{verb} {describe_object(kind, name, namespace)}", apply

    async def get(
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
            return None if response is None else json_object(response)

        return await self._call(f"read {describe_object(kind, name, namespace)}", get)

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
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
            items: list[dict[str, Any]] = json_object(response).get("items") or []
            for item in items:
                # Lists leave out each item's apiVersion and kind; callers want whole objects.
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
            return items

        where = f" in namespace {namespace}" if namespace else ""
        selected = f" with labels {label_selector}" if label_selector else ""
        return await self._call(f"list {kind}{where}{selected}", list_)

    async def delete(
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
    async def watch(
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
        pump = WatchPump(
            connection=connection,
            resource=resource,
            namespace=namespace if resource.namespaced else None,
            label_selector=label_selector,
            name=name,
            timeouts=(min(self.settings.request_timeout_s, 10.0), self.settings.watch_idle_s),
            emit=lambda item: anyio.from_thread.run(send.send, item),
        )
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(guard.run, pump.run)
                try:
                    yield watch_events(receive, f"watch {kind}")
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

    async def wait(
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
                async with self.watch(api_version, kind, namespace, name=name) as events:
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

    # -- K8sPodClientService: namespace and exec -----------------------------

    async def namespace(self) -> str:
        return (await self._connection()).namespace

    async def exec(
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
        found = await self.get("v1", "Pod", pod, namespace)
        if found is None:
            raise K8sNotReadyError(f"{what}: the pod does not exist", ["its workload has not created it (yet)"])
        if found.get("status", {}).get("phase") != "Running":
            problem = pod_problems(found) or f"phase {found.get('status', {}).get('phase', 'unknown')}"
            raise K8sNotReadyError(f"{what}: the pod is not running", [problem])
        # Exec never retries: the command may not be idempotent.
        handshake_s = self.settings.request_timeout_s
        return await self._call(
            what, lambda: _exec(connection, what, pod, namespace, list(command), container, timeout_s, handshake_s, stdin), retries=0
        )

    # -- internals ---------------------------------------------------------

    async def _pod_reasons(self, owner: Mapping[str, Any] | None) -> builtins.list[str]:
        """Why the pods of a workload are not ready, for the message of a failed wait."""
        if owner is None or owner.get("kind") not in _ROLLOUT_KINDS:
            return []
        labels = owner.get("spec", {}).get("selector", {}).get("matchLabels") or {}
        if not labels:
            return []
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        namespace = owner.get("metadata", {}).get("namespace")
        try:
            pods = await self.list("v1", "Pod", namespace, selector)
        except K8sError as exc:
            return [f"pods could not be listed: {exc}"]
        if not pods:
            return ["no pods were created"]
        return [problem for pod in pods if (problem := pod_problems(pod)) is not None]

    def _timeouts(self) -> tuple[float, float]:
        return self.settings.timeouts()

    async def _connection(self) -> Connection:
        holder = self._holder
        if holder.connection is None:
            await run_guarded(partial(holder.connect, self.settings))
        assert holder.connection is not None
        return holder.connection

    async def _resource(self, api_version: str, kind: str) -> Any:
        connection = await self._connection()
        known = connection.known_resource(api_version, kind)
        if known is not None:
            return known  # discovered before: no worker thread for a dict lookup
        return await run_guarded(partial(connection.resource, api_version, kind))

    async def _call(self, what: str, call: Callable[[], R], *, retries: int | None = None) -> R:
        """``call()`` in a worker thread, its errors worded; cancelling the caller stops it (see calls.py)."""
        endpoint = (await self._connection()).endpoint
        async with self._in_flight:
            return await run_guarded(partial(endpoint.translated, what, call, retries=retries))


def _exec(
    connection: Connection,
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

    client = kube("kubernetes.client")
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
    status = status_body(channels.status)
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


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _absent_is_none(call: Callable[[], R]) -> R | None:
    NotFoundError = kube("kubernetes.dynamic.exceptions").NotFoundError

    try:
        return call()
    except NotFoundError:
        return None


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
    if type(value) is str:
        return value  # most leaves: immutable, and the Mapping check below is an ABC's (slow)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return copy.copy(value)
