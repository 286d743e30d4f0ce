"""The batched plan observation's script (topologies/host/ssh/plan_snapshot.py), run by this machine's sh:
what it answers, and what it leaves to a live observation (a dangling link, a FIFO's content)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from capabilities.command_runner import CommandResult, FileKind, FileStat
from topologies.host.ssh import plan_snapshot


def _snapshot(paths: list[str]) -> plan_snapshot.PlanSnapshot | None:
    pairs = plan_snapshot.queries(paths)
    assert pairs is not None
    argv = plan_snapshot.command(pairs)
    done = subprocess.run(argv, capture_output=True, check=False)
    return plan_snapshot.parse(pairs, CommandResult(argv, done.returncode, done.stdout, done.stderr))


def test_snapshot_stats_hashes_and_resolves_every_path_named(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "linked").symlink_to(real)
    odd = real / "new\nline ä"
    odd.write_bytes(b"content\n")
    odd.chmod(0o640)
    paths = [str(odd), str(tmp_path / "linked" / "x.conf"), str(tmp_path / "missing" / "deeper" / "y")]
    snapshot = _snapshot(paths)
    assert snapshot is not None
    assert snapshot.stats[str(odd)] == FileStat(FileKind.FILE, 0o640, 8)
    assert snapshot.digests[str(odd)] == hashlib.sha256(b"content\n").hexdigest()
    assert snapshot.stats[paths[1]] is None and snapshot.stats[paths[2]] is None
    assert snapshot.resolved[str(tmp_path / "linked")] == str(real)
    assert snapshot.resolved[str(tmp_path / "missing")] is None
    assert snapshot.resolved[str(tmp_path)] == os.path.realpath(tmp_path)


def test_snapshot_leaves_links_fifos_and_files_in_the_directory_chain_to_live_observation(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    plain = tmp_path / "plain"
    plain.write_text("x")
    snapshot = _snapshot([str(fifo), str(dangling), str(plain / "under-a-file")])
    assert snapshot is not None
    assert snapshot.stats[str(fifo)] == FileStat(FileKind.FIFO, 0o666 & ~_umask(), 0)
    assert str(fifo) not in snapshot.digests  # never opened: a FIFO would block
    link = snapshot.stats[str(dangling)]
    assert link is not None and link.kind is FileKind.SYMLINK
    assert str(plain) not in snapshot.resolved  # not a directory: resolved live, with its own error


def test_an_answer_that_does_not_match_the_questions_is_no_snapshot() -> None:
    pairs = plan_snapshot.queries(["/etc/hostname"])
    assert pairs is not None
    assert plan_snapshot.parse(pairs, CommandResult((), 0, b"=/\0", b"")) is None
    assert plan_snapshot.parse(pairs, CommandResult((), 127, b"", b"sh: stat: not found")) is None
    assert plan_snapshot.queries([f"/p{n}" for n in range(plan_snapshot.MAX_PATHS + 1)]) is None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
