"""Cost of the dependency graph: building it, and scheduling scores that do nothing.

    python bench/outputs_graph.py --scores 2000 --runs 5

Three shapes of N trivial scores (each interpret returns NOOP at once, so only the
maestro's own work is timed) on LocalhostTopology:

- chain: one ``add()`` call (every existing file: a sequence);
- independent: N ``add()`` calls (every score its own branch, concurrency 4);
- refs: N/2 producers and N/2 consumers each holding a Ref, resolved at apply.

With ``--sequential-baseline`` it times only the chain shape, so the same script
can run against a checkout without the graph (PYTHONPATH=/work/main).
Times are the best of ``--runs`` (the machine is shared: the minimum is the least disturbed).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capabilities import CommandRunner  # noqa: E402
from harmony_py import Change, Interpret, Maestro, Outcome, Score  # noqa: E402
from topologies import LocalhostTopology  # noqa: E402


@dataclass(frozen=True)
class Still(Score[CommandRunner]):
    n: int

    @property
    def name(self) -> str:
        return f"Still({self.n})"

    def interpret(self) -> Interpret[CommandRunner]:
        return StillInterpret()


class StillInterpret(Interpret[CommandRunner]):
    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return []

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.noop()


def chain(n: int) -> Maestro[LocalhostTopology]:
    return Maestro(LocalhostTopology()).add(*(Still(i) for i in range(n)))


def independent(n: int) -> Maestro[LocalhostTopology]:
    maestro = Maestro(LocalhostTopology())
    for i in range(n):
        maestro.add(Still(i))
    return maestro


def with_refs(n: int) -> Maestro[LocalhostTopology]:
    from harmony_py import Produces, ProducingInterpret, Ref

    @dataclass(frozen=True)
    class Maker(Score[CommandRunner], Produces[int]):
        n: int

        @property
        def name(self) -> str:
            return f"Maker({self.n})"

        def interpret(self) -> MakerInterpret:
            return MakerInterpret(self.n)

    class MakerInterpret(ProducingInterpret[CommandRunner, int]):
        def __init__(self, n: int) -> None:
            self.n = n

        async def plan(self, topology: CommandRunner) -> Sequence[Change]:
            return []

        async def apply(self, topology: CommandRunner) -> Outcome:
            return Outcome.noop()

        async def output(self, topology: CommandRunner) -> int | None:
            return self.n

    @dataclass(frozen=True)
    class Taker(Score[CommandRunner]):
        value: int | Ref[int]
        n: int

        @property
        def name(self) -> str:
            return f"Taker({self.n})"

        def interpret(self) -> Interpret[CommandRunner]:
            return StillInterpret()

    maestro = Maestro(LocalhostTopology())
    for i in range(n // 2):
        maker = Maker(i)
        maestro.add(maker).add(Taker(maker.output(), i))
    return maestro


def timed(build: Callable[[int], Maestro[LocalhostTopology]], n: int, runs: int) -> tuple[float, float]:
    applies: list[float] = []
    graphs: list[float] = []
    for _ in range(runs):
        maestro = build(n)
        started = time.perf_counter()
        graph = getattr(maestro, "graph", None)
        if graph is not None:
            graph()
        graphs.append(time.perf_counter() - started)
        started = time.perf_counter()
        report = anyio.run(maestro.apply)
        applies.append(time.perf_counter() - started)
        assert report.ok and len(report.scores) == n
    return min(graphs), min(applies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scores", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sequential-baseline", action="store_true")
    args = parser.parse_args()
    shapes: dict[str, Callable[[int], Maestro[LocalhostTopology]]] = {"chain": chain}
    if not args.sequential_baseline:
        shapes.update(independent=independent, refs=with_refs)
    for label, build in shapes.items():
        graph_s, apply_s = timed(build, args.scores, args.runs)
        per_score_us = apply_s / args.scores * 1e6
        print(f"{label:12} graph {graph_s * 1e3:8.1f} ms   apply {apply_s * 1e3:8.1f} ms   ({per_score_us:.0f} µs/score)")


if __name__ == "__main__":
    main()
