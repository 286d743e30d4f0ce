"""The picture ``graph`` prints: the maestro's scores, what each waits for, and where each runs.

Built from the maestro's dependency graph (:mod:`harmony_py.graph`, ADR 0050)
without contacting anything; given a plan, each node also carries the change
it would make. The DOT and mermaid printers (:mod:`.graph_text`) share it,
so both say the same thing, and tests read it directly.

- A node is a score the maestro runs (composites are replaced by their parts,
  and drawn as clusters around them).
- An edge ``a -> b`` means b waits for a: because it takes a's output
  (OUTPUT, labelled with the fields holding the Refs), because it reacts to
  whether a changed (TRIGGER, ``changed(a)``), or because it was written after
  a (ORDER). An ORDER edge implied by a longer path is left out, as
  Graphviz's ``tred`` would: the picture shows the order, not every pair.
- Each node says where it runs: the topology, its members for a pair or a
  group, and for a topology made of parts typed by capability (an
  ``ApplicationTopology``'s ``runtime`` and ``database``) the part typed by the
  capability the score needs.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harmony_py.graph import Graph
from harmony_py.maestro import Maestro
from harmony_py.report import RunReport, ScoreReport, ScoreState
from harmony_py.score import CompositeScore, Score
from harmony_py.triggers import ChangeRef
from harmony_py.values import ChangeAction

MEMBERS_SHOWN = 3
"""A group's members named on a node before the rest is counted (``web1, web2, web3 and 47 more``)."""
NOTE_WIDTH = 60
"""Characters of a failure's message shown on its node."""


class EdgeKind(enum.Enum):
    """Why a score waits for another."""

    ORDER = "order"
    """Written after it (one ``add()`` call, or a composite whose parts go in order)."""
    OUTPUT = "output"
    """Takes its output through a Ref."""
    TRIGGER = "trigger"
    """Reacts to whether it changed (``changed(score)``)."""


class PlannedChange(enum.Enum):
    """What a plan says a score would do, as one colour; in order of precedence for a group."""

    FAILED = "failed"
    DELETE = "delete"
    UPDATE = "update"
    CREATE = "create"
    SKIPPED = "skipped"
    NOOP = "noop"


@dataclass(frozen=True)
class PictureNode:
    """One score the maestro runs."""

    key: str
    """An identifier safe in DOT and mermaid (``n0``, ``n1``, ... in the order written)."""
    identity: str
    kind: str
    """The score's class name."""
    name: str
    """Its human name (``FileScore(/etc/motd)``)."""
    runs_on: str
    """The topology (or part of it) that runs it."""
    members: tuple[str, ...]
    """The members of a pair or a group it runs on; empty for a single host."""
    cluster: str | None
    """The key of the innermost composite holding it."""
    change: PlannedChange | None = None
    """With a plan: what it would do."""
    note: str = ""
    """With a plan: one short line on it (how many changes, why it failed)."""


@dataclass(frozen=True)
class PictureEdge:
    """``target`` waits for ``source``."""

    source: str
    target: str
    kind: EdgeKind
    fields: tuple[str, ...] = ()
    """For OUTPUT and TRIGGER: the target's fields holding the Refs (``env[DATABASE_URL]``)."""


@dataclass(frozen=True)
class Cluster:
    """A composite score, drawn around its parts."""

    key: str
    """``c0``, ``c1``, ... in the order first met."""
    identity: str
    kind: str
    parent: str | None
    """The key of the composite holding it, if any."""


@dataclass(frozen=True)
class Picture:
    """Everything the printers draw, in a stable order."""

    title: str
    nodes: tuple[PictureNode, ...]
    edges: tuple[PictureEdge, ...]
    clusters: tuple[Cluster, ...]
    planned: bool = False
    """Whether nodes carry the change a plan found (and a legend is drawn)."""

    def node(self, identity: str) -> PictureNode:
        """The node of the score ``identity`` (KeyError when there is none)."""
        for node in self.nodes:
            if node.identity == identity:
                return node
        raise KeyError(identity)

    def edge_pairs(self) -> set[tuple[str, str, EdgeKind]]:
        """Each edge as (source identity, target identity, kind): what a test or a reader compares."""
        identities = {node.key: node.identity for node in self.nodes}
        return {(identities[edge.source], identities[edge.target], edge.kind) for edge in self.edges}


