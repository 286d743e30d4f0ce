"""The open-files limit: raised to the hard limit at start, and a --parallel beyond even that refused by name (adr/0107).

Each case runs in a subprocess started with a low soft (and, where it says so,
hard) RLIMIT_NOFILE, so that this test process's own limit is not changed.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

LOW_SOFT = 256

LIMIT_AT_LOAD = """\
import resource, sys
print("soft at load:", resource.getrlimit(resource.RLIMIT_NOFILE)[0], file=sys.stderr)
from harmony_py import Maestro, TopologyGroup
from topologies import LocalhostTopology
maestro = Maestro(TopologyGroup([LocalhostTopology(f"m{n}") for n in range(70)]))
"""


def _run(argv: list[str], soft: int, hard: int | None = None) -> subprocess.CompletedProcess[str]:
    current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, current_hard if hard is None else hard))

    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, preexec_fn=lower, timeout=120, check=False
    )


def _hard_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def test_cli_raises_the_soft_open_files_limit_to_the_hard_one_before_loading_the_file(tmp_path: Path) -> None:
    score_file = tmp_path / "fleet.py"
    score_file.write_text(LIMIT_AT_LOAD)
    done = _run(["-m", "harmony_py", "plan", str(score_file)], soft=LOW_SOFT)
    assert done.returncode == 0, done.stderr
    assert f"soft at load: {_hard_limit()}" in done.stderr


def test_maestro_raises_the_soft_open_files_limit_for_library_users() -> None:
    code = (
        "import resource\n"
        "from harmony_py import Maestro\n"
        "from topologies import LocalhostTopology\n"
        "before = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
        "Maestro(LocalhostTopology())\n"
        "print(before, resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    done = _run(["-c", code], soft=LOW_SOFT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(LOW_SOFT), str(_hard_limit())]


def test_parallel_beyond_the_hard_open_files_limit_is_refused_naming_the_limit_and_what_to_do(tmp_path: Path) -> None:
    score_file = tmp_path / "fleet.py"
    score_file.write_text(LIMIT_AT_LOAD)
    # Hard 200: (200 - 64 reserved) // 2 per host = 68 hosts at once at most.
    done = _run(["-m", "harmony_py", "plan", str(score_file), "--parallel", "70"], soft=200, hard=200)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: parallel 70 needs about 204 open files, but the open-files limit (RLIMIT_NOFILE) is 200 "
        "(hard limit 200); use --parallel 68 or less, or raise the hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit)"
    )


def test_parallel_beyond_the_open_files_limit_in_json_is_one_document_naming_the_limit(tmp_path: Path) -> None:
    score_file = tmp_path / "fleet.py"
    score_file.write_text(LIMIT_AT_LOAD)
    done = _run(["-m", "harmony_py", "plan", str(score_file), "--parallel", "70", "--json"], soft=200, hard=200)
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["ok"] is False
    assert "open-files limit (RLIMIT_NOFILE) is 200" in body["error"]


def test_parallel_within_the_hard_limit_runs_after_the_soft_limit_is_raised(tmp_path: Path) -> None:
    score_file = tmp_path / "fleet.py"
    score_file.write_text(LIMIT_AT_LOAD)
    # Soft 200 allows 68 at once; the hard limit (this machine's) allows 70.
    done = _run(["-m", "harmony_py", "plan", str(score_file), "--parallel", "70"], soft=200)
    assert done.returncode == 0, done.stderr
