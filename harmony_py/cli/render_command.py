"""``render FILE --out DIR [--format compose|kubernetes] [--partial]``: the deployment as files.

The score file is loaded (its topology is built but never contacted), its
scores are rendered, and the files are written to ``DIR``. Files an earlier
render wrote there (they start with the render's header) and that this one
no longer produces are removed, so ``DIR`` always holds one rendering. A
score the format has no form for is listed with the reason; then nothing is
written and the exit code is 1, unless ``--partial`` writes the others.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from harmony_py.errors import HarmonyError
from harmony_py.render import RenderFormat, Rendering, render

from .loader import load_maestro

HEADER = b"# Rendered by harmony_py"
"""How every rendered file starts: what marks a file in DIR as a render's, to replace."""
EXIT_OK = 0
EXIT_NOT_RENDERED = 1


def run_render(file: str, out: str, format: RenderFormat, partial: bool, console: Console, errors: Console) -> int:
    rendering = render(load_maestro(file).graph(), format)
    for left_out in rendering.not_rendered:
        errors.print(f"not rendered: {left_out}", markup=False, highlight=False)
    if not rendering.complete and not partial:
        count = len(rendering.not_rendered)
        errors.print(
            f"error: {count} score{'s' if count != 1 else ''} cannot be rendered as {format}; nothing was written "
            "(--partial writes the others)",
            markup=False,
            highlight=False,
        )
        return EXIT_NOT_RENDERED
    written = write_rendering(rendering, Path(out))
    console.print(f"rendered {written} file{'s' if written != 1 else ''} ({format}) to {out}", markup=False, highlight=False)
    return EXIT_OK


def write_rendering(rendering: Rendering, directory: Path) -> int:
    """Write the files into ``directory``, removing those an earlier render left that this one does not make."""
    if directory.exists() and not directory.is_dir():
        raise HarmonyError(f"render: --out {directory} is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    for old in sorted(directory.iterdir()):
        if old.is_file() and old.name not in rendering.files and _rendered(old):
            old.unlink()
    for name, content in rendering.files.items():
        (directory / name).write_bytes(content)
    return len(rendering.files)


def _rendered(path: Path) -> bool:
    with path.open("rb") as opened:
        return opened.read(len(HEADER)) == HEADER
