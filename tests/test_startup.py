"""Start-up stays cheap: what ``--help`` and ``import harmony_py`` load, and that lazy names still resolve.

No timing here (the machine is shared): the tests name the modules that must not be loaded,
so that a new top-level import of the event loop, rich or the Maestro fails a test instead of
silently slowing every command down (bench/startup.py measures the time; adr/0106).
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import harmony_py

ROOT = Path(__file__).parent.parent

NOT_FOR_HELP = (
    "asyncio",
    "anyio",
    "rich.console",
    "harmony_py.maestro",
    "harmony_py.capability_check",
    "harmony_py.events",
    "capabilities",
    "topologies",
)
"""What printing help must not import: each is loaded by the command that runs."""


def modules_loaded_by(*argv: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules in ``sys.modules`` when ``python -m harmony_py *argv`` exits, in a fresh interpreter.

    Read from ``sys.modules`` rather than ``-X importtime``, whose report leaves out what
    ``importlib.import_module`` loads (as the packages' lazy names do).
    """
    code = (
        "import atexit, runpy, sys; "
        "atexit.register(lambda: sys.__stderr__.write('MODULES ' + ' '.join(sorted(sys.modules)) + chr(10))); "
        f"sys.argv = ['harmony_py', *{list(argv)!r}]; "
        "runpy.run_module('harmony_py', run_name='__main__', alter_sys=True)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    reported = [line for line in result.stderr.splitlines() if line.startswith("MODULES ")]
    assert len(reported) == 1, result.stderr[-2000:]
    return set(reported[0].split()[1:])


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("plan", "--help"),
        ("graph", "--help"),
        ("--version",),
    ],
    ids=["help", "plan-help", "graph-help", "version"],
)
def test_help_loads_no_event_loop_rich_maestro_or_topologies(argv: tuple[str, ...]) -> None:
    loaded = modules_loaded_by(*argv)
    assert sorted(loaded & set(NOT_FOR_HELP)) == []


def test_import_harmony_py_loads_no_event_loop_maestro_or_capabilities() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys, harmony_py; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    loaded = set(result.stdout.split())
    assert sorted(loaded & {"asyncio", "anyio", "harmony_py.maestro", "capabilities", "rich"}) == []


NOT_FOR_A_LOCAL_FILES_PLAN = (
    "cryptography",
    "jinja2",
    "http.client",
    "harmony_py.scores.k8s",
    "harmony_py.scores.postgresql",
    "harmony_py.scores.templates",
    "harmony_py.scores.replicated_service",
    "topologies.k8s",
    "topologies.docker.topology",
    "topologies.replicated",
    "topologies.postgres",
    "topologies.docker",
    "topologies.balancer.nginx",
    "topologies.app.runtime",
    "capabilities.postgresql",
    "capabilities.application",
)
"""What planning a directory, two files and a command on localhost has no use for."""


def test_plan_of_files_and_a_command_on_localhost_loads_no_other_scores_topologies_or_cryptography(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "HARMONY_HELLO_DIR": str(tmp_path / "hello"), "PYTHONPATH": str(ROOT)}
    loaded = modules_loaded_by("plan", "examples/hello_localhost.py", env=env)
    assert "harmony_py.scores.files" in loaded and "topologies.host.localhost" in loaded
    assert sorted(m for m in loaded if m.startswith(NOT_FOR_A_LOCAL_FILES_PLAN)) == []


LAZY_PACKAGES = ("harmony_py", "harmony_py.scores", "capabilities", "topologies")
"""The packages whose re-exports are imported on first use (harmony_py.lazy_exports)."""

EAGER = {"harmony_py": {"apply_lock", "DISTRIBUTION", "__version__"}}
"""Public names a package binds itself, outside its lazy table."""


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_public_name_resolves_to_the_object_its_module_defines(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        origin = module._LAZY.get(name)
        if origin is not None:
            assert value is getattr(importlib.import_module(origin, package), name), name


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_table_type_checking_imports_and_all_name_the_same_things(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text())
    seen_by_type_checkers: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                for alias in statement.names:
                    seen_by_type_checkers[alias.name] = "." * statement.level + (statement.module or "")
    assert seen_by_type_checkers == module._LAZY
    assert set(module.__all__) == set(module._LAZY) | EAGER.get(package, set())
    assert len(module.__all__) == len(set(module.__all__))


def test_apply_lock_stays_the_function_after_its_module_is_imported() -> None:
    code = (
        "import harmony_py.apply_lock, harmony_py, inspect; "
        "from harmony_py import apply_lock; "
        "print(inspect.isfunction(apply_lock), inspect.isfunction(harmony_py.apply_lock))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.split() == ["True", "True"]


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(harmony_py, "no_such_name")
    with pytest.raises(ImportError):
        exec("from harmony_py import no_such_name", {})


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_star_import_and_dir_offer_every_public_name(package: str) -> None:
    module = importlib.import_module(package)
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)
    assert set(module.__all__) <= set(namespace)
    assert set(module.__all__) <= set(dir(module))


def test_render_formats_and_rendering_types_stay_importable_from_harmony_py_render() -> None:
    from harmony_py import render
    from harmony_py.render import rendering

    assert render.FORMATS == ("compose", "kubernetes")
    assert render.Rendering is rendering.Rendering and render.NotRendered is rendering.NotRendered
