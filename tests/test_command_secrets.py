"""CommandScore with Secrets in its command and environment, and failures that quote the command as written (issue 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harmony_py import ChangeAction, ScoreState, ScoreValueError, Secret
from harmony_py.scores import CommandScore

from .helpers import apply, everything_said, plan, states

ROOT = Path(__file__).parent.parent
PASSWORD = "hunter2-never-shown"


def test_a_secret_argument_is_masked_in_the_plan_and_reaches_the_command(tmp_path: Path) -> None:
    out = tmp_path / "out"
    score = CommandScore(["sh", "-c", 'printf %s "$1" > "$2"', "sh", Secret(PASSWORD), str(out)], creates=str(out))
    planned = plan(score)
    (change,) = planned.scores[0].changes
    assert change.action is ChangeAction.RUN
    assert change.summary == f"run sh -c 'printf %s \"$1\" > \"$2\"' sh ******** {out}"
    applied = apply(score)
    assert states(applied) == [ScoreState.CHANGED]
    assert out.read_text() == PASSWORD
    for report in (planned, applied):
        assert PASSWORD not in everything_said(report)
    assert PASSWORD not in repr(score) and PASSWORD not in score.name


def test_a_secret_in_the_environment_reaches_the_command_and_its_guard(tmp_path: Path) -> None:
    out = tmp_path / "out"
    score = CommandScore(
        f'printf %s "$TOKEN" > {out}',
        unless=["sh", "-c", f'test "$(cat {out} 2>/dev/null)" = "$TOKEN"'],
        env={"TOKEN": Secret(PASSWORD), "PLAIN": "x"},
    )
    applied = apply(score)
    assert states(applied) == [ScoreState.CHANGED]
    assert out.read_text() == PASSWORD
    assert states(apply(score)) == [ScoreState.UNCHANGED]
    assert PASSWORD not in everything_said(applied)


def test_a_whole_command_may_be_a_secret(tmp_path: Path) -> None:
    out = tmp_path / "out"
    score = CommandScore(Secret(f"echo {PASSWORD} > {out}"), creates=str(out))
    (change,) = plan(score).scores[0].changes
    assert change.summary == "run ********"
    assert states(apply(score)) == [ScoreState.CHANGED]
    assert out.read_text() == f"{PASSWORD}\n"


def test_a_failure_quotes_the_command_as_written_not_sh(tmp_path: Path) -> None:
    report = apply(CommandScore("echo boom >&2; exit 3", creates=str(tmp_path / "x")))
    assert states(report) == [ScoreState.FAILED]
    assert "command 'echo boom >&2; exit 3' exited 3: boom" in report.scores[0].message
    assert "'sh'" not in report.scores[0].message


def test_a_failure_masks_the_secret_even_where_the_command_prints_it(tmp_path: Path) -> None:
    score = CommandScore(
        ["sh", "-c", 'echo "login with $1 and $TOKEN failed" >&2; exit 1', "sh", Secret("arg-" + PASSWORD)],
        creates=str(tmp_path / "x"),
        env={"TOKEN": Secret("env-" + PASSWORD)},
    )
    report = apply(score)
    assert states(report) == [ScoreState.FAILED]
    message = report.scores[0].message
    assert "exited 1: login with ******** and ******** failed" in message
    assert "command 'sh -c " in message and PASSWORD not in everything_said(report)


def test_secrets_never_reach_json_output(tmp_path: Path) -> None:
    score_file = tmp_path / "score.py"
    score_file.write_text(
        textwrap.dedent(f"""
            from harmony_py import Maestro, Secret
            from harmony_py.scores import CommandScore
            from topologies import LocalhostTopology
            maestro = Maestro(LocalhostTopology()).add(
                CommandScore(["sh", "-c", 'echo "$1 $TOKEN" >&2; exit 2', "sh", Secret("a-{PASSWORD}")],
                             creates={str(tmp_path / 'never')!r}, env={{"TOKEN": Secret("e-{PASSWORD}")}}),
            )
        """)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outputs = []
    for command in (["plan", "--json"], ["apply", "--json", "--yes"]):
        result = subprocess.run(
            [sys.executable, "-m", "harmony_py", *command, str(score_file)],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        json.loads(result.stdout)
        outputs.append(result.stdout + result.stderr)
    assert "run sh -c" in outputs[0] and "********" in outputs[0]
    assert "exited 2: ******** ********" in outputs[1]
    assert all(PASSWORD not in output for output in outputs)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CommandScore(["x", 1], creates="/tmp/x"), "list of strings and Secrets"),  # type: ignore[list-item]
        (lambda: CommandScore(Secret("  "), creates="/tmp/x"), "must not be empty"),
        (lambda: CommandScore("x", creates="/tmp/x", env={"A-B": "1"}), "not a valid environment variable name"),
        (lambda: CommandScore("x", creates="/tmp/x", env={"A": 1}), r"env\['A'\] must be str or Secret"),  # type: ignore[dict-item]
    ],
)
def test_bad_commands_and_environments_are_refused(build: object, message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        build()  # type: ignore[operator]
