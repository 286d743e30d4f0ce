"""A client that keeps sending requests through the balancer and counts what failed."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType


def get(port: int, path: str = "/version", timeout_s: float = 5.0, *, address: str = "127.0.0.1") -> tuple[int, str]:
    """One request on a new connection: the status and the body."""
    connection = http.client.HTTPConnection(address, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode().strip()
    finally:
        connection.close()


@dataclass
class LoadClient:
    """Requests ``/version`` from ``address:port`` in a loop from a thread until the ``with`` block ends."""

    port: int
    address: str = "127.0.0.1"
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def requests(self) -> int:
        return sum(self.answers.values()) + len(self.failures)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = get(self.port, address=self.address)
            except OSError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if status == 200:
                self.answers[body] += 1
            else:
                self.failures.append(f"HTTP {status}: {body[:80]}")

    def __enter__(self) -> LoadClient:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
