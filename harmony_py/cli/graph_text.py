"""The picture of a maestro's scores (:mod:`.graph_model`) as Graphviz DOT or as a mermaid flowchart.

Both printers draw the same things: a box per score (identity, name, where it
runs, and with a plan its change as a colour and a note), a cluster per
composite, an arrow from each score to those waiting for it (solid and
labelled for an output taken, dotted and labelled for a reaction to changes,
dashed for the order written), and with a plan a legend of the colours. The output is a
function of the picture only, so the same score file prints the same bytes.

Identifiers are generated (``n0``, ``c0``, ``legend``), never taken
from user text; user text (identities, names, topology names) appears only
inside quoted labels, escaped for each language.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from .graph_formats import FORMATS
from .graph_model import MEMBERS_SHOWN, Cluster, EdgeKind, Picture, PictureEdge, PictureNode, PlannedChange

FILL: dict[PlannedChange, str] = {
    PlannedChange.CREATE: "#b7e4a7",
    PlannedChange.UPDATE: "#fde28b",
    PlannedChange.DELETE: "#f6a96b",
    PlannedChange.NOOP: "#e4e4e4",
    PlannedChange.FAILED: "#f07178",
    PlannedChange.SKIPPED: "#ffffff",
}
"""The fill of a node by its planned change (also the legend's)."""
LEGEND_TITLE = "planned change"
LEGEND_ORDER = (
    PlannedChange.CREATE,
    PlannedChange.UPDATE,
    PlannedChange.DELETE,
    PlannedChange.NOOP,
    PlannedChange.FAILED,
    PlannedChange.SKIPPED,
)


def render(picture: Picture, form: str) -> str:
    """``picture`` in the format ``form`` (one of :data:`FORMATS`), ending with a newline."""
    if form == "dot":
        return to_dot(picture)
    if form == "mermaid":
        return to_mermaid(picture)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {form!r}")


def node_lines(node: PictureNode) -> list[str]:
    """The lines of a node's label, shared by both printers."""
    lines = [node.identity]
    if node.name != node.identity:
        lines.append(node.name)
    lines.append(f"on {node.runs_on}")
    if node.members:
        shown = ", ".join(node.members[:MEMBERS_SHOWN])
        more = len(node.members) - MEMBERS_SHOWN
        lines.append(f"members: {shown}" + (f" and {more} more" if more > 0 else ""))
    if node.change is not None:
        lines.append(f"{node.change.value}: {node.note}" if node.note and node.note != node.change.value else node.change.value)
    return lines


def edge_label(edge: PictureEdge) -> str:
    """What an edge says: the fields taking the output, or the fields reacting to changes."""
    if edge.kind is EdgeKind.TRIGGER:
        return "changed() -> " + ", ".join(edge.fields)
    return ", ".join(edge.fields)


def cluster_title(cluster: Cluster) -> str:
    return f"{cluster.identity} ({cluster.kind})"


# -- DOT ---------------------------------------------------------------------


def to_dot(picture: Picture) -> str:
    lines = [
        "digraph harmony {",
        f"  graph [rankdir=LR, labelloc=t, fontname=Helvetica, label={_dot_string(picture.title)}];",
        "  node [shape=box, style=rounded, fontname=Helvetica];",
        "  edge [fontname=Helvetica, fontsize=10];",
    ]
    lines += _dot_scope(picture, None, "  ")
    for edge in picture.edges:
        lines.append(f"  {edge.source} -> {edge.target} [{_dot_edge_style(edge)}];")
    if picture.planned:
        lines += _dot_legend()
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_scope(picture: Picture, cluster: str | None, indent: str) -> Iterator[str]:
    """The nodes and nested clusters directly inside ``cluster`` (None: the top)."""
    for child in picture.clusters:
        if child.parent == cluster:
            yield f"{indent}subgraph cluster_{child.key} {{"
            yield f"{indent}  label={_dot_string(cluster_title(child))};"
            yield from _dot_scope(picture, child.key, indent + "  ")
            yield f"{indent}}}"
    for node in picture.nodes:
        if node.cluster == cluster:
            yield f"{indent}{node.key} [{_dot_node_style(node)}];"


def _dot_node_style(node: PictureNode) -> str:
    label = f"label={_dot_string(chr(10).join(node_lines(node)))}"
    if node.change is None:
        return label
    style = "rounded,dashed,filled" if node.change is PlannedChange.SKIPPED else "rounded,filled"
    return f'{label}, style="{style}", fillcolor="{FILL[node.change]}"'


def _dot_edge_style(edge: PictureEdge) -> str:
    if edge.kind is EdgeKind.ORDER:
        return 'style=dashed, color="#777777"'
    style = "dotted" if edge.kind is EdgeKind.TRIGGER else "solid"
    return f"style={style}, label={_dot_string(edge_label(edge))}"


def _dot_legend() -> list[str]:
    """One node holding a table of the colours: it stays compact however the graph is ranked."""
    rows = "".join(
        f'<TR><TD BGCOLOR="{FILL[change]}"{_DOT_CELL_STYLE.get(change, "")}>{change.value}</TD></TR>'
        for change in LEGEND_ORDER
    )
    table = f'<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2"><TR><TD BORDER="0">{LEGEND_TITLE}</TD></TR>{rows}</TABLE>'
    return [f"  legend [shape=plain, label=<{table}>];"]


_DOT_CELL_STYLE = {PlannedChange.SKIPPED: ' STYLE="dashed"'}


def _dot_string(text: str) -> str:
    """``text`` as a DOT double-quoted string; a newline becomes a centred line break."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'


# -- mermaid -----------------------------------------------------------------


def to_mermaid(picture: Picture) -> str:
    # The title sits in YAML front matter: a JSON string is a valid YAML scalar whatever it holds.
    lines = ["---", f"title: {json.dumps(picture.title)}", "---", "flowchart LR"]
    lines += _mermaid_scope(picture, None, "  ")
    for edge in picture.edges:
        lines.append(f"  {_mermaid_edge(edge)}")
    if picture.planned:
        lines += _mermaid_legend(picture)
    return "\n".join(lines) + "\n"


def _mermaid_scope(picture: Picture, cluster: str | None, indent: str) -> Iterator[str]:
    for child in picture.clusters:
        if child.parent == cluster:
            yield f'{indent}subgraph {child.key}["{_mermaid_text(cluster_title(child))}"]'
            yield from _mermaid_scope(picture, child.key, indent + "  ")
            yield f"{indent}end"
    for node in picture.nodes:
        if node.cluster == cluster:
            label = "<br/>".join(_mermaid_text(line) for line in node_lines(node))
            yield f'{indent}{node.key}["{label}"]'


def _mermaid_edge(edge: PictureEdge) -> str:
    if edge.kind is EdgeKind.ORDER:
        return f"{edge.source} -.-> {edge.target}"
    arrow = "==>" if edge.kind is EdgeKind.OUTPUT else "-.->"
    return f'{edge.source} {arrow}|"{_mermaid_text(edge_label(edge))}"| {edge.target}'


def _mermaid_legend(picture: Picture) -> list[str]:
    lines = [f'  subgraph legend["{LEGEND_TITLE}"]', "    direction TB"]
    keys = [f"legend_{change.value}" for change in LEGEND_ORDER]
    for key, change in zip(keys, LEGEND_ORDER):
        lines.append(f'    {key}["{change.value}"]')
    lines.append(f"    {' ~~~ '.join(keys)}")
    lines.append("  end")
    for change in LEGEND_ORDER:
        dashed = ",stroke-dasharray:4 3" if change is PlannedChange.SKIPPED else ""
        lines.append(f"  classDef {change.value} fill:{FILL[change]},stroke:#333333{dashed}")
    for change in LEGEND_ORDER:
        members = [node.key for node in picture.nodes if node.change is change] + [f"legend_{change.value}"]
        lines.append(f"  class {','.join(members)} {change.value}")
    return lines


_MERMAID_ENTITIES = {
    "&": "#amp;",
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "|": "#124;",
    "\n": " ",
    "\r": " ",
}


def _mermaid_text(text: str) -> str:
    """``text`` safe inside a mermaid quoted label: characters the parser or the HTML would read, as entity codes."""
    return "".join(_MERMAID_ENTITIES.get(char, char) for char in text)
