"""The maestro: fixes the topology type, checks capabilities, plans and applies."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Generic, TypeVar, overload

import anyio
from typing_extensions import Self

from .capability_check import capability_gaps, describe_gap
from .errors import (
    HarmonyError,
    MissingCapabilityError,
    ScoreValueError,
    TopologyNotReadyError,
    describe,
    prefixed,
)
from .events import (
    EventHandler,
    RunFinished,
    TopologyPreparing,
    TopologyReady,
    ignore_event,
)
from .fanout import GroupRun
from .graph import Graph, build_graph
from .group import TopologyGroup, check_parallel, raise_open_files_limit
from .observations import asked_ahead
from .report import Phase, PhaseTimings, RunReport, ScoreReport
from .run import Run
from .score import Score
from .topology import Topology, TopologyReport, close_topology

T = TypeVar("T", bound=Topology)

DEFAULT_SCORE_TIMEOUT_S = 600.0
DEFAULT_PLAN_CONCURRENCY = 8
DEFAULT_APPLY_CONCURRENCY = 4


class _AddedScores(Generic[T]):
    """The scores added to a maestro, one batch per ``add()`` call, and their graph.

    A group's members share one: scores added to the group reach every member,
    and the graph is built once for all of them.
    """

    def __init__(self) -> None:
        self.batches: list[tuple[Score[T], ...]] = []
        self._graph: Graph[Score[T]] | None = None

    def add(self, scores: tuple[Score[T], ...]) -> None:
        self.batches.append(scores)
        self._graph = None

    def graph(self) -> Graph[Score[T]]:
        # Scores are immutable and only add() changes the batches: build once per change.
        if self._graph is None:
            self._graph = build_graph(self.batches)
        return self._graph


class Maestro(Generic[T]):
    """Applies scores to one topology, each after the scores it depends on.

    ``Maestro(topology)`` fixes ``T``; ``add`` then accepts only ``Score[T]``,
    so mypy rejects a score whose capability the topology lacks. The same rule
    is checked again at run time, before anything is touched.

    Order (ADR 0050): the scores of one ``add(a, b, c)`` call apply in that
    order; those of separate ``add()`` calls are independent and run
    concurrently (at most ``apply_concurrency``); a score holding a
    :class:`~harmony_py.Ref` waits for its producer. A failure skips only the
    scores depending on it.

    ``Maestro(TopologyGroup(members))`` fixes ``T`` to the members' type and
    applies the scores to every member (see :mod:`harmony_py.fanout`).
    Use it as ``async with maestro:`` (or call :meth:`aclose`) to close the
    connections topologies keep for the run.
    """

    @overload
    def __init__(
        self,
        topology: TopologyGroup[T],
        *,
        plan_concurrency: int = DEFAULT_PLAN_CONCURRENCY,
        apply_concurrency: int = DEFAULT_APPLY_CONCURRENCY,
        score_timeout_s: float | None = DEFAULT_SCORE_TIMEOUT_S,
    ) -> None: ...

    @overload
    def __init__(
        self,
        topology: T,
        *,
        plan_concurrency: int = DEFAULT_PLAN_CONCURRENCY,
        apply_concurrency: int = DEFAULT_APPLY_CONCURRENCY,
        score_timeout_s: float | None = DEFAULT_SCORE_TIMEOUT_S,
    ) -> None: ...

    def __init__(
        self,
        topology: T | TopologyGroup[T],
        *,
        plan_concurrency: int = DEFAULT_PLAN_CONCURRENCY,
        apply_concurrency: int = DEFAULT_APPLY_CONCURRENCY,
        score_timeout_s: float | None = DEFAULT_SCORE_TIMEOUT_S,
    ) -> None:
        if plan_concurrency < 1:
            raise ScoreValueError(f"plan_concurrency must be at least 1, got {plan_concurrency}")
        if apply_concurrency < 1:
            raise ScoreValueError(f"apply_concurrency must be at least 1, got {apply_concurrency}")
        # Library users get what the CLI does: the soft limit at the hard one, before the budget is computed.
        raise_open_files_limit()
        self._apply_limiter = anyio.CapacityLimiter(apply_concurrency)
        self._added: _AddedScores[T] = _AddedScores()
        self._plan_limiter = anyio.CapacityLimiter(plan_concurrency)
        self._score_timeout_s = score_timeout_s
        self._ready: TopologyReport | None = None
        self._connect_s = 0.0
        self._group: GroupRun[T] | None = None
        if isinstance(topology, TopologyGroup):
            members: tuple[T, ...] = topology.members
            children = [
                Maestro._member(member, self._added, plan_concurrency, apply_concurrency, score_timeout_s) for member in members
            ]
            self._group = GroupRun(topology.name, children, topology.effective_parallel())
            self._topology = members[0]
        else:
            self._topology = topology

    @staticmethod
    def _member(
        topology: T, added: _AddedScores[T], plan_concurrency: int, apply_concurrency: int, timeout_s: float | None
    ) -> Maestro[T]:
        child = Maestro(
            topology, plan_concurrency=plan_concurrency, apply_concurrency=apply_concurrency, score_timeout_s=timeout_s
        )
        child._added = added
        return child

    @property
    def topology(self) -> T:
        """The topology; for a group, its first member (see :attr:`members`)."""
        return self._topology

    @property
    def members(self) -> tuple[T, ...]:
        """Every topology this maestro applies to: the group's members, or the one topology."""
        if self._group is None:
            return (self._topology,)
        return tuple(child.topology for child in self._group.children)

    @property
    def connect_s(self) -> float:
        """Seconds the topology's ``ensure_ready`` took (or took to fail); 0.0 before it ran."""
        return self._connect_s

    @property
    def is_group(self) -> bool:
        return self._group is not None

    @property
    def parallel(self) -> int:
        """How many members run at once (1 for a single topology)."""
        return self._group.parallel if self._group is not None else 1

    @parallel.setter
    def parallel(self, value: int) -> None:
        check_parallel(value)
        if self._group is not None:
            self._group.parallel = value

    async def aclose(self) -> None:
        """Close what the topologies keep open for the run (SSH connections); safe to repeat."""
        if self._group is not None:
            await self._group.aclose()
        else:
            await close_topology(self._topology)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def scores(self) -> tuple[Score[T], ...]:
        """The scores added, in the order added (composites as such, not their parts)."""
        return tuple(score for batch in self._added.batches for score in batch)

    def add(self, *scores: Score[T]) -> Self:
        """Add scores that apply in the order given; those of another ``add()`` call are independent of them.

        A score also waits for the producer of every Ref it holds (ADR 0050).
        """
        for score in scores:
            if not isinstance(score, Score):
                raise ScoreValueError(
                    f"Maestro.add() takes scores, got {type(score).__name__}: {score!r}"
                )
        if scores:
            self._added.add(scores)
        return self

    def graph(self) -> Graph[Score[T]]:
        """The dependency graph of the scores added so far; raises on a cycle or a dangling Ref."""
        return self._added.graph()

    def check_capabilities(self) -> None:
        """Raise :class:`MissingCapabilityError` naming every score the topology cannot serve."""
        problems: list[str] = []
        seen: set[tuple[type, type]] = set()
        scores = [node.score for node in self.graph().nodes]
        for topology in self.members:
            for score in scores:
                # Members of one class answer alike: check each pair of classes once.
                if (type(topology), type(score)) in seen:
                    continue
                seen.add((type(topology), type(score)))
                capability = score.required_capability()
                gaps = capability_gaps(topology, capability)
                if gaps:
                    problems.append(describe_gap(type(score).__name__, capability, topology.name, gaps))
        if problems:
            raise MissingCapabilityError(problems)

    async def prepare(self, on_event: EventHandler = ignore_event) -> TopologyReport:
        """Run the topology's ``ensure_ready`` once, then the capability check."""
        if self._group is not None:
            raise ScoreValueError(
                "prepare() is for one topology; a group prepares each member inside plan() and apply()"
            )
        if self._ready is None:
            on_event(TopologyPreparing(self._topology.name))
            started = time.monotonic()
            try:
                self._ready = await self._topology.ensure_ready()
            except HarmonyError:
                raise
            except Exception as exc:
                raise TopologyNotReadyError(prefixed(self._topology.name, describe(exc))) from exc
            finally:
                self._connect_s = time.monotonic() - started
            on_event(TopologyReady(self._ready))
        self.check_capabilities()
        return self._ready

    async def plan(self, on_event: EventHandler = ignore_event) -> RunReport:
        """Observe the topology and report what apply would change. Mutates nothing.

        Scores are planned concurrently and reported in the order written. A
        score holding Refs is planned once their producers are: with their
        values when they have nothing to change, else reported PENDING with
        those inputs "known after apply".

        For a group: every member is planned; a member that fails is reported
        in the result (``hosts``), never raised, so the others' plans stand.
        """
        graph = self.graph()  # first: a cycle or a dangling Ref is refused before any topology is contacted
        if self._group is not None:
            self.check_capabilities()
            return await self._group.plan(on_event)
        connected = self._ready is not None
        # Connecting reads the host's facts in a round trip that can answer the plan's observations too.
        with contextlib.nullcontext() if connected else asked_ahead(self._topology, (node.score for node in graph.nodes)):
            ready = await self.prepare(on_event)
            run = Run(self._topology, self._topology.name, graph, on_event, self._plan_limiter, self._score_timeout_s)
            started = time.monotonic()
            await run.plan()
        timings = PhaseTimings(connect_s=0.0 if connected else self._connect_s, observe_s=time.monotonic() - started)
        return self._finish(Phase.PLAN, ready, run.ordered_reports(), on_event, timings)

    async def apply(self, on_event: EventHandler = ignore_event, *, plan: RunReport | None = None) -> RunReport:
        """Converge every score, each after those it depends on (ADR 0050).

        Scores of one ``add()`` call go in order; independent ones run
        concurrently (at most ``apply_concurrency``). When a score fails,
        only the scores depending on it are skipped, each saying why.

        For a group, each member independently. Given the group's ``plan``,
        members whose plan failed are not contacted again and members whose
        plan found nothing to change keep that result. A ``plan`` also tells
        the apply's batch of observations which scores it can answer (those
        found unchanged ahead of the first change); every score is still
        observed afresh before its result is reported.
        """
        graph = self.graph()  # first: a cycle or a dangling Ref is refused before any topology is contacted
        if self._group is not None:
            self.check_capabilities()
            return await self._group.apply(on_event, plan)
        connected = self._ready is not None
        ready = await self.prepare(on_event)
        run = Run(self._topology, self._topology.name, graph, on_event, self._apply_limiter, self._score_timeout_s)
        started = time.monotonic()
        await run.apply(plan)
        timings = PhaseTimings(connect_s=0.0 if connected else self._connect_s, change_s=time.monotonic() - started)
        return self._finish(Phase.APPLY, ready, run.ordered_reports(), on_event, timings)

    def _finish(
        self,
        phase: Phase,
        ready: TopologyReport,
        reports: Sequence[ScoreReport],
        on_event: EventHandler,
        timings: PhaseTimings,
    ) -> RunReport:
        run = RunReport(phase, self._topology.name, tuple(reports), facts=dict(ready.facts), timings=timings)
        on_event(RunFinished(run))
        return run

