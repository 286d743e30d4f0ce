"""mypy --strict is clean on every package, example and test (mypy.ini says which)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).parent.parent


def test_mypy_strict_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    stdout, stderr, status = api.run(["--config-file", "mypy.ini"])
    assert status == 0, stdout + stderr
