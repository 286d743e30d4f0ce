"""One plan or apply of a maestro's graph on one topology.

Scores run in the tasks of one anyio task group (structured: nothing outlives
the run, Ctrl-C cancels all). A score starts once every score it waits for has
finished: the task that finished the last of those carries on with it, or
starts a new task when several became ready. A task holds a slot of the
phase's CapacityLimiter, so at most that many scores are in flight.

- Plan: a score waits only for the producers of its Refs (plans mutate
  nothing, so the written order does not matter); reports are emitted in the
  order written.
- Apply: a score waits for everything it depends on; if one of those failed
  or was skipped, it is skipped, naming the score that failed. An apply that
  reports SUCCESS is then observed again (``Interpret.verify``, under the
  same timeout): the score is ``changed`` only when nothing differs any more,
  else ``failed`` naming what still differs (ADR 0004).

Producers' outputs are asked for only when some score consumes them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio

from .errors import HarmonyError, OutputMissingError, describe
from .events import EventHandler, ScoreFinished, ScoreStarted, progress_to
from .graph import Graph, Node
from .observations import Forget, batched_observations
from .outcome import InterpretStatus, Outcome
from .outputs import ProducingInterpret, Ref, check_output
from .refs import substitute
from .report import Phase, RunReport, ScoreReport, ScoreState
from .score import Interpret, Score, keep_identity
from .triggers import Changed, ChangeRef
from .values import Change

T = TypeVar("T")

_STATE_OF = {
    InterpretStatus.SUCCESS: ScoreState.CHANGED,
    InterpretStatus.NOOP: ScoreState.UNCHANGED,
    InterpretStatus.FAILURE: ScoreState.FAILED,
    InterpretStatus.SKIPPED: ScoreState.SKIPPED,
}


class _Unknown:
    """A producer's output that a plan cannot know: it will change when applied."""


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class _Failed:
    """A score that failed (``root`` is itself) or was skipped because ``root`` failed."""

    root: str


