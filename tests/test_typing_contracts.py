"""Runs mypy and pyright over tests/typing_cases: every fenced rejection must still be rejected, in both.

Each case file is checked by mypy ``--strict --warn-unused-ignores`` and by pyright
in strict mode (tests/typing_cases/pyrightconfig.json), whose
``reportUnnecessaryTypeIgnoreComment`` is the twin of mypy's unused-ignore: a fence
whose error disappears fails, and so does an error no fence covers.

One ``# type: ignore[code]`` fences an error both checkers report (pyright honours
it too). Where they disagree by design, the fence is per checker, with a comment why:

- only pyright reports it: ``# pyright: ignore[rule]`` (mypy reads no such comment);
- only mypy reports it: the line sits under ``if MYPY:``. mypy reads the name
  ``MYPY`` as always true; the pyright config defines it false, so pyright skips
  that block and checks the ``else:`` block (pyright's own verdict) instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from mypy import api

CASES = Path(__file__).parent / "typing_cases"
ROOT = Path(__file__).parent.parent
PYRIGHT_CONFIG = CASES / "pyrightconfig.json"


PENDING: dict[str, str] = {}
"""Contract files whose promise is written before the change that keeps it; strict: once kept, remove the entry."""


def _case_files() -> list[Path]:
    return sorted(path for path in CASES.glob("*.py") if path.name != "__init__.py")


def _cases() -> list[object]:
    return [
        pytest.param(path, id=path.name, marks=[pytest.mark.xfail(strict=True, reason=PENDING[path.name])])
        if path.name in PENDING
        else pytest.param(path, id=path.name)
        for path in _case_files()
    ]


def test_there_are_contract_files() -> None:
    assert _case_files(), "tests/typing_cases holds no contract files"


@pytest.mark.parametrize("case", _cases())
def test_typing_contract(case: Path) -> None:
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--warn-unused-ignores",
            "--show-error-codes",
            "--no-error-summary",
            "--config-file",
            str(ROOT / "mypy.ini"),
            str(case),
        ]
    )
    assert status == 0, f"mypy on {case.name}:\n{stdout}{stderr}"


@pytest.mark.parametrize("case", _cases())
def test_typing_contract_in_pyright(case: Path) -> None:
    findings = _pyright_findings().get(case.resolve(), [])
    assert not findings, f"pyright --strict on {case.name}:\n" + "\n".join(findings)


def test_pyright_checked_every_contract_file() -> None:
    checked = _pyright_run()["summary"]["filesAnalyzed"]
    assert checked >= len(_case_files()), f"pyright analysed {checked} files, expected {len(_case_files())}"


@cache
def _pyright_run() -> dict[str, Any]:
    """One pyright run over the whole directory (it costs seconds to start), read as JSON."""
    completed = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable, "--project", str(PYRIGHT_CONFIG)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright did not run (is node installed?): {completed.stdout[-2000:]}{completed.stderr[-2000:]}")
    return report


def _pyright_findings() -> dict[Path, list[str]]:
    """Each file's errors and warnings as ``line:column rule: message``."""
    findings: dict[Path, list[str]] = {}
    diagnostics = _pyright_run()["generalDiagnostics"]
    assert isinstance(diagnostics, list)
    for diagnostic in diagnostics:
        if diagnostic["severity"] not in ("error", "warning"):
            continue
        start = diagnostic["range"]["start"]
        where = f"{start['line'] + 1}:{start['character'] + 1}"
        findings.setdefault(Path(diagnostic["file"]).resolve(), []).append(
            f"  {where} {diagnostic.get('rule', '')}: {diagnostic['message']}"
        )
    return findings
