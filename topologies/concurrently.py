"""Independent calls made at once (members, files, requests to one host): over SSH each is a round trip."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio

R = TypeVar("R")


async def on_all(items: Sequence[Any], call: Callable[[Any], Awaitable[R]]) -> list[R]:
    """Run ``call`` on every item concurrently; results in order."""
    results: dict[int, R] = {}

    async def one(index: int, item: Any) -> None:
        results[index] = await call(item)

    try:
        async with anyio.create_task_group() as group:
            for index, item in enumerate(items):
                group.start_soon(one, index, item)
    except BaseExceptionGroup as group_error:
        # One readable error for the report: the first member's.
        first = group_error.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from group_error
    return [results[index] for index in range(len(items))]
