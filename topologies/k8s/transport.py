"""How K8sAnywhereTopology talks to an API server: deadlines, stoppable calls, answers that must be JSON.

Imported on first use (it imports urllib3; ``import topologies`` stays light).
The official client leaves three holes this module closes:

- Its requests have no timeout unless each call passes ``_request_timeout``, and
  the DynamicClient's discovery (``/version``, ``/apis``, ``/api/v1``...) passes
  none. Setting a timeout on the urllib3 pool does not help: the client hands
  ``timeout=None`` to every request, which urllib3 reads as "wait for ever".
  :func:`dynamic_client` therefore gives every request of the DynamicClient,
  discovery included, a default ``(connect, read)`` timeout.
- An answer that is not JSON (a proxy's HTML error page) became a raw
  ``JSONDecodeError``, or a string where discovery expected a mapping. Here it
  is :class:`NotJsonAnswer`, which the topology words with the server's name and
  the answer's first bytes, masked.
- Nothing could stop a call from outside. Connections and retry pauses here
  consult the :class:`~topologies.k8s.calls.CallGuard` of the call, so that a
  call its caller gave up on closes its socket and stops retrying.
"""

from __future__ import annotations

import importlib
import json
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

from .calls import current_guard

_PREVIEW_CHARS = 120
_MASKED = (
    # An echoed header: the scheme and credential after "Authorization:".
    (re.compile(r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*)(?:(?:bearer|basic|negotiate|digest)\s+)?[^\s<>\"',;&]+"), r"\1***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s<>\"',;&]+"), r"\1 ***"),
    (re.compile(r"(?i)\b(token|password|passwd|secret|api[-_]?key)([\"']?\s*[:=]\s*[\"']?)[^\s<>\"',;&]+"), r"\1\2***"),
)
_V4, _V5 = "v4.channel.k8s.io", "v5.channel.k8s.io"
_STDIN, _STDOUT, _STDERR, _ERROR, _CLOSE = 0, 1, 2, 3, 255


class NotJsonAnswer(Exception):
    """The API server answered something that is not the JSON object asked for.

    Deliberately not a ``ValueError``: the client's discovery turns those into a
    misleading "Host value ... should start with https://", or ignores them.
    """

    def __init__(self, status: int, reason: str, body: bytes | str) -> None:
        super().__init__(f"answered {status} {reason} with something that is not JSON")
        self.status = status
        self.reason = reason
        self.body = body


def parse_json(response: Any) -> dict[str, Any]:
    """The JSON object a urllib3 response holds, or :class:`NotJsonAnswer`."""
    return parse_json_text(response.data, int(getattr(response, "status", 0) or 0), str(getattr(response, "reason", "") or ""))


def parse_json_text(data: bytes | str, status: int = 200, reason: str = "OK") -> dict[str, Any]:
    try:
        parsed = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        raise NotJsonAnswer(status, reason, data) from None
    if not isinstance(parsed, dict):
        raise NotJsonAnswer(status, reason, data)
    return parsed