class Run(Generic[T]):
    def __init__(
        self,
        topology: T,
        topology_name: str,
        graph: Graph[Score[T]],
        on_event: EventHandler,
        limiter: anyio.CapacityLimiter,
        timeout_s: float | None,
    ) -> None:
        self.topology = topology
        self.topology_name = topology_name
        self.graph = graph
        self.on_event = on_event
        self.limiter = limiter
        self.timeout_s = timeout_s
        self.total = len(graph.nodes)
        self.reports: list[ScoreReport | None] = [None] * self.total
        self._waiting: dict[str, int] = {}
        """How many of the scores each one waits for are not finished yet."""
        self._dependants: dict[str, list[Node[Score[T]]]] = {node.identity: [] for node in graph.nodes}
        self.values: dict[str, object] = {}
        """Outputs of consumed producers (a value, or UNKNOWN in a plan), and _Failed for any score that failed."""
        self.consumed = graph.consumed
        self.changed: dict[str, bool] = {}
        """Whether each finished score changed something (in a plan: has changes to make), for ChangeRefs."""
        self._emitted = 0
        self._forget_observations: Forget = lambda: None
        """Ends the apply's batched observations (observations.py); set by :meth:`apply`."""
        self._exceptions: dict[int, BaseException] = {}
        """What was raised in each score that failed by an exception, by index: for tracebacks, not reports."""

    def ordered_reports(self) -> list[ScoreReport]:
        return [report for report in self.reports if report is not None]

    # -- plan ---------------------------------------------------------------------

    async def plan(self) -> None:
        # Plans mutate nothing: a score waits only for the producers of its Refs. What they
        # observe is gathered first, in one round trip where the runner can (observations.py).
        async with batched_observations(self.topology, (node.score for node in self.graph.nodes)):
            await self._run_all(lambda node: set(node.producers.values()), self._plan_node)

    async def _plan_node(self, node: Node[Score[T]]) -> list[Node[Score[T]]]:
        report = await self._plan(node)
        ready = self._finish(node, report, emit=False)
        self._emit_in_order()
        return ready

    def _emit_in_order(self) -> None:
        # Plans run concurrently but are reported in the order the user wrote them.
        while self._emitted < self.total and (report := self.reports[self._emitted]) is not None:
            self.on_event(ScoreFinished(Phase.PLAN, self._emitted, self.total, report, self._exceptions.get(self._emitted)))
            self._emitted += 1

    async def _plan(self, node: Node[Score[T]]) -> ScoreReport:
        self._started(Phase.PLAN, node)
        started = time.monotonic()
        failed = self._first_failure(node.producers.values())
        if failed is not None:
            self.values[node.identity] = _Failed(failed)
            return self._report(node, ScoreState.SKIPPED, f"not planned: the plan of {failed}, which it takes a value from, failed", (), started)
        pending = [(path, node.producers[ref.source]) for path, ref in node.inputs if self._unknown(node, ref)]
        if pending:
            self.values[node.identity] = UNKNOWN
            self.changed[node.identity] = True
            unknown = tuple(path for path, _ in pending)
            waits = ", ".join(sorted({producer for _, producer in pending}))
            message = f"inputs known after apply of {waits}: {', '.join(unknown)}"
            try:
                with anyio.fail_after(self.timeout_s) as scope:
                    changes = await self._plan_stand_in(node)
            except Exception as exc:
                # Like any failed plan: its consumers are reported not planned, not "known after apply".
                self.values[node.identity] = _Failed(node.identity)
                self._exceptions[node.index] = exc
                return self._report(node, ScoreState.FAILED, f"plan failed: {self._reason(exc, scope)}", (), started)
            return self._report(node, ScoreState.PENDING, message, changes, started, unknown_inputs=unknown)
        try:
            with anyio.fail_after(self.timeout_s) as scope:
                interpret = self._interpret(node)
                changes = tuple(await interpret.plan(self.topology))
                self.changed[node.identity] = bool(changes)
                if node.identity in self.consumed:
                    self.values[node.identity] = UNKNOWN if changes else await self._output(node, interpret, Phase.PLAN)
        except Exception as exc:
            self.values[node.identity] = _Failed(node.identity)
            self._exceptions[node.index] = exc
            return self._report(node, ScoreState.FAILED, f"plan failed: {self._reason(exc, scope)}", (), started)
        state = ScoreState.PENDING if changes else ScoreState.UNCHANGED
        message = f"{len(changes)} change(s) to make" if changes else "already in the desired state"
        return self._report(node, state, message, changes, started)

    # -- apply --------------------------------------------------------------------

    async def apply(self, planned: RunReport | None = None) -> None:
        # A fresh batch of observations for the apply (never the plan's), which holds only until
        # something may have changed on the host: see observations.py and adr/0108.
        scores = [node.score for node in self._unchanged_ahead(planned)]
        async with batched_observations(self.topology, scores, until_changed=True) as forget:
            self._forget_observations = forget
            await self._run_all(lambda node: node.waits_for, self._apply_node)

    def _unchanged_ahead(self, planned: RunReport | None) -> list[Node[Score[T]]]:
        """The scores the apply's batch observes: all of them, or given the plan, those it found
        unchanged ahead of its first change. The batch stops answering at the first change, so
        asking for the scores after it (every score of a first apply) is a round trip for nothing."""
        if planned is None:
            return list(self.graph.nodes)
        states = {report.identity: report.state for report in planned.scores}
        ahead: list[Node[Score[T]]] = []
        for node in self.graph.nodes:
            if states.get(node.identity) is not ScoreState.UNCHANGED:
                break
            ahead.append(node)
        return ahead

    async def _apply_node(self, node: Node[Score[T]]) -> list[Node[Score[T]]]:
        blocked = self._first_failure(node.waits_for)
        if blocked is not None:
            self.values[node.identity] = _Failed(blocked)
            report = self._report(node, ScoreState.SKIPPED, f"not applied: it depends on {blocked}, which failed", (), None)
        else:
            report = await self._apply(node)
        return self._finish(node, report, emit=True)

    async def _apply(self, node: Node[Score[T]]) -> ScoreReport:
        self._started(Phase.APPLY, node)
        started = time.monotonic()
        verifying = False
        try:
            with anyio.fail_after(self.timeout_s) as scope:
                interpret = self._interpret(node)
                outcome = await self._apply_observed(interpret)
                if outcome.status is InterpretStatus.SUCCESS:
                    # The truth rule: "changed" only once an observation agrees (a NOOP observed already).
                    verifying = True
                    # Reacting to a change (a restart) is an event, not a state: once made it is not
                    # asked for again, so the observation sees every watched score as settled.
                    observer = self._interpret(node, reacted=True) if node.inputs else interpret
                    outcome = verified(outcome, tuple(await observer.verify(self.topology)))
                    verifying = False
                if outcome.status in (InterpretStatus.SUCCESS, InterpretStatus.NOOP) and node.identity in self.consumed:
                    self.values[node.identity] = await self._output(node, interpret, Phase.APPLY)
        except Exception as exc:
            self._exceptions[node.index] = exc
            text = self._reason(exc, scope)
            outcome = Outcome.failed(f"applied, but observing the result failed: {text}" if verifying else text)
        state = _STATE_OF[outcome.status]
        self.changed[node.identity] = state is ScoreState.CHANGED
        if state in (ScoreState.FAILED, ScoreState.SKIPPED):
            self.values[node.identity] = _Failed(node.identity)
        return self._report(node, state, outcome.message, outcome.changes, started, details=outcome.details)

    async def _apply_observed(self, interpret: Interpret[Any]) -> Outcome:
        """``interpret.apply``; unless it found nothing to do, the apply's batched observations end first.

        So the verification after it, and every score that waits for it, observe live.
        """
        noop = False
        try:
            outcome = await interpret.apply(self.topology)
            noop = outcome.status is InterpretStatus.NOOP
            return outcome
        finally:
            if not noop:
                self._forget_observations()

    # -- shared -------------------------------------------------------------------

    async def _run_all(
        self,
        waits_for: Callable[[Node[Score[T]]], set[str]],
        run_node: Callable[[Node[Score[T]]], Awaitable[list[Node[Score[T]]]]],
    ) -> None:
        """Start each score once everything it waits for has finished (the graph is acyclic)."""
        for node in self.graph.nodes:
            upstream = waits_for(node)
            self._waiting[node.identity] = len(upstream)
            for identity in upstream:
                self._dependants[identity].append(node)

        async def drive(node: Node[Score[T]]) -> None:
            # A task (holding one slot) carries on with the first score its own made ready, so a
            # chain stays in one task, and starts a task for each other one.
            async with self.limiter:
                current: Node[Score[T]] | None = node
                while current is not None:
                    ready = await run_node(current)
                    for other in ready[1:]:
                        group.start_soon(drive, other)
                    current = ready[0] if ready else None

        async with anyio.create_task_group() as group:
            for node in self.graph.nodes:
                if not self._waiting[node.identity]:
                    group.start_soon(drive, node)

    async def _plan_stand_in(self, node: Node[Score[T]]) -> tuple[Change, ...]:
        """What the score's stand-in plans (its known inputs resolved, placeholders for the rest), if it has one."""
        partial = substitute(
            node.score, lambda ref: ref if self._unknown(node, ref) else self._value_of(node, ref)
        )
        stand_in = partial.with_unknown_inputs()
        if stand_in is None:
            return ()
        # A stand-in is typically made with dataclasses.replace, which drops a given identity; plan under the score's own.
        keep_identity(partial, stand_in)
        return tuple(await stand_in.interpret().plan(self.topology))

    def _interpret(self, node: Node[Score[T]], *, reacted: bool = False) -> Interpret[T]:
        """The interpret of the score with every Ref replaced by its producer's value.

        ``reacted``: every ChangeRef reads "not changed" (the score has reacted to the change already).
        """
        score = node.score
        if node.inputs:
            score = substitute(score, lambda ref: self._value_of(node, ref, reacted=reacted))
        return score.interpret()

    def _unknown(self, node: Node[Score[T]], ref: Ref[object]) -> bool:
        """Whether a plan cannot know the value of ``ref`` yet (a ChangeRef's value is always known once its score planned)."""
        return not isinstance(ref, ChangeRef) and self.values[node.producers[ref.source]] is UNKNOWN

    def _value_of(self, node: Node[Score[T]], ref: Ref[object], *, reacted: bool = False) -> object:
        if isinstance(ref, ChangeRef):
            producer = node.producers[ref.source]
            return Changed(producer, self.changed[producer] and not reacted)
        output = self.values[node.producers[ref.source]]
        try:
            return ref.value_from(output)
        except Exception as exc:
            raise HarmonyError(f"deriving a value from the output of {ref.source} failed: {reason(exc, None)}") from exc

    async def _output(self, node: Node[Score[T]], interpret: Interpret[T], phase: Phase) -> object:
        if not isinstance(interpret, ProducingInterpret):
            raise OutputMissingError(
                f"{node.identity} is a producing score, but its interpret ({type(interpret).__name__}) "
                "is not a ProducingInterpret"
            )
        value: Any = await interpret.output(self.topology)
        if value is None:
            if phase is Phase.PLAN:
                return UNKNOWN
            raise OutputMissingError(f"{node.identity} was applied, but its output could not be observed")
        check_output(node.identity, type(node.score), value)
        return value

    def _first_failure(self, identities: Iterable[str]) -> str | None:
        """The score (first in the order written) whose failure failed or skipped one of ``identities``, if any."""
        roots = [value.root for identity in identities if isinstance(value := self.values.get(identity), _Failed)]
        if not roots:
            return None
        return min(roots, key=lambda identity: self.graph.by_identity[identity].index)

    def _started(self, phase: Phase, node: Node[Score[T]]) -> None:
        progress_to(self.on_event, self.topology_name, node.identity)  # the score runs in this task from here
        self.on_event(ScoreStarted(phase, node.index, self.total, node.score.name, self.topology_name, node.identity))

    def _finish(self, node: Node[Score[T]], report: ScoreReport, *, emit: bool) -> list[Node[Score[T]]]:
        """Record the report; return the scores that were waiting only for this one."""
        self.reports[node.index] = report
        if emit:
            self.on_event(ScoreFinished(Phase.APPLY, node.index, self.total, report, self._exceptions.get(node.index)))
        ready = []
        for dependant in self._dependants[node.identity]:
            self._waiting[dependant.identity] -= 1
            if not self._waiting[dependant.identity]:
                ready.append(dependant)
        return ready

    def _report(
        self,
        node: Node[Score[T]],
        state: ScoreState,
        message: str,
        changes: Sequence[Change],
        started: float | None,
        *,
        unknown_inputs: tuple[str, ...] = (),
        details: Mapping[str, str] | None = None,
    ) -> ScoreReport:
        return ScoreReport(
            name=node.score.name,
            kind=type(node.score).__name__,
            state=state,
            message=message,
            changes=tuple(changes),
            duration_s=time.monotonic() - started if started is not None else 0.0,
            topology=self.topology_name,
            identity=node.identity,
            depends_on=node.depends_on,
            unknown_inputs=unknown_inputs,
            details=dict(details or {}),
        )

    def _reason(self, exc: BaseException, scope: anyio.CancelScope) -> str:
        # Only the score's own deadline is "timed out after N s"; a timeout inside the interpret says its own.
        return reason(exc, self.timeout_s if scope.cancelled_caught else None)


def reason(exc: BaseException, timeout_s: float | None) -> str:
    """Why a score failed, for its report: ``timeout_s`` when its deadline passed, else :func:`describe`."""
    if isinstance(exc, TimeoutError) and timeout_s is not None:
        return f"timed out after {timeout_s:g} s"
    return describe(exc)


def verified(outcome: Outcome, remaining: Sequence[Change]) -> Outcome:
    """``outcome`` when nothing differs any more after it, else a failure naming what still differs."""
    if not remaining:
        return outcome
    return Outcome.failed(f"applied, but the state still differs: {differences(remaining)}", outcome.changes)


def differences(changes: Sequence[Change]) -> str:
    """The summaries of ``changes``, each with its target (a member, a path) in front unless it names it already."""
    return "; ".join(change.summary if _names_target(change) else f"{change.target}: {change.summary}" for change in changes)


def _names_target(change: Change) -> bool:
    # A member's target reads "replica (127.0.0.1:5433)": its label alone in the summary names it.
    return change.target in change.summary or change.target.split(" (", 1)[0] in change.summary
