"""``check``: mypy --strict on a score file, the compiler of harmony_py.

``check`` never runs the score file (adr/0006): it reads it. So that it
refuses what ``plan`` and ``apply`` refuse before mypy runs, it looks for a
module-level ``maestro`` in the file's syntax tree; mypy then checks the types.
"""

from __future__ import annotations

import ast
from pathlib import Path

from rich.console import Console

from harmony_py import DISTRIBUTION
from harmony_py.errors import ScoreFileError

from .loader import MAESTRO_NAME, no_maestro_message

_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def run_check(file: str, console: Console, errors: Console) -> int:
    path = Path(file)
    if not path.exists():
        raise ScoreFileError(f"score file {file} not found")
    if not path.is_file():
        raise ScoreFileError(f"score file {file} is not a file")
    if not may_define(path, MAESTRO_NAME):
        raise ScoreFileError(no_maestro_message(file))
    try:
        from mypy import api
    except ImportError:
        raise ScoreFileError(
            f"mypy is not installed: install the check extra, `pip install '{DISTRIBUTION}[check]'` "
            "(from a clone: `pip install -e '.[check]'`)"
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


def may_define(path: Path, name: str) -> bool:
    """Whether the file can bind ``name`` at module level, read from its syntax tree without running it.

    An assignment, import, ``def``/``class``, loop or ``with`` target, or a
    ``global`` declaration counts; so does ``from x import *``, whose names
    cannot be known without importing ``x``. A syntax error is the loader's
    one-line error.
    """
    source = path.read_bytes()
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise ScoreFileError(f"score file {path}, line {exc.lineno}: syntax error: {exc.msg}") from exc
    return any(_binds(node, name) for node in _module_level(tree)) or any(
        isinstance(node, ast.Global) and name in node.names for node in ast.walk(tree)
    )


def _module_level(tree: ast.Module) -> list[ast.AST]:
    """Every node that runs in the module's own scope: function and class bodies left out, their names kept."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        if isinstance(node, _NESTED_SCOPES):
            continue
        if isinstance(node, ast.AnnAssign) and node.value is None:
            continue  # `maestro: Maestro[T]` alone binds nothing
        pending.extend(ast.iter_child_nodes(node))
    return found


def _binds(node: ast.AST, name: str) -> bool:
    if isinstance(node, ast.Name):
        return node.id == name and isinstance(node.ctx, ast.Store)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if alias.name == "*":
                return True
            bound = alias.asname or alias.name.split(".")[0]
            if bound == name:
                return True
    return False
