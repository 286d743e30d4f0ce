"""The maestro: fixes the topology type, checks capabilities, plans and applies."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Generic, TypeVar, overload

import anyio
from typing_extensions import Self

from .capability_check import capability_gaps, describe_gap
from .errors import HarmonyError, MissingCapabilityError, ScoreValueError, TopologyNotReadyError
from .events import (
    EventHandler,
    RunFinished,
    ScoreFinished,
    ScoreStarted,
    TopologyPreparing,
    TopologyReady,
    ignore_event,
)
from .fanout import GroupRun
from .group import TopologyGroup, check_parallel
from .outcome import Change, InterpretStatus, Outcome
from .report import Phase, RunReport, ScoreReport, ScoreState
from .score import Score
from .topology import Topology, TopologyReport, close_topology

T = TypeVar("T", bound=Topology)

DEFAULT_SCORE_TIMEOUT_S = 600.0
DEFAULT_PLAN_CONCURRENCY = 8

_STATE_OF = {
    InterpretStatus.SUCCESS: ScoreState.CHANGED,
    InterpretStatus.NOOP: ScoreState.UNCHANGED,
    InterpretStatus.FAILURE: ScoreState.FAILED,
    InterpretStatus.SKIPPED: ScoreState.SKIPPED,
}


class Maestro(Generic[T]):
    """Applies scores to one topology, in the order they were added.

    ``Maestro(topology)`` fixes ``T``; ``add`` then accepts only ``Score[T]``,
    so mypy rejects a score whose capability the topology lacks. The same rule
    is checked again at run time, before anything is touched.

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
        score_timeout_s: float | None = DEFAULT_SCORE_TIMEOUT_S,
    ) -> None: ...

    @overload
    def __init__(
        self,
        topology: T,
        *,
        plan_concurrency: int = DEFAULT_PLAN_CONCURRENCY,
        score_timeout_s: float | None = DEFAULT_SCORE_TIMEOUT_S,
    ) -> None: ...

    def __init__(
        self,
        topology: T | TopologyGroup[T],
        *,
        plan_concurrency: int = DEFAULT_PLAN_CONCURRENCY,
        score_timeout_s: float | None = DEFAULT_SCORE_TIMEOUT_S,
    ) -> None:
        if plan_concurrency < 1:
            raise ScoreValueError(f"plan_concurrency must be at least 1, got {plan_concurrency}")
        self._scores: list[Score[T]] = []
        self._plan_limiter = anyio.CapacityLimiter(plan_concurrency)
        self._score_timeout_s = score_timeout_s
        self._ready: TopologyReport | None = None
        self._group: GroupRun[T] | None = None
        if isinstance(topology, TopologyGroup):
            members: tuple[T, ...] = topology.members
            children = [
                Maestro._member(member, self._scores, plan_concurrency, score_timeout_s) for member in members
            ]
            self._group = GroupRun(topology.name, children, topology.effective_parallel())
            self._topology = members[0]
        else:
            self._topology = topology

    @staticmethod
    def _member(topology: T, scores: list[Score[T]], plan_concurrency: int, timeout_s: float | None) -> Maestro[T]:
        child = Maestro(topology, plan_concurrency=plan_concurrency, score_timeout_s=timeout_s)
        # The same list: scores added to the group later reach every member.
        child._scores = scores
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
        return tuple(self._scores)

    def add(self, *scores: Score[T]) -> Self:
        for score in scores:
            if not isinstance(score, Score):
                raise ScoreValueError(
                    f"Maestro.add() takes scores, got {type(score).__name__}: {score!r}"
                )
        self._scores.extend(scores)
        return self

    def check_capabilities(self) -> None:
        """Raise :class:`MissingCapabilityError` naming every score the topology cannot serve."""
        problems: list[str] = []
        seen: set[tuple[type, type]] = set()
        for topology in self.members:
            for score in self._scores:
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
            try:
                self._ready = await self._topology.ensure_ready()
            except HarmonyError:
                raise
            except Exception as exc:
                raise TopologyNotReadyError(f"{self._topology.name}: {exc}") from exc
            on_event(TopologyReady(self._ready))
        self.check_capabilities()
        return self._ready

    async def plan(self, on_event: EventHandler = ignore_event) -> RunReport:
        """Observe the topology and report what apply would change. Mutates nothing.

        For a group: every member is planned; a member that fails is reported
        in the result (``hosts``), never raised, so the others' plans stand.
        """
        if self._group is not None:
            self.check_capabilities()
            return await self._group.plan(on_event)
        ready = await self.prepare(on_event)
        total = len(self._scores)
        reports: list[ScoreReport | None] = [None] * total
        emitted = 0

        def emit_in_order() -> None:
            # Plans run concurrently but are reported in the order the user wrote them.
            nonlocal emitted
            while emitted < total and (report := reports[emitted]) is not None:
                on_event(ScoreFinished(Phase.PLAN, emitted, total, report))
                emitted += 1

        async def plan_one(index: int, score: Score[T]) -> None:
            async with self._plan_limiter:
                reports[index] = await self._plan_score(index, score, on_event)
            emit_in_order()

        async with anyio.create_task_group() as group:
            for index, score in enumerate(self._scores):
                group.start_soon(plan_one, index, score)
        return self._finish(Phase.PLAN, ready, [r for r in reports if r is not None], on_event)

    async def apply(self, on_event: EventHandler = ignore_event, *, plan: RunReport | None = None) -> RunReport:
        """Converge every score in order; after a failure the rest are skipped.

        For a group, each member independently. Given the group's ``plan``,
        members whose plan failed are not contacted again and members whose
        plan found nothing to change keep that result.
        """
        if self._group is not None:
            self.check_capabilities()
            return await self._group.apply(on_event, plan)
        ready = await self.prepare(on_event)
        reports: list[ScoreReport] = []
        failed: str | None = None
        for index, score in enumerate(self._scores):
            if failed is not None:
                report = self._skipped(score, f"not applied: {failed} failed before it")
                on_event(ScoreFinished(Phase.APPLY, index, len(self._scores), report))
            else:
                report = await self._apply_score(index, score, on_event)
                if report.state is ScoreState.FAILED:
                    failed = score.name
            reports.append(report)
        return self._finish(Phase.APPLY, ready, reports, on_event)

    async def _plan_score(self, index: int, score: Score[T], on_event: EventHandler) -> ScoreReport:
        on_event(ScoreStarted(Phase.PLAN, index, len(self._scores), score.name, self._topology.name))
        started = time.monotonic()
        try:
            with anyio.fail_after(self._score_timeout_s):
                changes = tuple(await score.interpret().plan(self._topology))
        except Exception as exc:
            report = self._report(score, ScoreState.FAILED, f"plan failed: {_reason(exc, self._score_timeout_s)}", (), started)
        else:
            state = ScoreState.PENDING if changes else ScoreState.UNCHANGED
            message = f"{len(changes)} change(s) to make" if changes else "already in the desired state"
            report = self._report(score, state, message, changes, started)
        return report

    async def _apply_score(self, index: int, score: Score[T], on_event: EventHandler) -> ScoreReport:
        total = len(self._scores)
        on_event(ScoreStarted(Phase.APPLY, index, total, score.name, self._topology.name))
        started = time.monotonic()
        try:
            with anyio.fail_after(self._score_timeout_s):
                outcome = await score.interpret().apply(self._topology)
        except Exception as exc:
            outcome = Outcome.failed(_reason(exc, self._score_timeout_s))
        report = self._report(score, _STATE_OF[outcome.status], outcome.message, outcome.changes, started)
        on_event(ScoreFinished(Phase.APPLY, index, total, report))
        return report

    def _report(
        self, score: Score[T], state: ScoreState, message: str, changes: Sequence[Change], started: float
    ) -> ScoreReport:
        return ScoreReport(
            name=score.name,
            kind=type(score).__name__,
            state=state,
            message=message,
            changes=tuple(changes),
            duration_s=time.monotonic() - started,
            topology=self._topology.name,
        )

    def _skipped(self, score: Score[T], message: str) -> ScoreReport:
        return ScoreReport(score.name, type(score).__name__, ScoreState.SKIPPED, message, topology=self._topology.name)

    def _finish(
        self, phase: Phase, ready: TopologyReport, reports: Sequence[ScoreReport], on_event: EventHandler
    ) -> RunReport:
        run = RunReport(phase, self._topology.name, tuple(reports), facts=dict(ready.facts))
        on_event(RunFinished(run))
        return run


def _reason(exc: Exception, timeout_s: float | None) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, HarmonyError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

