"""Names a module imports only for type checkers, resolved at run time when an annotation needs them.

A topology keeps the modules of the services it hands out (PostgreSQL on a host, nginx,
Docker, applications) out of its start-up by importing their classes under
``if TYPE_CHECKING:`` and inside the accessors that build them (adr/0110). The capability
check still reads an accessor's declared return type (``def postgresql(self) ->
HostPostgreSQL``) to check the service one level down; :func:`type_checking_names` gives it
those names, each imported on first lookup, read from the module's own ``TYPE_CHECKING``
imports so that nothing lists them twice.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterator, Mapping


class _ImportedOnLookup(Mapping[str, object]):
    """``name -> object`` for a module's type-checking imports; a lookup imports the module that defines it."""

    def __init__(self, origins: dict[str, tuple[str, str | None]]) -> None:
        self._origins = origins

    def __getitem__(self, name: str) -> object:
        module, attribute = self._origins[name]
        imported = importlib.import_module(module)
        return imported if attribute is None else getattr(imported, attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(self._origins)

    def __len__(self) -> int:
        return len(self._origins)


@functools.lru_cache(maxsize=256)
def type_checking_names(module_name: str) -> Mapping[str, object]:
    """The names ``module_name`` imports under a top-level ``if TYPE_CHECKING:`` (empty when it has no source)."""
    module = sys.modules.get(module_name)
    try:
        source = inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        source = ""
    package = getattr(module, "__package__", None) or ""
    origins: dict[str, tuple[str, str | None]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                origins.update(_imported_names(statement, package))
    return _ImportedOnLookup(origins)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(statement: ast.stmt, package: str) -> dict[str, tuple[str, str | None]]:
    if isinstance(statement, ast.ImportFrom):
        module = importlib.util.resolve_name("." * statement.level + (statement.module or ""), package)
        return {alias.asname or alias.name: (module, alias.name) for alias in statement.names}
    if isinstance(statement, ast.Import):
        # "import a.b" binds "a" (the package); "import a.b as c" binds "c" (the module a.b).
        bound: dict[str, tuple[str, str | None]] = {}
        for alias in statement.names:
            top = alias.name.partition(".")[0]
            bound[alias.asname or top] = (alias.name if alias.asname else top, None)
        return bound
    return {}
