"""The import rules of the package layout, read from the code itself (adr/0008).

Every module of ``topologies/`` and ``capabilities/`` is parsed (not imported)
and each import it makes, at the top or inside a function, is resolved to the
module it names:

- the technology subpackages (``postgres``, ``docker``, ``balancer``, ``app``,
  ``replicated``, and ``k8s`` but for ``k8s/anywhere.py``) never import what
  assembles topologies: ``topologies.host``, ``topologies.k8s.anywhere`` or the
  ``topologies`` package itself;
- no module takes a private name (``_name``, or anything of a ``_module``) from
  another subpackage: siblings share through named public modules;
- nothing in ``topologies`` or ``capabilities`` is imported by ``harmony_py``,
  and ``capabilities`` never imports ``topologies``;
- ``capabilities`` takes from ``harmony_py`` only the leaf modules
  ``harmony_py.values`` and ``harmony_py.errors``, which import nothing else
  of the project (so the Protocols never pull in the engine's modules).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[1]
TECHNOLOGIES = ("postgres", "docker", "balancer", "app", "replicated", "k8s")
ASSEMBLERS = ("topologies.host", "topologies.k8s.anywhere")
LEAVES = ("harmony_py.values", "harmony_py.errors", "harmony_py.lazy_exports")
ON_THE_LEAVES = ("harmony_py.validation",)
"""Modules capabilities may take besides the leaves: they import only the leaves (the field validators)."""


@dataclass(frozen=True)
class Imported:
    """One name (or whole module) a module imports: where from, and on which line."""

    importer: str
    module: str
    name: str | None
    line: int

    def __str__(self) -> str:
        what = self.module if self.name is None else f"{self.module}.{self.name}"
        return f"{self.importer}:{self.line} imports {what}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def modules_of(package: str) -> list[Path]:
    return sorted(path for path in (ROOT / package).rglob("*.py") if "__pycache__" not in path.parts)


def imports_of(path: Path) -> list[Imported]:
    """Every import in ``path``, resolved: ``from pkg import module`` names the module, else the package's name."""
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found: list[Imported] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Imported(importer, alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if is_module(submodule):
                    found.append(Imported(importer, submodule, None, node.lineno))
                else:
                    found.append(Imported(importer, source, alias.name, node.lineno))
    return found


def project_imports(package: str) -> list[Imported]:
    return [
        imported
        for path in modules_of(package)
        for imported in imports_of(path)
        if imported.module.split(".")[0] in ("harmony_py", "capabilities", "topologies")
    ]


def technology_of(module: str) -> str | None:
    """The technology subpackage ``module`` belongs to, or ``None`` (an assembler, or a shared top-level module)."""
    parts = module.split(".")
    if len(parts) < 3 or parts[0] != "topologies" or parts[1] not in TECHNOLOGIES:
        return None
    return None if module == "topologies.k8s.anywhere" else parts[1]


def unit_of(module: str) -> str:
    """The part of the tree a module belongs to: ``topologies.<subpackage>``, or the module itself at the top."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "topologies" else parts[0]


def is_private(imported: Imported) -> bool:
    names = imported.module.split(".") + ([imported.name] if imported.name else [])
    return any(part.startswith("_") and not part.startswith("__") for part in names)


def test_the_tree_is_read() -> None:
    assert len(modules_of("topologies")) > 30
    assert any(imported.module == "topologies.postgres.roles" for imported in project_imports("topologies"))


def test_technology_subpackages_never_import_what_assembles_topologies() -> None:
    offending = [
        str(imported)
        for imported in project_imports("topologies")
        if technology_of(imported.importer) is not None
        and (
            imported.module == "topologies"
            or any(imported.module == top or imported.module.startswith(top + ".") for top in ASSEMBLERS)
        )
    ]
    assert offending == []


def test_no_module_takes_a_private_name_from_another_subpackage() -> None:
    offending = [
        str(imported)
        for imported in project_imports("topologies")
        if is_private(imported) and unit_of(imported.module) != unit_of(imported.importer)
    ]
    assert offending == []


@pytest.mark.parametrize("package", ["harmony_py", "capabilities"])
def test_inner_layers_never_import_topologies(package: str) -> None:
    assert [str(imported) for imported in project_imports(package) if imported.module.startswith("topologies")] == []


def test_capabilities_take_only_the_leaf_modules_of_harmony_py() -> None:
    taken = {imported.module for imported in project_imports("capabilities") if imported.module.startswith("harmony_py")}
    allowed = {*LEAVES, *ON_THE_LEAVES}
    assert taken and taken <= allowed, sorted(taken - allowed)


@pytest.mark.parametrize("module", ON_THE_LEAVES)
def test_what_capabilities_take_besides_the_leaves_imports_only_the_leaves(module: str) -> None:
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    project = {i.module for i in imports_of(path) if i.module.split(".")[0] in ("harmony_py", "capabilities", "topologies")}
    assert project <= set(LEAVES), sorted(project - set(LEAVES))


@pytest.mark.parametrize("leaf", LEAVES)
def test_the_leaf_modules_import_nothing_of_the_project(leaf: str) -> None:
    path = ROOT.joinpath(*leaf.split(".")).with_suffix(".py")
    project = [str(i) for i in imports_of(path) if i.module.split(".")[0] in ("harmony_py", "capabilities", "topologies")]
    assert project == []


def test_a_name_the_topologies_package_does_not_export_is_a_type_error(tmp_path: Path) -> None:
    """The lazy ``__getattr__`` of ``topologies`` is hidden from mypy, so a moved module's old name is refused."""
    program = tmp_path / "old_name.py"
    program.write_text("from topologies import LocalhostTopology, postgres_server\n")
    stdout, _, status = api.run(["--config-file", str(ROOT / "mypy.ini"), "--no-error-summary", str(program)])
    assert status == 1 and 'Module "topologies" has no attribute "postgres_server"' in stdout, stdout


def test_the_rules_see_a_reach_into_a_sibling() -> None:
    """The checks above would catch the import they forbid (not only pass on an empty list)."""
    sneaky = Imported("topologies.k8s.postgres", "topologies.postgres.server", "_last_lines", 1)
    assert is_private(sneaky) and unit_of(sneaky.module) != unit_of(sneaky.importer)
    assert technology_of("topologies.postgres.server") == "postgres"
    assert technology_of("topologies.k8s.anywhere") is None
    assert technology_of("topologies.host.localhost") is None
