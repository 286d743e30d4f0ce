"""Properties of the graph over generated files: any arrangement of producers and consumers into
add() calls either is a cycle, rejected before anything runs, or applies with every producer before
its consumers, then re-applies as all NOOP with an empty plan."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harmony_py import Maestro, Score, ScoreState, ScoreValueError, Secret
from harmony_py.events import Event, ScoreStarted
from topologies import LocalhostTopology

from .outputs_scores import ClientScore, ServerScore

# An item is a server ("s", i) or a client ("c", i) of server i % servers; items are split into add() calls.
arrangements = st.integers(min_value=1, max_value=3).flatmap(
    lambda servers: st.tuples(
        st.just(servers),
        st.permutations([("s", i) for i in range(servers)] + [("c", i) for i in range(servers + 1)]),
        st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=7),
    )
)


def _batches(items: list[tuple[str, int]], sizes: list[int]) -> list[list[tuple[str, int]]]:
    batches, start = [], 0
    for size in sizes:
        if start < len(items):
            batches.append(items[start : start + size])
            start += size
    if start < len(items):
        batches.append(items[start:])
    return batches


def _has_cycle(batches: list[list[tuple[str, int]]], servers: int) -> bool:
    """The oracle, by hand: each item waits for the one before it in its batch, a client for its server."""
    waits: dict[tuple[str, int], set[tuple[str, int]]] = {}
    for batch in batches:
        for position, item in enumerate(batch):
            waits[item] = {batch[position - 1]} if position else set()
            if item[0] == "c":
                waits[item].add(("s", item[1] % servers))
    state: dict[tuple[str, int], str] = {}

    def visit(item: tuple[str, int]) -> bool:
        if state.get(item) == "done":
            return False
        if state.get(item) == "open":
            return True
        state[item] = "open"
        found = any(visit(other) for other in waits[item])
        state[item] = "done"
        return found

    return any(visit(item) for item in waits)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrangement=arrangements)
def test_any_arrangement_is_a_named_cycle_or_converges_in_dependency_order(
    arrangement: tuple[int, list[tuple[str, int]], list[int]],
) -> None:
    servers_count, items, sizes = arrangement
    batches = _batches(items, sizes)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        servers = {i: ServerScore(f"{root}/s{i}.json", 7000 + i, Secret(f"p{i}")).named(f"s{i}") for i in range(servers_count)}

        def score(item: tuple[str, int]) -> Score[LocalhostTopology]:
            kind, i = item
            if kind == "s":
                return servers[i]
            return ClientScore(f"{root}/c{i}.json", servers[i % servers_count].output()).named(f"c{i}")

        maestro = Maestro(LocalhostTopology())
        for batch in batches:
            maestro.add(*(score(item) for item in batch))
        cyclic = _has_cycle(batches, servers_count)
        event("a cycle" if cyclic else "no cycle")
        started: list[str] = []

        def record(event: Event) -> None:
            if isinstance(event, ScoreStarted):
                started.append(event.identity)

        if cyclic:
            with pytest.raises(ScoreValueError, match="dependency cycle: "):
                anyio.run(maestro.apply, record)
            assert started == [] and not list(root.iterdir())
            return
        first = anyio.run(maestro.apply, record)
        assert first.ok and all(s.state is ScoreState.CHANGED for s in first.scores)
        for kind, i in items:
            if kind == "c":
                assert started.index(f"s{i % servers_count}") < started.index(f"c{i}")
        assert all(s.state is ScoreState.UNCHANGED for s in anyio.run(maestro.apply).scores)
        assert not anyio.run(maestro.plan).has_changes
