"""The dependency graph of a maestro's scores, built and checked before anything runs.

Edges (ADR 0050):

- the scores of one ``Maestro.add(a, b, c)`` call are a sequence: b waits for
  a, c for b; scores of separate ``add()`` calls are independent;
- a score waits for the producer of every Ref it holds (a ChangeRef, harmony_py/triggers.py,
  may name any score: it takes whether that score changed, not an output, ADR 0019);
- a composite is replaced by its parts: their identities are prefixed with
  the composite's, they wait for what the composite waits for, and what waits
  for the composite waits for all of them; among themselves they are ordered
  only by their Refs unless the composite is ``in_order``.

Building the graph rejects, with one error each: two scores named alike, a
Ref to no score or to a score that produces nothing, a Ref whose producer
there declares another type than the one it was made from (ADR 0052), and a
cycle (named).
"""

from __future__ import annotations

import graphlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from .errors import ScoreValueError
from .outputs import Produces, Ref, produced_type, type_name
from .refs import find_refs
from .score import CompositeScore, Score, given_identity, with_identity
from .triggers import ChangeRef
from .type_args import agrees

S = TypeVar("S", bound=Score[Any])


@dataclass
class Node(Generic[S]):
    """One score the maestro runs (never a composite: those are expanded)."""

    identity: str
    score: S
    index: int
    scopes: tuple[str, ...]
    """The identities of the composites holding the score, outermost first (empty at the top)."""
    after: set[str] = field(default_factory=set)
    """Identities it waits for because of the order it was written in."""
    inputs: tuple[tuple[str, Ref[object]], ...] = ()
    """The Refs it holds, with their paths in the score's fields."""
    producers: dict[str, str] = field(default_factory=dict)
    """The producer each Ref source names, as a full identity (sources resolve within ``scopes``)."""

    @property
    def waits_for(self) -> set[str]:
        return self.after | set(self.producers.values())

    @property
    def depends_on(self) -> tuple[str, ...]:
        """What it waits for, in a stable order (for reports)."""
        return tuple(sorted(self.waits_for))


@dataclass
class Graph(Generic[S]):
    nodes: list[Node[S]]
    shared: frozenset[str] = frozenset()
    """Identities several unnamed scores have (numbered ``#2``, ``#3`` after the first): no Ref can name one."""

    def __post_init__(self) -> None:
        self.by_identity = {node.identity: node for node in self.nodes}

    @property
    def consumed(self) -> set[str]:
        """Identities whose output some score takes (a ChangeRef takes no output, only whether it changed)."""
        return {node.producers[ref.source] for node in self.nodes for _, ref in node.inputs if not isinstance(ref, ChangeRef)}


def build_graph(batches: Sequence[Sequence[S]]) -> Graph[S]:
    """The graph of the scores added in ``batches`` (one per ``add()`` call), checked."""
    builder = _Builder[S]()
    for batch in batches:
        builder.chain(batch, scopes=(), after=set())
    nodes = builder.nodes
    graph = Graph(nodes, frozenset(builder.shared))
    for node in nodes:
        node.producers = {ref.source: _producer_of(graph, node, path, ref) for path, ref in node.inputs}
    _reject_cycles(nodes)
    return graph


