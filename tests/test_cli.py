"""The command line, run as users run it: `python -m harmony_py` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent


def run_cli(*args: str, cwd: Path | None = None, mypy_cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if mypy_cache is not None:
        env["MYPY_CACHE_DIR"] = str(mypy_cache)
    return subprocess.run(
        [sys.executable, "-m", "harmony_py", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd or ROOT,
        timeout=120,
    )


def score_file(tmp_path: Path, body: str, name: str = "score.py") -> Path:
    path = tmp_path / name
    header = """
        from harmony_py import Maestro
        from harmony_py.scores import CommandScore, DirectoryScore, FileScore
        from topologies import LocalhostTopology
    """
    path.write_text(textwrap.dedent(header) + textwrap.dedent(body))
    return path


@pytest.fixture
def files_score(tmp_path: Path) -> Path:
    return score_file(
        tmp_path,
        f"""
        maestro = Maestro(LocalhostTopology()).add(
            DirectoryScore("{tmp_path}/site"),
            FileScore("{tmp_path}/site/index.html", "<h1>hi</h1>\\n"),
        )
        """,
    )


def test_plan_apply_noop_cycle_with_exit_codes(files_score: Path, tmp_path: Path) -> None:
    planned = run_cli("plan", "--detailed-exitcode", str(files_score))
    assert planned.returncode == 2, planned.stderr
    assert "+ create file" in planned.stdout and "+<h1>hi</h1>" in planned.stdout
    assert "Plan: 2 to change, 0 unchanged, 0 failed." in planned.stdout
    assert not (tmp_path / "site").exists()

    applied = run_cli("apply", "--yes", str(files_score))
    assert applied.returncode == 0, applied.stderr
    assert "Apply: 2 changed, 0 unchanged, 0 failed, 0 skipped." in applied.stdout
    assert (tmp_path / "site" / "index.html").read_text() == "<h1>hi</h1>\n"

    again = run_cli("apply", "--yes", str(files_score))
    assert again.returncode == 0 and "Nothing to do" in again.stdout
    assert run_cli("plan", "--detailed-exitcode", str(files_score)).returncode == 0


def test_apply_without_a_terminal_or_yes_changes_nothing_and_says_how(files_score: Path, tmp_path: Path) -> None:
    result = run_cli("apply", str(files_score))
    assert result.returncode == 1
    assert "re-run with --yes" in result.stderr
    assert not (tmp_path / "site").exists()


def test_dry_run_stops_after_the_plan(files_score: Path, tmp_path: Path) -> None:
    result = run_cli("apply", "--dry-run", str(files_score))
    assert result.returncode == 0 and "Dry run" in result.stdout
    assert not (tmp_path / "site").exists()


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_json_plan_and_apply_are_one_document_each(files_score: Path) -> None:
    planned = _json(run_cli("plan", "--json", str(files_score)))
    assert planned["ok"] is True and planned["error"] is None
    assert planned["plan"]["summary"]["pending"] == 2
    assert planned["plan"]["scores"][1]["changes"][0]["action"] == "create"

    applied = _json(run_cli("apply", "--json", "--yes", str(files_score)))
    assert applied["ok"] is True
    assert [s["state"] for s in applied["apply"]["scores"]] == ["changed", "changed"]


def test_json_on_a_failed_apply_still_reports_everything(tmp_path: Path) -> None:
    path = score_file(
        tmp_path,
        f"""
        maestro = Maestro(LocalhostTopology()).add(
            CommandScore("echo nope >&2; exit 4", creates="{tmp_path}/x"),
            FileScore("{tmp_path}/after", "x"),
        )
        """,
    )
    result = run_cli("apply", "--json", "--yes", str(path))
    assert result.returncode == 1
    document = _json(result)
    assert document["ok"] is False and "apply failed" in document["error"]
    assert [s["state"] for s in document["apply"]["scores"]] == ["failed", "skipped"]
    assert "exited 4: nope" in document["apply"]["scores"][0]["message"]


BAD_INPUTS = {
    "syntax error": ("maestro = Maestro(\n", "line 5: syntax error: '(' was never closed"),
    "no maestro": ("x = 1\n", "defines no `maestro`"),
    "maestro of the wrong type": ("maestro = [1, 2]\n", "is a list, not a harmony_py.Maestro"),
    "negative mode": ('maestro = Maestro(LocalhostTopology()).add(FileScore("/tmp/x", "y", mode=-1))\n', "FileScore.mode must be between"),
    "relative path": ('maestro = Maestro(LocalhostTopology()).add(DirectoryScore("var/x"))\n', "must be an absolute path"),
    "not a score": ("maestro = Maestro(LocalhostTopology()).add('oops')\n", "Maestro.add() takes scores"),
    "error in user code": ("maestro = 1 / 0\n", "ZeroDivisionError: division by zero"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_bad_input_is_one_clear_line_exit_1_no_traceback(tmp_path: Path, case: str, command: str) -> None:
    body, expected = BAD_INPUTS[case]
    path = score_file(tmp_path, body)
    args = [command, str(path)] + (["--yes"] if command == "apply" else [])
    result = run_cli(*args)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1

    as_json = run_cli(*args, "--json")
    assert as_json.returncode == 1
    document = _json(as_json)
    assert document["ok"] is False and expected in document["error"]


def test_missing_file(tmp_path: Path) -> None:
    result = run_cli("plan", str(tmp_path / "nope.py"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: score file {tmp_path / 'nope.py'} not found"


def test_missing_capability_is_refused_before_anything_runs(tmp_path: Path) -> None:
    path = score_file(
        tmp_path,
        f"""
        from dataclasses import dataclass
        from capabilities import K8sClient
        from harmony_py import Interpret, Score

        @dataclass(frozen=True)
        class Database(Score[K8sClient]):
            def interpret(self) -> Interpret[K8sClient]:
                raise NotImplementedError

        maestro = Maestro(LocalhostTopology()).add(
            FileScore("{tmp_path}/first", "x"),
            Database(),  # type: ignore[arg-type]
        )
        """,
    )
    result = run_cli("apply", "--yes", str(path))
    assert result.returncode == 1
    assert "Score Database requires capability K8sClient, but topology localhost does not provide it" in result.stderr
    assert "missing k8s_client" in result.stderr
    assert not (tmp_path / "first").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = score_file(tmp_path, "maestro = 1 / 0\n")
    result = run_cli("plan", "--debug", str(path))
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_check_runs_mypy_strict(tmp_path: Path, files_score: Path, mypy_cache: Path) -> None:
    good = run_cli("check", str(files_score), cwd=tmp_path, mypy_cache=mypy_cache)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "passes mypy --strict" in good.stdout

    bad = score_file(
        tmp_path,
        """
        from dataclasses import dataclass
        from capabilities import K8sClient
        from harmony_py import Interpret, Score

        @dataclass(frozen=True)
        class Database(Score[K8sClient]):
            def interpret(self) -> Interpret[K8sClient]:
                raise NotImplementedError

        maestro = Maestro(LocalhostTopology()).add(Database())
        """,
        name="bad.py",
    )
    result = run_cli("check", str(bad), cwd=tmp_path, mypy_cache=mypy_cache)
    assert result.returncode == 1
    assert 'incompatible type "Database"; expected "Score[LocalhostTopology]"' in result.stdout


def test_check_refuses_a_score_file_without_maestro_as_apply_does(tmp_path: Path) -> None:
    path = score_file(tmp_path, "x = 1\n")
    checked = run_cli("check", str(path), cwd=tmp_path)
    applied = run_cli("apply", "--yes", str(path), cwd=tmp_path)
    assert checked.returncode == applied.returncode == 1
    assert checked.stderr == applied.stderr
    assert checked.stderr.startswith(f"error: score file {path} defines no `maestro`")
    assert "passes mypy" not in checked.stdout


MAESTRO_BINDINGS = {
    "an assignment": ("maestro = Maestro(LocalhostTopology())\n", True),
    "an annotated assignment": ("maestro: Maestro[LocalhostTopology] = Maestro(LocalhostTopology())\n", True),
    "inside an if": ("if True:\n    maestro = Maestro(LocalhostTopology())\n", True),
    "an import from a sibling": ("from site_maestro import maestro\n", True),
    "a star import": ("from site_maestro import *\n", True),
    "an annotation alone": ("maestro: Maestro[LocalhostTopology]\n", False),
    "only inside a function": ("def build() -> None:\n    maestro = Maestro(LocalhostTopology())\n", False),
    "only in a class": ("class Config:\n    maestro = Maestro(LocalhostTopology())\n", False),
}


@pytest.mark.parametrize("case", sorted(MAESTRO_BINDINGS))
def test_check_finds_a_module_level_maestro_however_it_is_bound(tmp_path: Path, case: str) -> None:
    from harmony_py.cli.check import may_define

    body, defines = MAESTRO_BINDINGS[case]
    assert may_define(score_file(tmp_path, body), "maestro") is defines


def test_check_does_not_run_the_score_file(tmp_path: Path, mypy_cache: Path) -> None:
    marker = tmp_path / "ran"
    path = score_file(
        tmp_path,
        f"""
        from pathlib import Path

        Path("{marker}").write_text("the score file ran")
        maestro = Maestro(LocalhostTopology())
        """,
    )
    checked = run_cli("check", str(path), cwd=tmp_path, mypy_cache=mypy_cache)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not marker.exists()
    assert run_cli("plan", str(path), cwd=tmp_path).returncode == 0
    assert marker.exists()  # plan runs it: a score file is a program