def preview(body: bytes | str, secrets: tuple[str, ...] = ()) -> str:
    """The first characters of an answer, on one line, printable, with credentials masked.

    An error page may echo the request, ``Authorization`` header included; a
    hostile one may hold terminal escape sequences. Neither reaches the user.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text[: _PREVIEW_CHARS * 8].split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    for pattern, replacement in _MASKED:
        text = pattern.sub(replacement, text)
    text = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in text)
    if not text:
        return "an empty body"
    return repr(text[:_PREVIEW_CHARS] + ("..." if len(text) > _PREVIEW_CHARS else ""))


def secrets_of(configuration: Any) -> tuple[str, ...]:
    """The credentials a client configuration sends, to keep them out of messages."""
    found: list[str] = []
    for value in (getattr(configuration, "api_key", None) or {}).values():
        if isinstance(value, str):
            found.append(value.split(" ", 1)[1] if value.lower().startswith(("bearer ", "basic ")) else value)
    password = getattr(configuration, "password", None)
    if isinstance(password, str):
        found.append(password)
    return tuple(s for s in found if len(s) >= 4)  # masking a 1-3 character "secret" would garble the text


# -- retries ----------------------------------------------------------------


class GuardedRetry(urllib3.Retry):
    """urllib3's retries, which stop when the call is abandoned and never pause longer than ``backoff_max``.

    ``backoff_max`` also caps a ``Retry-After`` header: a server asking for an
    hour would otherwise hold the call that long.
    """

    def increment(self, *args: Any, **kwargs: Any) -> GuardedRetry:
        guard = current_guard()
        if guard is not None:
            guard.check()
        return super().increment(*args, **kwargs)

    def sleep(self, response: Any = None) -> None:
        pause: float | None = None
        if self.respect_retry_after_header and response is not None:
            pause = self.get_retry_after(response)
        if not pause:
            pause = self.get_backoff_time()
        pause = min(pause, self.backoff_max)
        guard = current_guard()
        if guard is None:
            time.sleep(pause)
        else:
            guard.pause(pause)


def retry_policy(retries: int, max_pause_s: float, statuses: tuple[int, ...]) -> GuardedRetry:
    """``retries`` more attempts on connection errors, timeouts and ``statuses``; every request we send is idempotent."""
    return GuardedRetry(
        total=retries,
        backoff_factor=0.1,
        backoff_max=max_pause_s,
        status_forcelist=statuses,
        allowed_methods=None,  # every request we send is idempotent, PATCH and DELETE included
        raise_on_status=False,
        respect_retry_after_header=True,
    )


# -- connections --------------------------------------------------------------


def guard_connections(pool_manager: Any) -> None:
    """Make every connection ``pool_manager`` opens stoppable by the call using it.

    Each pool class (plain, TLS, SOCKS...) is wrapped, not replaced, so what
    the client chose for proxies and certificates stays as it was.
    """
    pool_manager.pool_classes_by_scheme = {
        scheme: _guarded_pool(pool_class) for scheme, pool_class in pool_manager.pool_classes_by_scheme.items()
    }


def _guarded_pool(base: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    connection_class = _guarded_connection(base.ConnectionCls)

    def _put_conn(self: HTTPConnectionPool, conn: HTTPConnection | None) -> None:
        if conn is not None:
            guard = conn.__dict__.pop("_harmony_guard", None)
            if guard is not None:
                guard.release(conn)
        base._put_conn(self, conn)

    return type(f"Guarded{base.__name__}", (base,), {"ConnectionCls": connection_class, "_put_conn": _put_conn})


def _guarded_connection(base: Any) -> Any:
    def _hold(self: HTTPConnection) -> Any:
        guard = current_guard()
        if guard is not None:
            guard.hold(self, partial(_shut_down, self))
            self.__dict__["_harmony_guard"] = guard
        return guard

    def connect(self: HTTPConnection) -> None:
        guard = _hold(self)
        base.connect(self)
        if guard is not None:
            # Abandoned while connecting, before there was a socket to shut down: stop now.
            guard.check()

    def request(self: HTTPConnection, *args: Any, **kwargs: Any) -> None:
        _hold(self)
        base.request(self, *args, **kwargs)

    return type(f"Guarded{base.__name__}", (base,), {"connect": connect, "request": request})


def _shut_down(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        # The plain socket's shutdown, also for TLS: SSLSocket.shutdown would reset its
        # state under the thread reading from it. The reader then sees end of file.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


# -- the DynamicClient ----------------------------------------------------------


def dynamic_client(api_client: Any, timeouts: tuple[float, float]) -> Any:
    """A DynamicClient whose every request, discovery included, has ``timeouts`` and must answer JSON.

    Discovery is kept in memory: the stock discoverer reads and writes a cache
    file in the shared /tmp.
    """
    dynamic = importlib.import_module("kubernetes.dynamic")
    discovery = importlib.import_module("kubernetes.dynamic.discovery")
    resource_instance = importlib.import_module("kubernetes.dynamic.resource").ResourceInstance
    base = dynamic.DynamicClient

    def request(self: Any, method: str, path: str, body: Any = None, **params: Any) -> Any:
        params.setdefault("_request_timeout", timeouts)
        serialize = params.pop("serialize", True)
        serializer = params.pop("serializer", resource_instance)
        response = base.request(self, method, path, body, serialize=False, **params)
        if not serialize:
            return response
        return serializer(self, parse_json(response))

    memory_discoverer = type("MemoryDiscoverer", (discovery.LazyDiscoverer,), {"_write_cache": lambda self: None})
    client_class = type("DeadlineDynamicClient", (base,), {"request": request})
    no_file = "/nonexistent/harmony-py-k8s-discovery.json"
    return client_class(api_client, cache_file=no_file, discoverer=memory_discoverer)


# -- server-side apply -------------------------------------------------------------


def server_side_apply(
    api_client: Any,
    resource: Any,
    *,
    name: str,
    namespace: str | None,
    body: Mapping[str, Any],
    query: list[tuple[str, str]],
    timeouts: tuple[float, float],
) -> dict[str, Any]:
    """One server-side apply PATCH, sent straight through the client's connection pool.

    The request is what ``DynamicClient.server_side_apply`` sends (same URL,
    headers, credentials, pool, retries and guarded connections), without its
    generic request building, which walks the whole body to "sanitize" it and
    costs about as much CPU as the HTTP exchange itself: applying many objects
    concurrently is bound by that CPU (see adr/0105). A status outside 2xx
    raises the client's ``ApiException``, which the connection's Endpoint words.
    """
    from urllib.parse import quote, urlencode

    path = resource.path(name=quote(name, safe=""), namespace=quote(namespace, safe="") if namespace else None)
    headers = {**api_client.default_headers, "Accept": "application/json", "Content-Type": "application/apply-patch+yaml"}
    if api_client.cookie:
        headers["Cookie"] = api_client.cookie
    queries = list(query)
    api_client.update_params_for_auth(headers, queries, ["BearerToken"], path, "PATCH", body)
    url = f"{api_client.configuration.host}{path}?{urlencode(queries)}"
    response = api_client.rest_client.pool_manager.request(
        "PATCH",
        url,
        body=json.dumps(body).encode(),
        headers=headers,
        timeout=urllib3.Timeout(connect=timeouts[0], read=timeouts[1]),
        preload_content=True,
    )
    if not 200 <= response.status <= 299:
        api_exception = importlib.import_module("kubernetes.client.exceptions").ApiException
        raise api_exception(status=response.status, reason=response.reason, body=response.data.decode("utf-8", "replace"))
    return parse_json(response)


# -- exec -------------------------------------------------------------------------


@dataclass
class ExecChannels:
    """What an exec's websocket carried: output, errors and the final Status (channel 3)."""

    stdout: bytes
    stderr: bytes
    status: bytes
    finished: bool
    """False when the command was still running at the deadline."""


