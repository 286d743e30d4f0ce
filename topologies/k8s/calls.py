"""Blocking Kubernetes client calls that the event loop can give up on, and that then stop.

The official client is synchronous, so each call runs in a worker thread, and a
thread cannot be killed. When the caller is cancelled (Ctrl-C, a score's
timeout) the loop stops waiting at once (``abandon_on_cancel``), and the
abandoned thread is made to end too: the :class:`CallGuard` it runs under
shuts down the sockets the call holds, so a read blocked on a silent server
returns, and it refuses every further attempt, retry pause or connection the
call would make. Without that, an abandoned thread would keep the process
alive until its socket timeout ran out, once per retry.

No kubernetes or urllib3 import here: the transport (topologies/k8s/transport.py)
registers its connections with :func:`current_guard`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

R = TypeVar("R")

_local = threading.local()


class CallAbandoned(Exception):
    """Raised inside an abandoned call's thread so that it unwinds; nobody is waiting for it."""


class CallGuard:
    """One blocking call (or watch) in a worker thread, which its caller may abandon."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = threading.Event()
        self._held: dict[object, Callable[[], None]] = {}

    @property
    def abandoned(self) -> bool:
        return self._abandoned.is_set()

    async def run(self, function: Callable[[], R]) -> R:
        """``function()`` in a worker thread under this guard; cancelling the caller abandons it."""

        def guarded() -> R:
            _local.guard = self
            try:
                return function()
            finally:
                _local.guard = None
                with self._lock:
                    self._held.clear()

        try:
            return await anyio.to_thread.run_sync(guarded, abandon_on_cancel=True)
        except BaseException:
            self.abandon()  # cancelled (or failed): whatever the thread still holds is closed
            raise

    def abandon(self) -> None:
        """Close what the call holds now, and make it stop at its next step."""
        with self._lock:
            self._abandoned.set()
            closers = list(self._held.values())
            self._held.clear()
            # Closed under the lock: a connection released meanwhile could otherwise be
            # closed after another call took it from the pool.
            for close in closers:
                _quietly(close)

    def hold(self, key: object, close: Callable[[], None]) -> None:
        """The call is using ``key`` (a connection); ``close`` unblocks it. Raises once abandoned."""
        with self._lock:
            if self._abandoned.is_set():
                raise CallAbandoned("the caller gave up on this call")
            self._held[key] = close

    def release(self, key: object) -> None:
        """The call no longer uses ``key`` (it went back to the pool)."""
        with self._lock:
            self._held.pop(key, None)

    def check(self) -> None:
        """Raise :class:`CallAbandoned` if the caller gave up (before a retry, say)."""
        if self._abandoned.is_set():
            raise CallAbandoned("the caller gave up on this call")

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (a retry's back-off) unless abandoned meanwhile."""
        if seconds > 0 and self._abandoned.wait(seconds):
            raise CallAbandoned("the caller gave up on this call")
        self.check()


def current_guard() -> CallGuard | None:
    """The guard of the call running in this thread, if any."""
    guard: CallGuard | None = getattr(_local, "guard", None)
    return guard


async def run_guarded(function: Callable[[], R]) -> R:
    """``function()`` in a worker thread that stops soon after its caller is cancelled."""
    return await CallGuard().run(function)


def _quietly(close: Callable[[], None]) -> None:
    try:
        close()
    except OSError:
        pass  # already closed: nothing left to unblock
