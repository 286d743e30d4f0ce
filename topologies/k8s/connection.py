"""The connection to one Kubernetes API server: its configuration, the client objects, and how failures read.

The official ``kubernetes`` client is imported lazily (:func:`kube`), so that
``import harmony_py`` and ``import topologies`` stay free of it, and mypy does
not follow it. A :class:`ConnectionHolder` makes the :class:`Connection` on
first use, from a kubeconfig or the Pod's service account, as kubectl does;
an :class:`Endpoint` words the client's errors as :class:`K8sError` messages
naming the server and what was being done.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from capabilities.errors import K8sApiError, K8sConflictError, K8sError, K8sUnknownKindError
from harmony_py.errors import TopologyNotReadyError

R = TypeVar("R")

RETRY_STATUSES = (429, 500, 502, 503, 504)
CREDENTIAL_CHECK_S = 1.0
"""How often the kubeconfig's credentials are checked for expiry (the client would check before every request)."""
_IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

NO_CLUSTER_HELP = (
    "no Kubernetes cluster is configured: set KUBECONFIG to a kubeconfig file "
    "(or create ~/.kube/config), or pass K8sAnywhereTopology(kubeconfig=..., context=...); "
    "inside a Pod the in-cluster service account is used automatically"
)


@dataclass(frozen=True)
class K8sSettings:
    """Where the cluster is and how requests to it behave (the topology's fields, see K8sAnywhereTopology)."""

    context: str | None = None
    kubeconfig: str | None = None
    in_cluster: bool | None = None
    namespace: str | None = None
    request_timeout_s: float = 30.0
    retries: int = 3
    watch_idle_s: float = 30.0
    concurrent_requests: int = 8
    """Requests in flight at once, and the connections kept open for them (the urllib3 pool's size)."""

    def timeouts(self) -> tuple[float, float]:
        """(connect, read) seconds for each request: a server that accepts but never answers fails the read."""
        return (min(self.request_timeout_s, 10.0), self.request_timeout_s)


class ConnectionHolder:
    """A client's one connection, made on first use (it reads files and asks the server)."""

    def __init__(self) -> None:
        self.connection: Connection | None = None
        self._lock = threading.Lock()

    def connect(self, settings: K8sSettings) -> None:
        with self._lock:
            if self.connection is None:
                self.connection = Connection.open(settings)


class Connection:
    """The kubernetes client objects, and what the kubeconfig said about where to go."""

    def __init__(self, dynamic: Any, endpoint: Endpoint, context: str, namespace: str) -> None:
        self.dynamic = dynamic
        self.endpoint = endpoint
        self.configuration = endpoint.configuration
        self.server = endpoint.server
        self.context = context
        self.namespace = namespace
        self._resources: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: K8sSettings) -> Connection:
        from . import transport as k8s_transport

        client = kube("kubernetes.client")

        configuration = client.Configuration()
        context, namespace = load_configuration(settings, configuration)
        # One pooled connection per request the client lets run at once (K8sApiClient bounds them):
        # fewer would open and drop a connection per request beyond the pool's size.
        configuration.connection_pool_maxsize = settings.concurrent_requests
        if configuration.refresh_api_key_hook is not None:
            configuration.refresh_api_key_hook = _at_most_every(CREDENTIAL_CHECK_S, configuration.refresh_api_key_hook)
        timeouts = settings.timeouts()
        # Pauses between attempts never exceed one request's timeout, whatever Retry-After says.
        configuration.retries = k8s_transport.retry_policy(settings.retries, timeouts[1], RETRY_STATUSES)
        api_client = client.ApiClient(configuration)
        k8s_transport.guard_connections(api_client.rest_client.pool_manager)
        endpoint = Endpoint(configuration.host, timeouts, settings.retries, configuration)
        dynamic = endpoint.translated(
            "discovery", lambda: k8s_transport.dynamic_client(api_client, timeouts), not_ready=True
        )
        return cls(dynamic, endpoint, context, settings.namespace or namespace)

    def namespace_for(self, resource: Any, namespace: str | None) -> str | None:
        if not resource.namespaced:
            return None
        return namespace or self.namespace

    def known_resource(self, api_version: str, kind: str) -> Any | None:
        """The resource of a kind already discovered, or None: no request, no thread needed."""
        return self._resources.get((api_version, kind))

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
        ResourceNotFoundError = kube("kubernetes.dynamic.exceptions").ResourceNotFoundError

        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise K8sUnknownKindError(
                f"the API server at {self.server} does not serve kind {kind} in apiVersion {api_version}"
            ) from None


