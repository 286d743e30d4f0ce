"""What a render produces, the order scores are rendered in, and the guard that keeps secrets out.

A render walks the scores a maestro would apply (composites expanded, as the
Maestro does), in apply order, and asks the chosen format for each score's
files. A score the format has no form for is not rendered, with the reason.
Nothing contacts a topology: the files come from the scores alone.
"""

from __future__ import annotations

import base64
import dataclasses
import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from harmony_py.errors import HarmonyError
from harmony_py.graph import Graph, Node
from harmony_py.score import Score
from harmony_py.values import Secret

ScoreNode = Node[Score[Any]]

SHORTEST_GUARDED_SECRET = 4
"""Secret values this long or longer are looked for in the files (shorter ones match too much text by chance)."""


@dataclass(frozen=True)
class NotRendered:
    """A score left out of the files, and why."""

    identity: str
    name: str
    reason: str

    def __str__(self) -> str:
        shown = self.identity if self.identity == self.name else f"{self.identity} ({self.name})"
        return f"{shown}: {self.reason}"


@dataclass(frozen=True)
class Rendering:
    """The files of one render (relative path -> bytes, in the order written) and the scores left out."""

    files: Mapping[str, bytes]
    not_rendered: tuple[NotRendered, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.not_rendered


def apply_order(graph: Graph[Score[Any]]) -> list[ScoreNode]:
    """The scores in an order apply could run them: each after what it waits for, else as written."""
    by_identity = graph.by_identity
    waiting = {node.identity: {name for name in node.waits_for if name in by_identity} for node in graph.nodes}
    readers: dict[str, list[ScoreNode]] = {}
    for node in graph.nodes:
        for name in waiting[node.identity]:
            readers.setdefault(name, []).append(node)
    ready = [(node.index, node.identity) for node in graph.nodes if not waiting[node.identity]]
    heapq.heapify(ready)
    ordered: list[ScoreNode] = []
    while ready:
        _, identity = heapq.heappop(ready)
        node = by_identity[identity]
        ordered.append(node)
        for reader in readers.get(identity, []):
            waiting[reader.identity].discard(identity)
            if not waiting[reader.identity]:
                heapq.heappush(ready, (reader.index, reader.identity))
    return ordered  # the graph has no cycles (build_graph refused them): every node is here


def rendered_dependencies(node: ScoreNode, graph: Graph[Score[Any]], rendered: Mapping[str, str]) -> list[str]:
    """What ``node`` waits for among the rendered scores (``rendered``: identity -> what it became),
    looking through scores that render to nothing (a contract check) to what they wait for."""
    found: set[str] = set()
    seen: set[str] = set()
    pending = list(node.waits_for)
    while pending:
        identity = pending.pop()
        if identity in seen or identity not in graph.by_identity:
            continue
        seen.add(identity)
        if identity in rendered:
            found.add(rendered[identity])
        else:
            pending.extend(graph.by_identity[identity].waits_for)
    return sorted(found)


def secrets_in(value: object) -> Iterator[Secret]:
    """Every :class:`Secret` held in ``value``'s fields, mappings and sequences (a score, say)."""
    seen: set[int] = set()
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(item))
        if isinstance(item, Secret):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, field.name, None) for field in dataclasses.fields(item))


def written_forms(value: str) -> tuple[bytes, ...]:
    """How a value can stand in a file: as is, base64 (a Kubernetes Secret's data), percent-encoded (a URI)."""
    raw = value.encode()
    return (raw, base64.b64encode(raw), quote(value, safe="").encode())


def check_no_secret_written(files: Mapping[str, bytes], nodes: Sequence[ScoreNode]) -> None:
    """Refuse the whole render when a file holds a secret value of one of the scores.

    The formats never write values (references stand in for them); this makes
    a mistake there an error instead of a secret in a repository.
    """
    for node in nodes:
        for secret in secrets_in(node.score):
            value = secret.reveal()
            if len(value) < SHORTEST_GUARDED_SECRET:
                continue
            forms = written_forms(value)
            for path, content in files.items():
                if any(form in content for form in forms):
                    raise HarmonyError(
                        f"render: {path} would hold a secret value of {node.identity} (also when the same text is "
                        "a plain value there: a secret must not be guessable from the files); nothing was written"
                    )
