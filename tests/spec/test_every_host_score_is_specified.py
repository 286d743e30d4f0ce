"""Every score of harmony_py.scores that needs CommandRunner has plan specifications in this tier."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import harmony_py.scores
from capabilities.command_runner import CommandRunner
from harmony_py import Score

from . import test_file_scores, test_system_scores


def host_scores() -> set[type]:
    found: set[type] = set()
    for module in pkgutil.iter_modules(harmony_py.scores.__path__):
        loaded = importlib.import_module(f"harmony_py.scores.{module.name}")
        for name, value in vars(loaded).items():
            if (
                inspect.isclass(value) and issubclass(value, Score) and value.__module__ == loaded.__name__
                and not name.startswith("_") and not inspect.isabstract(value)
                and value.required_capability() is CommandRunner
            ):  # fmt: skip
                found.add(value)
    return found


def test_every_host_score_has_a_plan_specification() -> None:
    specified = {*test_file_scores.SPECIFIED, *test_system_scores.SPECIFIED}
    missing = sorted(score.__name__ for score in host_scores() - specified)
    assert not missing, f"host scores without a plan specification in tests/spec/: {', '.join(missing)}"
    assert len(host_scores()) >= 16
