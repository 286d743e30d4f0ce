"""One call on each part of a composed topology (members, shards), concurrently, failures named by label."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio

from harmony_py.errors import MemberError, one_error

R = TypeVar("R")


async def on_each(labels: Sequence[str], items: Sequence[Any], call: Callable[[Any], Awaitable[R]]) -> list[R]:
    """Run ``call`` on every item concurrently; results in order.

    Every item runs to its end (one failing does not cancel the others), so a
    failure names each one that failed, by its label, one line each.
    """
    results: list[R | None] = [None] * len(items)
    failures: dict[int, MemberError] = {}

    async def one(index: int, item: Any) -> None:
        try:
            results[index] = await call(item)
        except Exception as exc:
            failures[index] = MemberError(labels[index], exc)

    async with anyio.create_task_group() as group:
        for index, item in enumerate(items):
            group.start_soon(one, index, item)
    if failures:
        raise one_error([failures[index] for index in sorted(failures)])
    return results  # type: ignore[return-value]  # every index was filled: none failed
