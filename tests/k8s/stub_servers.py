"""Misbehaving API servers, real TCP servers on 127.0.0.1: one that never answers, one that answers what a test says.

Ports are chosen below the kernel's ephemeral range (32768-60999), where the
suite's other servers expect no outgoing connection to land.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.ports import free_port

Answer = tuple[int, str, bytes]
"""(status, content type, body)."""

TOKEN = "s3cr3t-bearer-token"
"""The bearer token of the kubeconfigs written here: messages must never show it."""


def write_kubeconfig(path: Path, url: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stub", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": TOKEN}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "tester"}}],
        "current-context": "stub",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def _bind(bind: Callable[[int], Any]) -> Any:
    for _ in range(200):
        try:
            return bind(free_port())
        except OSError:
            continue  # taken since the check: try another
    raise RuntimeError("no free port to bind")


class SilentServer:
    """Accepts every connection, reads what the client sends, and never answers.

    ``accepted`` is set once a client connected; ``client_closed`` once a
    client closed its connection (so a test sees an abandoned call let go).
    """

    def __init__(self) -> None:
        self._listener: socket.socket = _bind(self._listen)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = threading.Event()
        self.client_closed = threading.Event()
        self._stopping = threading.Event()
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        listener = socket.socket()
        try:
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        listener.settimeout(0.1)
        return listener

    def __enter__(self) -> SilentServer:
        self._start(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        with self._lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in self._threads:
            thread.join(timeout=10)
        self._listener.close()
        for connection in self._connections:
            connection.close()

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self._connections.append(connection)
            self.accepted.set()
            self._start(self._drain, connection)

    def _drain(self, connection: socket.socket) -> None:
        try:
            while connection.recv(65536):
                pass
        except OSError:
            pass
        if not self._stopping.is_set():
            self.client_closed.set()


class HttpStub:
    """An HTTP server whose answers a function decides: ``answer(method, path)``."""

    def __init__(self, answer: Callable[[str, str], Answer]) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, content_type, body = answer(self.command, self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                stub.requests.append(f"{self.command} {self.path}")

            do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.requests: list[str] = []
        self._server: ThreadingHTTPServer = _bind(lambda port: ThreadingHTTPServer(("127.0.0.1", port), Handler))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> HttpStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def json_answer(document: Any, status: int = 200) -> Answer:
    return status, "application/json", json.dumps(document).encode()


def discovery(path: str) -> Answer | None:
    """What a healthy API server answers to discovery (core v1 with ConfigMaps only), or None for other paths."""
    path = path.split("?", 1)[0]
    if path == "/version":
        return json_answer({"major": "1", "minor": "30", "gitVersion": "v1.30.0"})
    if path == "/apis":
        return json_answer({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
    if path == "/api/v1":
        configmaps = {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
                      "verbs": ["get", "list", "watch", "patch", "delete"]}  # fmt: skip
        return json_answer({"kind": "APIResourceList", "groupVersion": "v1", "resources": [configmaps]})
    return None
