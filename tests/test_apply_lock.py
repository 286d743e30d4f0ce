"""One apply at a time per project (adr/0005), with two real ``python -m harmony_py`` processes.

The score's guarded command logs each start and then waits until the test
releases it, so the second apply always meets the first one mid-command.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.state_cli import run_cli, start_cli


def wait_for(condition: object, process: subprocess.Popen[str]) -> None:
    """Poll until ``condition()`` holds; fail with the process's output if it exits first."""
    assert callable(condition)
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the apply ended early ({process.returncode}): {out}{err}")
        time.sleep(0.02)


def blocking_command_score(tmp_path: Path) -> Path:
    """A guarded command that logs each start, then waits for the test to release it."""
    path = tmp_path / "project" / "score.py"
    path.parent.mkdir()
    command = f"echo started >> {tmp_path}/log; while [ ! -e {tmp_path}/release ]; do sleep 0.02; done; touch {tmp_path}/done"
    path.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from harmony_py.scores import CommandScore
            from topologies import LocalhostTopology

            maestro = Maestro(LocalhostTopology()).add(CommandScore({command!r}, creates={str(tmp_path / "done")!r}))
            """
        )
    )
    return path


def start_apply(score: Path, cwd: Path) -> subprocess.Popen[str]:
    return start_cli("apply", "--yes", str(score), cwd=cwd)


def started_count(tmp_path: Path) -> int:
    log = tmp_path / "log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_second_concurrent_apply_fails_at_once_naming_the_holder_and_the_command_runs_once(tmp_path: Path) -> None:
    score = blocking_command_score(tmp_path)
    first = start_apply(score, tmp_path)
    try:
        wait_for(lambda: started_count(tmp_path) == 1, first)
        second = start_apply(score, tmp_path)
        # Before the lock, the second apply ran the command again: wait for it to end or to start a second copy.
        while second.poll() is None and started_count(tmp_path) < 2:
            time.sleep(0.02)
        (tmp_path / "release").touch()
        out, err = second.communicate(timeout=120)
        first_out, first_err = first.communicate(timeout=120)
    finally:
        (tmp_path / "release").touch()
        first.kill()
        first.wait()
    assert started_count(tmp_path) == 1
    assert second.returncode == 1
    assert "another apply of this project is running" in err
    assert f"pid {first.pid}: python -m harmony_py apply --yes {score}, since " in err
    assert str(tmp_path / "project" / ".harmony" / "apply.lock") in err
    assert first.returncode == 0, first_out + first_err


def test_plan_needs_no_lock_while_an_apply_runs(tmp_path: Path) -> None:
    score = blocking_command_score(tmp_path)
    first = start_apply(score, tmp_path)
    try:
        wait_for(lambda: started_count(tmp_path) == 1, first)
        planned = run_cli("plan", "--detailed-exitcode", str(score), cwd=tmp_path)
        assert planned.returncode == 2, planned.stderr
        dry = run_cli("apply", "--dry-run", str(score), cwd=tmp_path)
        assert dry.returncode == 0, dry.stderr
    finally:
        (tmp_path / "release").touch()
        first.communicate(timeout=120)
    assert first.returncode == 0 and started_count(tmp_path) == 1


def test_the_lock_is_free_again_once_its_holder_is_killed(tmp_path: Path) -> None:
    score = blocking_command_score(tmp_path)
    first = start_apply(score, tmp_path)
    try:
        wait_for(lambda: started_count(tmp_path) == 1, first)
        first.kill()
        first.communicate(timeout=120)
        (tmp_path / "release").touch()
        (tmp_path / "done").touch()  # what the killed run's command finishes on its own
        again = run_cli("apply", "--yes", str(score), cwd=tmp_path)
        assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stdout + again.stderr
    finally:
        (tmp_path / "release").touch()


def test_a_second_apply_with_json_reports_the_holder_in_one_document(tmp_path: Path) -> None:
    score = blocking_command_score(tmp_path)
    first = start_apply(score, tmp_path)
    try:
        wait_for(lambda: started_count(tmp_path) == 1, first)
        second = run_cli("apply", "--json", "--yes", str(score), cwd=tmp_path)
    finally:
        (tmp_path / "release").touch()
        first.communicate(timeout=120)
    assert second.returncode == 1
    assert f"pid {first.pid}" in json.loads(second.stdout)["error"]


def test_unsafe_state_directory_refuses_the_lock_too(tmp_path: Path) -> None:
    score = blocking_command_score(tmp_path)
    (tmp_path / "project" / ".harmony").symlink_to(tmp_path)
    result = run_cli("apply", "--yes", str(score), cwd=tmp_path)
    assert result.returncode == 1
    assert f"{tmp_path / 'project' / '.harmony'} is a symlink" in result.stderr
    assert started_count(tmp_path) == 0

