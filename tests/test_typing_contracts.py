"""Runs mypy over tests/typing_cases: every fenced rejection must still be rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

CASES = Path(__file__).parent / "typing_cases"
ROOT = Path(__file__).parent.parent


def _case_files() -> list[Path]:
    return sorted(path for path in CASES.glob("*.py") if path.name != "__init__.py")


def test_there_are_contract_files() -> None:
    assert _case_files(), "tests/typing_cases holds no contract files"


@pytest.mark.parametrize("case", _case_files(), ids=lambda path: path.name)
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