class _Builder(Generic[S]):
    def __init__(self) -> None:
        self.nodes: list[Node[S]] = []
        self.seen: dict[str, tuple[int, bool]] = {}
        """Each identity: how many scores have it so far, and whether the user gave it."""
        self.shared: set[str] = set()

    def chain(self, scores: Sequence[S], scopes: tuple[str, ...], after: set[str]) -> set[str]:
        """Add ``scores`` as a sequence after ``after``; return the identities of all of them."""
        every: set[str] = set()
        for score in scores:
            added = self.expand(score, scopes, after)
            every |= added
            after = added
        return every

    def expand(self, score: S, scopes: tuple[str, ...], after: set[str]) -> set[str]:
        identity = _qualified(scopes, score.identity)
        if isinstance(score, CompositeScore):
            # A composite's parts serve the same topology as the composite itself.
            parts = cast(Sequence[S], tuple(score.parts()))
            for part in parts:
                if not isinstance(part, Score):
                    raise ScoreValueError(
                        f"{identity}.parts() must return scores, got {type(part).__name__}: {part!r}"
                    )
            inside = (*scopes, identity)
            if score.in_order:
                return self.chain(parts, inside, set(after))
            every: set[str] = set()
            for part in parts:
                every |= self.expand(part, inside, set(after))
            return every
        identity = self.unique(identity, score)
        if scopes:
            # A part sees its full identity (``shop.db``) as ``self.identity``, e.g. for labels and secret names.
            score = with_identity(score, identity)
        node = Node(identity, score, len(self.nodes), scopes, set(after), tuple(find_refs(score)))
        self.nodes.append(node)
        return {identity}

    def unique(self, identity: str, score: S) -> str:
        """Two scores named alike are an error; unnamed ones alike get ``#2``, ``#3`` in the order written."""
        given = given_identity(score) is not None or type(score).identity is not Score.identity
        count, first_given = self.seen.get(identity, (0, False))
        if count and (given or first_given):
            raise ScoreValueError(
                f"two scores have the identity {identity!r}; give each its own name with .named(...)"
            )
        self.seen[identity] = (count + 1, given or first_given)
        if not count:
            return identity
        self.shared.add(identity)
        return f"{identity}#{count + 1}"


def _qualified(scopes: tuple[str, ...], identity: str) -> str:
    """``identity`` inside the innermost of ``scopes`` (whose identity is already qualified)."""
    return f"{scopes[-1]}.{identity}" if scopes else identity


def _producer_of(graph: Graph[S], node: Node[S], path: str, ref: Ref[object]) -> str:
    candidates = _candidates(node.scopes, ref.source)
    for candidate in candidates:
        if candidate in graph.shared:
            raise ScoreValueError(
                f"{node.identity}.{path} refers to {ref.source}, but several scores have that identity; "
                "name the producer with .named(...)"
            )
        if candidate in graph.by_identity:
            producer = graph.by_identity[candidate]
            if not isinstance(producer.score, Produces) and not isinstance(ref, ChangeRef):
                raise ScoreValueError(
                    f"{node.identity}.{path} refers to {candidate}, which produces no output "
                    f"({type(producer.score).__name__} does not subclass Produces)"
                )
            if not isinstance(ref, ChangeRef):
                _check_type(node, path, ref, candidate, producer.score)
            return candidate
    raise ScoreValueError(
        f"{node.identity}.{path} refers to {ref.source}, which is not among this maestro's scores; "
        "add the producing score too"
    )


def _check_type(node: Node[S], path: str, ref: Ref[object], candidate: str, producer: Score[Any]) -> None:
    """Refuse a Ref whose name resolves to a producer of another type than the one it was made from."""
    made_from = ref.origin.value_type
    produced = produced_type(type(producer))
    if not agrees(produced, made_from):
        raise ScoreValueError(
            f"{node.identity}.{path} takes a Ref to {_a(type_name(made_from))} (made from {_a(ref.origin.producer)}), "
            f"but {candidate} is {_a(type(producer).__name__)} producing {type_name(produced)}; "
            "make the Ref from the score it names (score.output())"
        )


def _a(name: str) -> str:
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def _candidates(scopes: tuple[str, ...], source: str) -> list[str]:
    """Where a Ref from inside ``scopes`` may point: the innermost composite first, then outwards."""
    return [_qualified(scopes[:depth], source) for depth in range(len(scopes), -1, -1)]


def _reject_cycles(nodes: list[Node[S]]) -> None:
    sorter = graphlib.TopologicalSorter({node.identity: node.waits_for for node in nodes})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        # graphlib lists each node before the one that waits for it; say it the other way round.
        cycle = list(reversed(exc.args[1]))
        raise ScoreValueError(
            f"dependency cycle: {' -> '.join(cycle)} (each waits for the next); nothing was run"
        ) from None
