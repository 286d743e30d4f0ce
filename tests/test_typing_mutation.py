"""The typing contract must catch the mistake it exists for.

Replacing the guarded overloads of the higher-order topologies with plain
methods (the natural, wrong implementation) must make the contract fail.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).parent.parent
_OVERLOAD_STUB = re.compile(r"    @overload\n    (?:async )?def [^\n]*(\n(?!    @overload|    (?:async )?def)[^\n]*)*?: \.\.\.\n")


def test_plain_methods_instead_of_guarded_overloads_break_the_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for package in ("harmony_py", "capabilities", "topologies"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests" / "typing_cases", tmp_path / "cases")
    replicated = tmp_path / "topologies" / "replicated" / "base.py"
    text = replicated.read_text()
    mutated = _OVERLOAD_STUB.sub("", text).replace("self: ReplicatedTopology[Any]", "self")
    assert mutated.count("@overload") == 0 and mutated != text
    replicated.write_text(mutated)
    monkeypatch.chdir(tmp_path)  # mypy resolves the packages from the mutated copy

    stdout, _, status = api.run(
        [
            "--strict",
            "--warn-unused-ignores",
            "--config-file",
            str(ROOT / "mypy.ini"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            str(tmp_path / "cases" / "core_cases.py"),
        ]
    )
    assert status == 1
    assert "unused-ignore" in stdout
