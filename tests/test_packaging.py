"""Promises about the package itself: light import, typed packages, runnable examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect

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