def build_picture(maestro: Maestro[Any], title: str, plan: RunReport | None = None) -> Picture:
    """The picture of ``maestro``'s scores; with ``plan``, each node coloured by its planned change."""
    graph = maestro.graph()
    keys = {node.identity: f"n{node.index}" for node in graph.nodes}
    clusters = _clusters(graph, _composite_kinds(maestro.scores))
    cluster_keys = {cluster.identity: cluster.key for cluster in clusters}
    reports = _reports_by_identity(plan)
    nodes = []
    for node in graph.nodes:
        where, members = _runs_on(maestro, node.score)
        change, note = _planned(reports.get(node.identity, ())) if plan is not None else (None, "")
        nodes.append(
            PictureNode(
                key=keys[node.identity],
                identity=node.identity,
                kind=type(node.score).__name__,
                name=node.score.name,
                runs_on=where,
                members=members,
                cluster=cluster_keys[node.scopes[-1]] if node.scopes else None,
                change=change,
                note=note,
            )
        )
    return Picture(title, tuple(nodes), _edges(graph, keys), clusters, planned=plan is not None)


# -- edges -------------------------------------------------------------------


def _edges(graph: Graph[Score[Any]], keys: Mapping[str, str]) -> tuple[PictureEdge, ...]:
    fields: dict[tuple[str, str, EdgeKind], list[str]] = {}
    for node in graph.nodes:
        for path, ref in node.inputs:
            kind = EdgeKind.TRIGGER if isinstance(ref, ChangeRef) else EdgeKind.OUTPUT
            fields.setdefault((node.producers[ref.source], node.identity, kind), []).append(path)
    wired = {(source, target) for source, target, _ in fields}
    waits = {node.identity: node.waits_for for node in graph.nodes}
    edges = [PictureEdge(keys[s], keys[t], kind, tuple(paths)) for (s, t, kind), paths in fields.items()]
    for node in graph.nodes:
        for before in node.after:
            if (before, node.identity) not in wired and not _implied(waits, before, node.identity):
                edges.append(PictureEdge(keys[before], keys[node.identity], EdgeKind.ORDER))
    return tuple(sorted(edges, key=lambda edge: (_index(edge.target), _index(edge.source), edge.kind.value)))


def _implied(waits: Mapping[str, set[str]], source: str, target: str) -> bool:
    """Whether ``target`` waits for ``source`` through another score too (the direct edge then adds nothing)."""
    stack = [before for before in waits[target] if before != source]
    seen: set[str] = set()
    while stack:
        current = stack.pop()
        if current == source:
            return True
        if current not in seen:
            seen.add(current)
            stack.extend(waits[current])
    return False


def _index(key: str) -> int:
    return int(key[1:])


# -- clusters ----------------------------------------------------------------


def _composite_kinds(scores: Iterable[Score[Any]], scopes: tuple[str, ...] = ()) -> dict[str, str]:
    """Each composite's full identity (as the graph qualifies it), with its class name."""
    kinds: dict[str, str] = {}
    for score in scores:
        if isinstance(score, CompositeScore):
            identity = f"{scopes[-1]}.{score.identity}" if scopes else score.identity
            kinds[identity] = type(score).__name__
            kinds.update(_composite_kinds(score.parts(), (*scopes, identity)))
    return kinds


def _clusters(graph: Graph[Score[Any]], kinds: Mapping[str, str]) -> tuple[Cluster, ...]:
    found: dict[str, Cluster] = {}
    for node in graph.nodes:
        parent: str | None = None
        for scope in node.scopes:
            if scope not in found:
                found[scope] = Cluster(f"c{len(found)}", scope, kinds.get(scope, "CompositeScore"), parent)
            parent = found[scope].key
    return tuple(found.values())


