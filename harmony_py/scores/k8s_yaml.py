"""YAML manifests loaded with limits: aliases that cannot explode, no duplicate keys, bounded nesting.

PyYAML shares an aliased node instead of copying it, so an "alias bomb" (ten
aliases of ten aliases of ..., "billion laughs") loads in a few kilobytes, and
explodes only when something walks the result: copying it, comparing it,
sending it as JSON. Found: a 1 KB manifest took 1.58 GB and never finished.

Aliases stay allowed (``<<: *defaults`` and anchored label sets are common
in hand-written manifests), within limits that no such manifest comes near:
the aliases of one document may add at most :data:`MAX_ALIAS_NODES` nodes
and :data:`MAX_ALIAS_CHARS` characters of text to it once expanded, and may
not refer to a node that contains them (a recursive structure). The check
walks the composed node graph, counting each shared node once per use
(memoised, so the walk itself stays small), before anything is constructed.

A mapping that names the same key twice is refused with both lines: YAML
loaders keep the last one silently, so a manifest whose second ``name:``
overrode the first would deploy something its author did not read.
``<<`` merges are not duplicates: a key set next to a merge overrides it, as
YAML intends.

Loading uses libyaml when PyYAML has it (the checks work on composed nodes,
which both parsers produce).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_ALIAS_NODES = 10_000
"""How many nodes aliases may add to one document, once expanded."""
MAX_ALIAS_CHARS = 1_000_000
"""How many characters of text aliases may add to one document, once expanded."""
MAX_DEPTH = 200
"""How deeply collections may nest (Kubernetes objects nest a few dozen levels at most)."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
if TYPE_CHECKING:
    _Base = yaml.SafeLoader
else:  # libyaml's parser when PyYAML was built with it: several times faster on large manifests
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestYamlError(yaml.YAMLError):
    """YAML that parses, but that a manifest may not be: the message says where and why."""


class _ManifestLoader(_Base):
    """A SafeLoader that refuses duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        _refuse_duplicate_keys(self, node)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def load_documents(text: str) -> Iterator[Any]:
    """Each document of ``text``, safely constructed; ``yaml.YAMLError`` (or ManifestYamlError) when it may not be."""
    loader = _ManifestLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue  # an empty document
            check_expansion(node)
            yield loader.construct_document(node)
    finally:
        loader.dispose()


def check_expansion(root: Node) -> None:
    """Refuse a document whose aliases would expand beyond the limits, refer to themselves, or nest too deeply."""
    expanded: dict[int, tuple[int, int]] = {}  # node id -> (nodes, characters) once expanded
    distinct_nodes = 0
    distinct_chars = 0
    # Iterative depth-first walk: a deeply nested document must not exhaust Python's stack here.
    stack: list[tuple[Node, bool, int]] = [(root, False, 1)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done, depth = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            nodes, chars = 1, 0
            for child in _children(node):
                child_nodes, child_chars = expanded[id(child)]
                nodes, chars = nodes + child_nodes, chars + child_chars
            expanded[key] = (nodes, chars)
            continue
        if key in open_nodes:
            raise ManifestYamlError(f"recursive alias at line {_line(node)}: an alias refers to a node that contains it")
        if key in expanded:
            continue  # seen before through another alias: its size is known
        if depth > MAX_DEPTH:
            raise ManifestYamlError(f"nested deeper than {MAX_DEPTH} levels at line {_line(node)}")
        if isinstance(node, ScalarNode):
            text = len(str(node.value))
            expanded[key] = (1, text)
            distinct_nodes, distinct_chars = distinct_nodes + 1, distinct_chars + text
            continue
        distinct_nodes += 1
        open_nodes.add(key)
        stack.append((node, True, depth))
        stack.extend((child, False, depth + 1) for child in reversed(_children(node)))
    nodes, chars = expanded[id(root)]
    if nodes - distinct_nodes > MAX_ALIAS_NODES:
        raise ManifestYamlError(
            f"aliases in the document starting at line {_line(root)} would add {nodes - distinct_nodes} nodes "
            f"once expanded (at most {MAX_ALIAS_NODES}): an alias bomb?"
        )
    if chars - distinct_chars > MAX_ALIAS_CHARS:
        raise ManifestYamlError(
            f"aliases in the document starting at line {_line(root)} would add {chars - distinct_chars} characters "
            f"once expanded (at most {MAX_ALIAS_CHARS}): an alias bomb?"
        )


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _refuse_duplicate_keys(loader: yaml.SafeLoader, node: MappingNode) -> None:
    first: dict[tuple[type, Any], int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
            continue  # merges may be overridden; complex keys are left to the loader
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            continue
        seen = (type(key), key)  # 1 and true are different keys, though equal in Python
        line = _line(key_node)
        if seen in first:
            raise ManifestYamlError(f"duplicate key {key!r} at line {line} (first at line {first[seen]})")
        first[seen] = line


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1
