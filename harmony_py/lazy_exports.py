"""Names a package re-exports, imported from their modules on first use (PEP 562).

A package's ``__init__`` keeps its explicit imports under ``if TYPE_CHECKING:``, for mypy
and pyright, and hands the same names to :func:`lazy_exports` for run time::

    _LAZY = {"Maestro": ".maestro", ...}
    if not TYPE_CHECKING:
        __getattr__, __dir__ = lazy_exports(globals(), _LAZY)

so that importing the package (and ``python -m harmony_py --help``) loads only the modules a
program uses (adr/0106). tests/test_startup.py checks each table against its imports and ``__all__``.
The hooks stay hidden from type checkers: a module ``__getattr__`` would make them accept any name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], origins: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package whose globals are ``namespace``.

    ``origins`` maps each public name to the module that defines it, relative to the package
    (``".maestro"``) or absolute. A name is imported once, then stored in ``namespace``.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        origin = origins.get(name)
        if origin is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(origin, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *origins})

    return __getattr__, __dir__
