"""``render``: the deployment a score file describes, written out as files instead of applied.

``render(graph, "compose")`` gives a ``compose.yaml`` for the Docker platform,
``render(graph, "kubernetes")`` one YAML file per Kubernetes object in apply
order. Every object comes from the builder apply uses, nothing contacts a
topology, the bytes are the same on every run, and no secret value is ever
written (references stand in for them). Scores a format has no form for (a
host's file, a guarded command) are listed with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .formats import FORMATS, RenderFormat

if TYPE_CHECKING:
    from harmony_py.graph import Graph
    from harmony_py.score import Score

    from .rendering import NotRendered, Rendering

__all__ = ["FORMATS", "NotRendered", "RenderFormat", "Rendering", "render"]


def render(graph: Graph[Score[Any]], format: RenderFormat) -> Rendering:
    """The files of ``graph``'s scores in ``format``; raises if one would hold a secret value."""
    # Imported here: the CLI reads FORMATS at every start, the scores' builders only to render.
    from .compose import render_compose
    from .kubernetes import render_kubernetes
    from .rendering import apply_order, check_no_secret_written

    rendering = render_compose(graph) if format == "compose" else render_kubernetes(graph)
    check_no_secret_written(rendering.files, apply_order(graph))
    return rendering


if not TYPE_CHECKING:
    # Imported on first use (PEP 562), so that reading FORMATS loads no score or graph;
    # hidden from type checkers, which read the imports above instead.

    def __getattr__(name: str) -> Any:
        if name not in ("NotRendered", "Rendering"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(".rendering", __name__), name)
