"""How many SSH handshakes are in flight at once: from this process, and to each server (adr/0107).

A handshake (TCP, version exchange, key exchange, authentication) is the
costly part of a connection for both sides. Two bounds apply:

- this process runs at most ``CONNECT_CONCURRENCY`` at once, whatever the
  servers: more only queue on the controller's CPU;
- each server (address and port) gets at most a *window* of them. sshd drops
  connections beyond ``MaxStartups`` unauthenticated ones (10 by default, then
  30 % of new ones, all beyond 100): many members behind one address (a
  bastion, a test fleet, a host reached under several labels) would see most
  of their first attempts dropped. The window starts below sshd's default and
  halves when the server drops a handshake (once per round, as TCP's
  congestion window does). Until the first drop it grows by one per handshake
  that got through; after it, by one per window of them (TCP's congestion
  avoidance): a server that dropped at some size is not pushed back to it at
  once, so the window settles just under what the server accepts, and the
  others wait here instead of being dropped there.

Waiting for a slot is not counted against a host's connect timeout: the
timeout is about the host, the queue is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio

CONNECT_CONCURRENCY = 32
"""Handshakes this process runs at once, to all servers together."""
SERVER_WINDOW = 8
"""Handshakes to one server at once at first and at most: below sshd's default ``MaxStartups`` of 10."""


@dataclass
class _ServerWindow:
    """The handshakes in flight to one server, at most ``size``."""

    size: int = SERVER_WINDOW
    in_flight: int = 0
    round: int = 0
    """Bumped at each halving: a drop of a handshake started before it was already answered."""
    drops: int = 0
    """Handshakes the server dropped so far (for tests and --debug)."""
    accepted: int = 0
    """Handshakes that got through so far: a server that accepted any is up, and a drop is its load shedding."""
    credit: int = 0
    """Handshakes through since the window last grew, once it has halved: it grows by one per window of them."""
    waiting: deque[anyio.Event] = field(default_factory=deque)

    async def enter(self) -> int:
        while self.in_flight >= self.size:
            ready = anyio.Event()
            self.waiting.append(ready)
            try:
                await ready.wait()
            except BaseException:
                if ready.is_set():
                    self._wake()  # woken but cancelled: the slot goes to the next one
                else:
                    self.waiting.remove(ready)
                raise
        self.in_flight += 1
        return self.round

    def leave(self, started_in_round: int, *, dropped: bool) -> None:
        self.in_flight -= 1
        if dropped:
            self.drops += 1
            if started_in_round == self.round:
                self.size = max(1, self.size // 2)
                self.round += 1
                self.credit = 0
        else:
            self.accepted += 1
            self._grow()
        self._wake()

    def _grow(self) -> None:
        if self.size >= SERVER_WINDOW:
            return
        if self.round == 0:
            self.size += 1
            return
        self.credit += 1
        if self.credit >= self.size:
            self.size += 1
            self.credit = 0

    def _wake(self) -> None:
        # As many as may now enter; each checks again when it runs.
        for _ in range(max(0, self.size - self.in_flight)):
            if not self.waiting:
                break
            self.waiting.popleft().set()


class ConnectGate:
    """The bounds of one event loop: a process-wide limiter and a window per server."""

    def __init__(self, concurrency: int = CONNECT_CONCURRENCY) -> None:
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.windows: dict[tuple[str, int], _ServerWindow] = {}

    @contextlib.asynccontextmanager
    async def handshake(self, host: str, port: int) -> AsyncIterator[Attempt]:
        """A slot for one handshake to ``host:port``; say ``attempt.dropped = True`` when the server dropped it."""
        window = self.windows.setdefault((host, port), _ServerWindow())
        started_in_round = await window.enter()
        attempt = Attempt()
        try:
            async with self.limiter:
                yield attempt
        finally:
            window.leave(started_in_round, dropped=attempt.dropped)
            attempt.shed = attempt.dropped and window.accepted > 0

    def window_size(self, host: str, port: int) -> int:
        """The current window of ``host:port`` (for tests and --debug)."""
        window = self.windows.get((host, port))
        return window.size if window is not None else SERVER_WINDOW

    def drops(self, host: str, port: int) -> int:
        """How many handshakes ``host:port`` dropped so far."""
        window = self.windows.get((host, port))
        return window.drops if window is not None else 0


@dataclass
class Attempt:
    """One handshake in its slot; ``dropped`` tells the window how it ended."""

    dropped: bool = False
    shed: bool = False
    """Set by the gate: dropped by a server that has let other handshakes through (it is up and shedding load)."""


_gates: dict[asyncio.AbstractEventLoop, ConnectGate] = {}


def connect_gate() -> ConnectGate:
    """The gate of the running event loop (its primitives belong to that loop; a gate of an ended loop is dropped)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        _gates.clear()
        gate = _gates[loop] = ConnectGate()
    return gate
