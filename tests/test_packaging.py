"""Promises about the package itself: light import, typed packages, runnable examples."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pexpect

import harmony_py

ROOT = Path(__file__).parent.parent


def test_import_harmony_py_stays_light() -> None:
    code = (
        "import sys, harmony_py, harmony_py.scores, capabilities, topologies; "
        "heavy = [m for m in ('asyncssh', 'docker', 'kubernetes', 'rich') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_every_package_ships_py_typed() -> None:
    for package in ("harmony_py", "capabilities", "topologies"):
        assert (ROOT / package / "py.typed").is_file()


def test_the_readme_main_job_example_applies_and_converges(tmp_path: Path) -> None:
    env = {**os.environ, "HARMONY_HELLO_DIR": str(tmp_path / "hello"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "harmony_py", "apply", "--yes", "examples/hello_localhost.py"]
    first = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "hello" / "motd").is_file() and (tmp_path / "hello" / "first-apply").is_file()
    second = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    assert second.returncode == 0 and "Nothing to do" in second.stdout


def test_apply_on_a_terminal_asks_before_changing_anything(tmp_path: Path) -> None:
    env = {**os.environ, "HARMONY_HELLO_DIR": str(tmp_path / "hello"), "PYTHONPATH": str(ROOT)}
    args = ["-m", "harmony_py", "apply", "examples/hello_localhost.py"]

    declined = pexpect.spawn(sys.executable, args, cwd=str(ROOT), env=env, encoding="utf-8", timeout=60)
    declined.expect_exact("Apply these changes? [y/N]")
    assert not (tmp_path / "hello").exists()
    declined.sendline("n")
    declined.expect_exact("Nothing was applied.")
    declined.expect(pexpect.EOF)
    assert not (tmp_path / "hello").exists()

    accepted = pexpect.spawn(sys.executable, args, cwd=str(ROOT), env=env, encoding="utf-8", timeout=60)
    accepted.expect_exact("Apply these changes? [y/N]")
    accepted.sendline("y")
    accepted.expect_exact("Apply: 4 changed")
    accepted.expect(pexpect.EOF)
    accepted.close()
    assert accepted.exitstatus == 0
    assert (tmp_path / "hello" / "motd").is_file()


# -- the distribution ---------------------------------------------------------

UNRELATED_ON_THE_INDEX = "harmony-py"
"""NASA's Harmony client on the package index: installing that name gets it, not this project (adr/0006)."""

APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
"""The standard text of https://www.apache.org/licenses/LICENSE-2.0.txt (Debian's common-licenses/Apache-2.0)."""


def pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_distribution_is_not_named_like_the_unrelated_harmony_py_on_the_index() -> None:
    project = pyproject()["project"]
    assert normalized(project["name"]) != UNRELATED_ON_THE_INDEX
    assert project["name"] == harmony_py.DISTRIBUTION == "harmony-infra"
    assert (ROOT / "harmony_py" / "__init__.py").is_file()  # the import name stays harmony_py


def test_every_install_hint_names_the_distribution() -> None:
    hint = re.compile(r"pip install[^\n`&;|)]*")  # up to the end of the command
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    found = []
    for name in tracked:
        if not name.endswith((".py", ".md", ".sh", ".toml", ".txt")) or not (ROOT / name).is_file():
            continue
        if name.startswith("adr/"):
            continue  # decision records quote the old hint on purpose
        for line in hint.findall((ROOT / name).read_text(errors="replace")):
            found.append(line)
            assert not re.search(r"harmony[-_]py\b", line, re.I), f"{name}: {line}"
    assert any("harmony-infra[check]" in line for line in found)
    check_hint = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['mypy'] = None; "
         "from harmony_py.cli.main import main; raise SystemExit(main(['check', 'examples/hello_localhost.py']))"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert check_hint.returncode == 1
    assert "pip install 'harmony-infra[check]'" in check_hint.stderr


def test_the_version_is_written_once_and_the_command_line_prints_it() -> None:
    project = pyproject()
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert project["tool"]["hatch"]["version"]["path"] == "harmony_py/__init__.py"
    for argv in ([sys.executable, "-m", "harmony_py", "--version"], [sys.executable, "-c", CONSOLE_SCRIPT, "--version"]):
        shown = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=True)
        assert shown.stdout.strip() == f"harmony_py {harmony_py.__version__} (distribution harmony-infra)"


CONSOLE_SCRIPT = "import sys; sys.argv[0] = 'harmony'; from harmony_py.cli.main import main; sys.exit(main())"
"""What the installed ``harmony`` script runs: pyproject's entry point, called with no arguments."""


def test_usage_names_the_program_as_the_user_started_it() -> None:
    assert pyproject()["project"]["scripts"] == {"harmony": "harmony_py.cli.main:main"}
    as_script = subprocess.run([sys.executable, "-c", CONSOLE_SCRIPT, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert as_script.returncode == 0 and as_script.stdout.startswith("usage: harmony [-h]")
    as_module = subprocess.run([sys.executable, "-m", "harmony_py", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert as_module.returncode == 0 and as_module.stdout.startswith("usage: python -m harmony_py [-h]")


def test_the_license_file_is_the_apache_2_0_text_the_metadata_declares() -> None:
    assert pyproject()["project"]["license"] == "Apache-2.0"
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_SHA256


def imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    return names


def test_what_the_examples_import_is_installed_by_the_package_or_its_examples_extra() -> None:
    project = pyproject()["project"]
    declared = {normalized(re.split(r"[\[<>=~! ]", requirement)[0]) for requirement in project["dependencies"]}
    declared |= {normalized(re.split(r"[\[<>=~! ]", requirement)[0]) for requirement in project["optional-dependencies"]["examples"]}
    # The examples' own modules import each other (a promote file imports its cluster's file).
    ours = {"harmony_py", "capabilities", "topologies"} | {path.stem for path in (ROOT / "examples").iterdir()}
    for path in sorted((ROOT / "examples").rglob("*.py")):
        for module in imported_top_level_modules(path) - ours - set(sys.stdlib_module_names):
            distribution = {"yaml": "pyyaml"}.get(module, module)
            assert normalized(distribution) in declared, f"{path.relative_to(ROOT)} imports {module}: add it to the examples extra"
