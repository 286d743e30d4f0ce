"""A lock for objects that outlive one event loop (a topology used by several ``anyio.run`` calls)."""

from __future__ import annotations

import asyncio


class LoopLock:
    """An asyncio lock per running loop: an asyncio lock belongs to one loop, so each run gets its own.

    Only the current loop's lock is kept; a lock of a loop that ended is dropped.
    """

    def __init__(self) -> None:
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def __call__(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {loop: (lock := asyncio.Lock())}
        return lock