@dataclass(frozen=True)
class Endpoint:
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

        ApiException = kube("kubernetes.client.exceptions").ApiException
        websocket = kube("websocket")
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

        websocket = kube("websocket")
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
        body = status_body(raw)
        reason = str(body.get("reason") or getattr(exc, "reason", "") or "")
        again = f" (still failing after {retries} retries)" if status in RETRY_STATUSES and retries else ""
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


def load_configuration(settings: K8sSettings, configuration: Any) -> tuple[str, str]:
    """Fill ``configuration`` from a kubeconfig or the Pod's service account; (context, namespace)."""
    config = kube("kubernetes.config")
    ConfigException = kube("kubernetes.config.config_exception").ConfigException

    paths = kubeconfig_paths(settings.kubeconfig)
    use_cluster = settings.in_cluster
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
            config_file=config_file, context=settings.context, client_configuration=configuration, persist_config=False
        )
        contexts, active = config.list_kube_config_contexts(config_file=config_file)
    except ConfigException as exc:
        raise TopologyNotReadyError(f"cannot use the Kubernetes configuration: {exc}; {NO_CLUSTER_HELP}") from exc
    chosen = next((c for c in contexts if c["name"] == settings.context), active) if settings.context else active
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return str(chosen["name"]), str(namespace)


def _at_most_every(seconds: float, refresh: Callable[[Any], None]) -> Callable[[Any], None]:
    """``refresh`` (the kubeconfig's credential hook), skipped when it ran less than ``seconds`` ago.

    The client calls the hook before every request, and each call re-applies the
    whole kubeconfig to the configuration (its ``host`` setter reads the proxy
    environment): about a third of the client's CPU per request when many
    objects are applied at once. Skipping it for a second is safe: the loader
    treats a token as expired five minutes before it is
    (``EXPIRY_SKEW_PREVENTION_DELAY``), so a credential checked a second ago is
    still valid for minutes.
    """
    lock = threading.Lock()
    last_run = [float("-inf")]
    hook = [refresh]

    def throttled(configuration: Any) -> None:
        with lock:
            now = time.monotonic()
            if now - last_run[0] >= seconds:
                hook[0](configuration)
                last_run[0] = now
                # The loader's hook installs itself again each time it runs: keep this one in front.
                if configuration.refresh_api_key_hook is not throttled:
                    hook[0] = configuration.refresh_api_key_hook
                    configuration.refresh_api_key_hook = throttled

    return throttled


def kubeconfig_paths(explicit: str | None) -> list[str]:
    if explicit is not None:
        if not Path(explicit).expanduser().is_file():
            raise TopologyNotReadyError(f"kubeconfig {explicit} does not exist; {NO_CLUSTER_HELP}")
        return [str(Path(explicit).expanduser())]
    listed = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in listed.split(os.pathsep) if p] or [str(Path("~/.kube/config").expanduser())]
    return [p for p in candidates if Path(p).is_file()]


def kube(module: str) -> Any:
    """A module of the kubernetes client, imported on first use.

    Through importlib, not an import statement: mypy then does not follow the
    package (126 MB with its models, typed), which would make every type check
    of a score file that imports ``topologies`` take minutes.
    """
    return importlib.import_module(module)


def server_version(connection: Connection) -> str:
    response = connection.dynamic.request("get", "/version", serialize=False)  # the client's default deadline applies
    return str(json_object(response).get("gitVersion", "unknown"))




def status_body(raw: object) -> dict[str, Any]:
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


def json_object(response: Any) -> dict[str, Any]:
    """The JSON object of an answer; a non-JSON answer raises k8s_transport.NotJsonAnswer."""
    from .transport import parse_json

    return parse_json(response)
