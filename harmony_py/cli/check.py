"""``check``: mypy --strict on a score file, the compiler of harmony_py."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from harmony_py.errors import ScoreFileError


def run_check(file: str, console: Console, errors: Console) -> int:
    if not Path(file).is_file():
        raise ScoreFileError(f"score file {file} not found")
    try:
        from mypy import api
    except ImportError:
        raise ScoreFileError(
            "mypy is not installed: install it with `pip install 'harmony_py[check]'`"
        ) from None
    # mypy reads the project's own configuration (mypy.ini, pyproject.toml)
    # from the current directory; --strict is always on top of it.
    stdout, stderr, status = api.run(["--strict", "--no-error-summary", file])
    for line in (stdout + stderr).splitlines():
        console.print(line, markup=False, highlight=False)
    if status == 0:
        console.print(f"check: {file} passes mypy --strict", markup=False, highlight=False)
        return 0
    errors.print(f"error: {file} does not type-check (mypy --strict); see above", markup=False, highlight=False)
    return 1
