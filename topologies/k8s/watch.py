"""A watch stream read in a worker thread and handed, event by event, to the event loop.

The pump follows the stream with its own (idle) timeouts, reconnects where it
was when the stream breaks or idles, starts again from the current state when
the server no longer has the version it resumed from (HTTP 410), and reports
its errors through the stream, so the consumer raises them.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from capabilities.errors import K8sApiError
from capabilities.k8s import WatchEvent

from .connection import Connection, kube


class WatchPump:
    """Runs in a worker thread: reads a watch stream and hands each event to the event loop."""

    def __init__(
        self,
        *,
        connection: Connection,
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

        iter_resp_lines = kube("kubernetes.watch.watch").iter_resp_lines

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

    def __init__(self, stop: WatchPump | None = None) -> None:
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


async def watch_events(receive: MemoryObjectReceiveStream[WatchEvent | Exception], what: str) -> AsyncIterator[WatchEvent]:
    async for item in receive:
        if isinstance(item, Exception):
            raise item
        yield item
