"""Fan-out: the same scores on every member of a group, members in parallel, failures isolated.

Each member is run by its own maestro, so within a member the scores keep
their order and the single-topology rules hold unchanged. Across members:

- at most ``parallel`` members are in flight (an anyio CapacityLimiter);
- a member that cannot be prepared (unreachable, host key refused) or fails
  unexpectedly is reported with its reason; the others go on;
- cancellation (Ctrl-C) propagates through one task group, so nothing is
  left running, and every member's connection is closed on the way out;
- connections stay open from plan to apply (one per host for the run) unless
  there are more members than file descriptors allow, then each member closes
  its own after each phase.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

import anyio

from .errors import describe, is_deliberate
from .events import Event, EventHandler, GroupStarted, MemberFinished, RunFinished, TopologyFailed
from .group import check_open_files, fd_budget
from .report import Phase, PhaseTimings, RunReport, ScoreState
from .topology import Topology, close_topology

T = TypeVar("T", bound=Topology)
T_co = TypeVar("T_co", bound=Topology, covariant=True)


class MemberRunner(Protocol[T_co]):
    """What the fan-out needs of a member's maestro."""

    @property
    def topology(self) -> T_co: ...

    @property
    def connect_s(self) -> float:
        """Seconds its topology's preparation took, also when it failed (for the phase timings)."""
        ...

    async def plan(self, on_event: EventHandler = ...) -> RunReport: ...

    async def apply(self, on_event: EventHandler = ..., *, plan: RunReport | None = None) -> RunReport: ...


class GroupRun(Generic[T]):
    def __init__(self, name: str, children: Sequence[MemberRunner[T]], parallel: int) -> None:
        self.name = name
        self.children = tuple(children)
        self.parallel = parallel
        self._keep_open = len(self.children) <= fd_budget()

    async def plan(self, on_event: EventHandler) -> RunReport:
        async def plan_member(child: MemberRunner[T], forward: EventHandler) -> RunReport:
            return await child.plan(forward)

        return await self._run(Phase.PLAN, plan_member, on_event)

    async def apply(self, on_event: EventHandler, plan: RunReport | None) -> RunReport:
        planned = {host.topology: host for host in plan.hosts} if plan is not None else {}

        async def apply_member(child: MemberRunner[T], forward: EventHandler) -> RunReport:
            earlier = planned.get(child.topology.name)
            if earlier is not None and earlier.error is not None:
                return RunReport(Phase.APPLY, earlier.topology, error=earlier.error, facts=earlier.facts)
            if earlier is not None and earlier.count(ScoreState.FAILED):
                return RunReport(
                    Phase.APPLY, earlier.topology, earlier.scores, "not applied: its plan failed", earlier.facts
                )
            if earlier is not None and not earlier.has_changes:
                return RunReport(Phase.APPLY, earlier.topology, earlier.scores, facts=earlier.facts)
            return await child.apply(forward, plan=earlier)

        return await self._run(Phase.APPLY, apply_member, on_event)

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as group:
                for child in self.children:
                    group.start_soon(close_topology, child.topology)

    async def _run(
        self,
        phase: Phase,
        run_member: Callable[[MemberRunner[T], EventHandler], Awaitable[RunReport]],
        on_event: EventHandler,
    ) -> RunReport:
        check_open_files(self.parallel)  # before any member is contacted
        names = tuple(child.topology.name for child in self.children)
        on_event(GroupStarted(phase, self.name, names, self.parallel))
        reports: list[RunReport | None] = [None] * len(self.children)
        limiter = anyio.CapacityLimiter(self.parallel)

        def forward(event: Event) -> None:
            # Each member's summary is folded into the group's one.
            if not isinstance(event, RunFinished):
                on_event(event)

        async def one(index: int, child: MemberRunner[T]) -> None:
            async with limiter:
                reports[index] = await self._isolated(phase, child, run_member, forward)

        try:
            async with anyio.create_task_group() as group:
                for index, child in enumerate(self.children):
                    group.start_soon(one, index, child)
        except BaseException:
            await self.aclose()
            raise
        hosts = tuple(report for report in reports if report is not None)
        run = RunReport(phase, self.name, tuple(s for host in hosts for s in host.scores), hosts=hosts)
        on_event(RunFinished(run))
        return run

    async def _isolated(
        self,
        phase: Phase,
        child: MemberRunner[T],
        run_member: Callable[[MemberRunner[T], EventHandler], Awaitable[RunReport]],
        forward: EventHandler,
    ) -> RunReport:
        name = child.topology.name
        connect_before = child.connect_s
        try:
            report = await run_member(child, forward)
        except Exception as exc:
            # describe() unwraps a member's concurrent failures into one line each.
            message = describe(exc) if is_deliberate(exc) else f"internal error: {describe(exc)}"
            # The time to fail to connect is reported in the phase that tried (a member prepares once).
            connect_s = child.connect_s if child.connect_s != connect_before else 0.0
            report = self._failed(phase, name, message, forward, exc, PhaseTimings(connect_s=connect_s))
        if not self._keep_open:
            await close_topology(child.topology)
        forward(MemberFinished(report))
        return report

    @staticmethod
    def _failed(
        phase: Phase,
        name: str,
        message: str,
        forward: EventHandler,
        exception: BaseException | None = None,
        timings: PhaseTimings | None = None,
    ) -> RunReport:
        forward(TopologyFailed(name, message, exception))
        return RunReport(phase, name, error=message, timings=timings or PhaseTimings())
