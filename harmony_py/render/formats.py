"""The formats ``render`` writes, apart from the renderers: the CLI's parser reads them at every start."""

from __future__ import annotations

from typing import Literal

RenderFormat = Literal["compose", "kubernetes"]
FORMATS: tuple[RenderFormat, ...] = ("compose", "kubernetes")
