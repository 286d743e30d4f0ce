"""Every public score of harmony_py.scores shows how it is used, and its example is true.

An example is an ``Example::`` literal block in the class docstring (or a
``>>>`` doctest, which is run). The literal blocks are gathered into one
module that mypy --strict checks and that is executed: building a score
touches no host, so each example must at least type-check and make a valid
score.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from mypy import api

import harmony_py.scores
from harmony_py import Score

ROOT = Path(__file__).parent.parent
EXTRA_IMPORTS = """\
from pathlib import Path

from capabilities.docker import ContainerSpec
from capabilities.postgresql import PgUser
from harmony_py import Secret
from harmony_py.scores import PostgreSQLDatabase, UpdatePolicy
"""


def score_modules() -> list[ModuleType]:
    return [importlib.import_module(f"harmony_py.scores.{m.name}") for m in pkgutil.iter_modules(harmony_py.scores.__path__)]


def public_scores() -> list[type[Score[object]]]:
    """Every class a user may write: a Score subclass defined in harmony_py.scores, not named ``_...``."""
    found: list[type[Score[object]]] = []
    for module in score_modules():
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Score) and value.__module__ == module.__name__ and not name.startswith("_"):
                found.append(value)
    return sorted(found, key=lambda score: score.__name__)


def example_of(score: type[object]) -> str | None:
    """The code of the class's ``Example::`` block, dedented, or ``None``."""
    doc = inspect.getdoc(score) or ""
    _, marker, rest = doc.partition("Example::\n")
    if not marker:
        return None
    lines: list[str] = []
    for line in rest.split("\n"):
        if line.strip() and not line.startswith((" ", "\t")):
            break
        lines.append(line)
    code = textwrap.dedent("\n".join(lines)).strip()
    return code or None


def examples_module() -> str:
    imports = sorted({f"from {score.__module__} import {score.__name__}" for score in public_scores()})
    functions = []
    for score in public_scores():
        code = example_of(score)
        if code is not None:
            functions.append(f"def example_{score.__name__}() -> None:\n{textwrap.indent(code, '    ')}\n")
    return "\n".join([*imports, EXTRA_IMPORTS, *functions])


def test_the_scores_are_found() -> None:
    names = {score.__name__ for score in public_scores()}
    assert {"FileScore", "PostgreSQLScore", "K8sDeploymentScore", "ContainerScore", "ApplicationScore"} <= names


@pytest.mark.parametrize("score", public_scores(), ids=lambda score: score.__name__)
def test_every_public_score_has_a_usage_example(score: type[object]) -> None:
    doc = inspect.getdoc(score) or ""
    assert example_of(score) is not None or ">>>" in doc, f"{score.__name__}'s docstring has no Example:: block or >>> example"


def test_the_examples_type_check_under_mypy_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "score_examples.py"
    module.write_text(examples_module())
    monkeypatch.chdir(ROOT)
    stdout, stderr, status = api.run(["--config-file", "mypy.ini", str(module)])
    assert status == 0, stdout + stderr + "\n" + module.read_text()


CONTROLLER_FILES = {
    "nodesource.asc": "-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQINBGTest\n-----END PGP PUBLIC KEY BLOCK-----\n",
}
"""Files on the controller that examples read (a key file next to the project file)."""


def test_the_examples_make_valid_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, content in CONTROLLER_FILES.items():
        (tmp_path / name).write_text(content)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(examples_module(), "score_examples.py", "exec"), namespace)  # noqa: S102 - our own docstrings
    examples = {name: value for name, value in namespace.items() if name.startswith("example_") and callable(value)}
    assert len(examples) == len(public_scores())
    for example in examples.values():
        example()


@pytest.mark.parametrize("module", score_modules(), ids=lambda module: module.__name__)
def test_doctest_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
