"""A small HTTP server the tests own, serving a directory to this machine and to the test hosts."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not logged to the test output."""


@dataclass(frozen=True)
class WebServer:
    root: Path
    address: str
    port: int

    def url(self, name: str) -> str:
        return f"http://{self.address}:{self.port}/{name}"


@contextlib.contextmanager
def serving(root: Path, address: str) -> Iterator[WebServer]:
    """Serve ``root`` on ``address`` at a free port below 32768, in a thread; stopped on exit."""
    port = free_port(address)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer((address, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebServer(root, address, port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