# -- where a score runs ------------------------------------------------------


def _runs_on(maestro: Maestro[Any], score: Score[Any]) -> tuple[str, tuple[str, ...]]:
    if maestro.is_group:
        return "each member of the group", tuple(_name(member) for member in maestro.members)
    part = _part_serving(maestro.topology, score.required_capability())
    members = getattr(part, "members", ())
    names = tuple(_name(member) for member in members) if isinstance(members, tuple) else ()
    return _name(part), names


def _part_serving(topology: object, capability: object) -> object:
    """The part of ``topology`` that serves ``capability``: the one field typed by it, else the topology itself.

    A topology made of parts typed by capability (``ApplicationTopology(runtime:
    ApplicationRuntime, database: PostgreSQL)``) serves each capability from the
    part declared for it; any other topology serves everything itself.
    """
    if not isinstance(capability, type) or not dataclasses.is_dataclass(topology):
        return topology
    try:
        hints = typing.get_type_hints(type(topology))
    except Exception:  # a hint naming what only a type checker imports: nothing can be said from the types
        return topology
    parts = [
        getattr(topology, field.name)
        for field in dataclasses.fields(topology)
        if isinstance(hints.get(field.name), type) and _is_subclass(capability, hints[field.name])
    ]
    if len(parts) != 1:
        return topology
    return _part_serving(parts[0], capability)


def _is_subclass(capability: type, declared: type) -> bool:
    try:
        return issubclass(capability, declared)
    except TypeError:  # a Protocol with data members refuses issubclass
        return capability is declared


def _name(topology: object) -> str:
    name = getattr(topology, "name", None)
    return name if isinstance(name, str) else type(topology).__name__


# -- planned changes ---------------------------------------------------------


def _reports_by_identity(plan: RunReport | None) -> dict[str, list[ScoreReport]]:
    """Each identity's reports: one for a single topology, one per member for a group."""
    found: dict[str, list[ScoreReport]] = {}
    for report in plan.scores if plan is not None else ():
        found.setdefault(report.identity, []).append(report)
    return found


def _planned(reports: Sequence[ScoreReport]) -> tuple[PlannedChange, str]:
    """The colour of a node (the most pressing of its members') and its note."""
    if not reports:
        # A group member that could not be prepared reports no scores: its error is the run's.
        return PlannedChange.FAILED, "not planned"
    kinds = [_change_of(report) for report in reports]
    worst = min(kinds, key=list(PlannedChange).index)
    if len(reports) == 1:
        return worst, _note(reports[0], worst)
    counts = {kind: kinds.count(kind) for kind in PlannedChange if kind in kinds}
    return worst, ", ".join(f"{kind.value} on {count}" for kind, count in counts.items()) + f" of {len(reports)}"


def _change_of(report: ScoreReport) -> PlannedChange:
    if report.state is ScoreState.FAILED:
        return PlannedChange.FAILED
    if report.state is ScoreState.SKIPPED:
        return PlannedChange.SKIPPED
    if report.state is ScoreState.UNCHANGED:
        return PlannedChange.NOOP
    actions = {change.action for change in report.changes}
    if ChangeAction.DELETE in actions:
        return PlannedChange.DELETE
    if actions == {ChangeAction.CREATE}:
        return PlannedChange.CREATE
    return PlannedChange.UPDATE


def _note(report: ScoreReport, change: PlannedChange) -> str:
    if change in (PlannedChange.FAILED, PlannedChange.SKIPPED):
        first = report.message.splitlines()[0] if report.message else change.value
        return first if len(first) <= NOTE_WIDTH else first[: NOTE_WIDTH - 1] + "…"
    if change is PlannedChange.NOOP:
        return "no change"
    if not report.changes and report.unknown_inputs:
        return "inputs known after apply"
    count = len(report.changes)
    return f"{count} change{'' if count == 1 else 's'}"