def run_exec(
    configuration: Any,
    url: str,
    headers: Mapping[str, str],
    *,
    stdin: bytes | None,
    timeout_s: float,
    handshake_timeout_s: float,
) -> ExecChannels:
    """Run an exec over the API's websocket until the server closes it or ``timeout_s`` passes.

    The websocket is opened here rather than by the client's ``WSClient``,
    which waits for the server's handshake without any timeout. The channel
    protocol is the small part of ``v4``/``v5.channel.k8s.io`` exec needs.
    """
    websocket = importlib.import_module("websocket")
    ws_client = importlib.import_module("kubernetes.stream.ws_client")
    guard = current_guard()
    connection = websocket.WebSocket(sslopt=_ssl_options(configuration, url), skip_utf8_validation=False)
    if guard is not None:
        guard.hold(connection, partial(_shut_down_websocket, connection))
    options: dict[str, Any] = {"header": _websocket_headers(headers), "timeout": handshake_timeout_s}
    if configuration.proxy or configuration.proxy_headers:
        options = ws_client.websocket_proxycare(options, configuration, url, headers)
    channels: dict[int, bytearray] = {_STDOUT: bytearray(), _STDERR: bytearray(), _ERROR: bytearray()}
    deadline = time.monotonic() + timeout_s
    try:
        connection.connect(ws_client.get_websocket_url(url), **options)
        if stdin is not None:
            connection.send_binary(bytes([_STDIN]) + stdin)
        while (remaining := deadline - time.monotonic()) > 0:
            connection.settimeout(remaining)
            try:
                opcode, frame = connection.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                break
            except websocket.WebSocketConnectionClosedException:
                return _finished(channels)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return _finished(channels)
            data = bytes(frame.data or b"")
            if opcode in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT) and data and data[0] in channels:
                channels[data[0]] += data[1:]
        return ExecChannels(bytes(channels[_STDOUT]), bytes(channels[_STDERR]), b"", finished=False)
    finally:
        if guard is not None:
            guard.release(connection)
        connection.shutdown()


def _finished(channels: Mapping[int, bytearray]) -> ExecChannels:
    return ExecChannels(bytes(channels[_STDOUT]), bytes(channels[_STDERR]), bytes(channels[_ERROR]), finished=True)


def _websocket_headers(headers: Mapping[str, str]) -> list[str]:
    lowered = {key.lower(): value for key, value in headers.items()}
    sent = [f"sec-websocket-protocol: {lowered.get('sec-websocket-protocol', f'{_V5},{_V4}')}"]
    if "authorization" in lowered:
        sent.append(f"authorization: {lowered['authorization']}")
    return sent


def _ssl_options(configuration: Any, url: str) -> dict[str, Any]:
    """The websocket's TLS settings, as the client's own ``create_websocket`` derives them."""
    import ssl

    if url.startswith(("https://", "wss://")) and configuration.verify_ssl:
        certifi = importlib.import_module("certifi")
        options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": configuration.ssl_ca_cert or certifi.where()}
        if configuration.assert_hostname is not None:
            options["check_hostname"] = configuration.assert_hostname
    else:
        options = {"cert_reqs": ssl.CERT_NONE}
    if configuration.cert_file:
        options["certfile"] = configuration.cert_file
    if configuration.key_file:
        options["keyfile"] = configuration.key_file
    if getattr(configuration, "tls_server_name", None):
        options["server_hostname"] = configuration.tls_server_name
    return options


def _shut_down_websocket(connection: Any) -> None:
    sock = connection.sock
    if sock is not None:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
