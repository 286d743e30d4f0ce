"""Per-step timings of a rolling update, for ``bench/rolling.py --trace``.

Wraps the async methods that cross to the engine, the balancer and the host
(their classes, for the length of the benchmark) and sums the time spent in
each per apply. Calls nest (``balance`` runs host commands), so the sums of
different rows overlap; the rows of one layer do not.
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Spans = collections.defaultdict[str, list[float]]


def _wrapped(spans: Spans, label: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            spans[label].append(time.perf_counter() - started)

    return timed


@contextmanager
def traced(targets: dict[type, tuple[str, ...]]) -> Iterator[Spans]:
    """Time every call of the named async methods of each class while the block runs."""
    spans: Spans = collections.defaultdict(list)
    saved: list[tuple[type, str, Any]] = []
    for cls, names in targets.items():
        for name in names:
            original = cls.__dict__[name]
            saved.append((cls, name, original))
            setattr(cls, name, _wrapped(spans, f"{cls.__name__}.{name}", original))
    try:
        yield spans
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)


def report(spans: Spans) -> str:
    """One line per method: calls, total and median seconds, by total."""
    rows = sorted(spans.items(), key=lambda item: -sum(item[1]))
    lines = []
    for label, times in rows:
        ordered = sorted(times)
        lines.append(
            f"    {label:<44} {len(times):>4} calls {sum(times):7.3f} s  median {ordered[len(ordered) // 2] * 1000:7.1f} ms"
        )
    spans.clear()
    return "\n".join(lines)
