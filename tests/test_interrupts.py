"""SIGTERM is handled like Ctrl-C: the run is cancelled cleanly and leaves no temporary file.

A real ``python -m harmony_py apply --yes`` writes a 200 MB file; the test
waits until harmony_py's temporary file appears beside the target, then
signals the process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
LARGE_MB = 200


def large_file_score(tmp_path: Path) -> tuple[Path, Path]:
    """A score file writing LARGE_MB of content (generated in the file) to ``out/big.bin``."""
    target = tmp_path / "out" / "big.bin"
    target.parent.mkdir()
    score = tmp_path / "score.py"
    score.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from harmony_py.scores import FileScore
            from topologies import LocalhostTopology

            CONTENT = b"\\xff" * ({LARGE_MB} * 1024 * 1024)
            maestro = Maestro(LocalhostTopology()).add(FileScore({str(target)!r}, CONTENT))
            """
        )
    )
    return score, target


def temporary_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.harmony-tmp"))


def apply_interrupted_mid_write(score: Path, target: Path, signum: signal.Signals, *options: str) -> subprocess.CompletedProcess[str]:
    """Start an apply, send ``signum`` once its temporary file exists, and collect what it said."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harmony_py", "apply", "--yes", *options, str(score)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=score.parent,
    )
    try:
        while not temporary_files(target.parent):
            if process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(f"the apply ended before writing ({process.returncode}): {out}{err}")
            time.sleep(0.001)
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_sigterm_mid_write_of_a_large_file_exits_143_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    score, target = large_file_score(tmp_path)
    result = apply_interrupted_mid_write(score, target, signal.SIGTERM)
    assert result.returncode == 143, result.stderr
    assert "interrupted (SIGTERM): nothing more was started" in result.stderr
    assert "re-run to converge" in result.stderr
    assert temporary_files(target.parent) == []
    assert not target.exists()
    assert "Traceback" not in result.stderr


def test_sigint_mid_write_of_a_large_file_exits_130_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    score, target = large_file_score(tmp_path)
    result = apply_interrupted_mid_write(score, target, signal.SIGINT)
    assert result.returncode == 130, result.stderr
    assert not target.exists()  # found: the write ran to its end after Ctrl-C
    assert temporary_files(target.parent) == []
    assert "interrupted (SIGINT): nothing more was started" in result.stderr


def test_sigterm_with_json_still_writes_one_document_and_the_re_run_converges(tmp_path: Path) -> None:
    score, target = large_file_score(tmp_path)
    result = apply_interrupted_mid_write(score, target, signal.SIGTERM, "--json")
    assert result.returncode == 143, result.stderr
    document = json.loads(result.stdout)
    assert "interrupted (SIGTERM)" in document["error"] and "re-run to converge" in document["error"]
    assert temporary_files(target.parent) == []

    again = subprocess.run(
        [sys.executable, "-m", "harmony_py", "apply", "--yes", str(score)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert target.stat().st_size == LARGE_MB * 1024 * 1024
    assert temporary_files(target.parent) == []
