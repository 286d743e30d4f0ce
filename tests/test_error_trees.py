"""One error module per layer, each drawing its tree in its docstring (adr/0008)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

import pytest

import capabilities
import harmony_py
import topologies
from capabilities.errors import ApplicationError, FileAccessError, PostgreSQLError
from harmony_py.errors import HarmonyError
from topologies.errors import (
    ApplicationStartError,
    HostPostgreSQLError,
    K8sApplicationError,
    K8sPostgreSQLError,
    LocalFileError,
    RemoteFileError,
)

ERROR_MODULES = ("harmony_py.errors", "capabilities.errors", "topologies.errors")
ELSEWHERE = {"harmony_py.outputs.UnresolvedRefError": "defined beside Ref; the references' own module"}
"""Deliberate errors still defined outside an error module, and why."""


def every_module(package: ModuleType) -> list[ModuleType]:
    names = [info.name for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return [importlib.import_module(name) for name in names if not name.endswith(".__main__")]


def project_errors() -> set[type[BaseException]]:
    for package in (harmony_py, capabilities, topologies):
        every_module(package)
    found: set[type[BaseException]] = set()
    pending: list[type[BaseException]] = [HarmonyError]
    while pending:
        error = pending.pop()
        if error.__module__.split(".")[0] in ("harmony_py", "capabilities", "topologies"):
            found.add(error)
        pending += error.__subclasses__()
    return found


def test_every_deliberate_error_lives_in_its_layers_error_module() -> None:
    stray = sorted(
        f"{error.__module__}.{error.__qualname__}"
        for error in project_errors()
        if error.__module__ not in ERROR_MODULES and f"{error.__module__}.{error.__qualname__}" not in ELSEWHERE
    )
    assert stray == []


@pytest.mark.parametrize("name", ERROR_MODULES)
def test_each_error_module_draws_every_class_it_defines_in_its_tree(name: str) -> None:
    module = importlib.import_module(name)
    defined = {
        value.__name__
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == name
    }
    drawn = set(re.findall(r"(?:[├└]── |^    )(\w+Error)\b", module.__doc__ or "", re.M))
    assert defined and defined <= drawn, sorted(defined - drawn)


def test_adapters_refine_the_capabilities_errors() -> None:
    assert issubclass(HostPostgreSQLError, PostgreSQLError) and issubclass(K8sPostgreSQLError, PostgreSQLError)
    assert issubclass(LocalFileError, FileAccessError) and issubclass(RemoteFileError, FileAccessError)
    assert issubclass(ApplicationStartError, ApplicationError) and issubclass(K8sApplicationError, ApplicationError)
    assert all(issubclass(error, HarmonyError) for error in project_errors())
