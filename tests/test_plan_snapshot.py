"""The batched plan observation's script (topologies/host/ssh/plan_snapshot.py), run by this machine's sh:
what it answers, and what it leaves to a live observation (a dangling link, a FIFO's content)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from capabilities.command_runner import CommandResult, FileKind, FileStat, GuardCheck
from topologies.host.ssh import plan_snapshot


def _snapshot(paths: list[str], guards: tuple[GuardCheck, ...] = ()) -> plan_snapshot.PlanSnapshot | None:
    questions = plan_snapshot.batch(paths, guards)
    assert questions is not None
    argv = questions.command()
    done = subprocess.run(argv, input=questions.stdin(), capture_output=True, check=False)
    return plan_snapshot.parse(questions, CommandResult(argv, done.returncode, done.stdout, done.stderr))


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
    assert snapshot.links[str(dangling)] == str(tmp_path / "nowhere")  # its target read, never followed
    assert str(plain) not in snapshot.resolved  # not a directory: resolved live, with its own error


def test_an_answer_that_does_not_match_the_questions_is_no_snapshot() -> None:
    questions = plan_snapshot.batch(["/etc/hostname"], [GuardCheck(("true",))])
    assert questions is not None
    assert plan_snapshot.parse(questions, CommandResult((), 0, b"=/\0", b"")) is None
    assert plan_snapshot.parse(questions, CommandResult((), 0, b"=/\0=/\0", b"")) is None  # the guard's answer missing
    assert plan_snapshot.parse(questions, CommandResult((), 127, b"", b"sh: stat: not found")) is None
    assert plan_snapshot.batch([f"/p{n}" for n in range(plan_snapshot.MAX_PATHS + 1)]) is None
    assert plan_snapshot.batch([], []) is None


def test_each_guard_runs_alone_with_its_own_variables_and_an_empty_stdin(tmp_path: Path) -> None:
    marker = tmp_path / "made"
    marker.write_text("")
    checks = (
        GuardCheck(("test", "-e", str(marker))),
        GuardCheck(("test", "-e", str(tmp_path / "absent"))),
        # Variables arrive on stdin (never in argv), any byte but NUL: a newline and a quote here.
        GuardCheck(("sh", "-c", 'test "$TOKEN" = "a\nb\'c"'), {"TOKEN": "a\nb'c"}),
        # Its own subshell: what one guard changes (directory, variables) the next does not see,
        # and it reads end of input, not the next guard's variables.
        GuardCheck(("sh", "-c", 'cd / && export LEAK=1 && test -z "$(cat)" && test -z "${TOKEN-}"')),
        GuardCheck(("sh", "-c", 'test -z "${LEAK-}" && test "$(pwd -P)" = "$1"', "sh", os.path.realpath(".")), {"X": "1"}),
        GuardCheck(("sh", "-c", "exit 3")),
    )
    snapshot = _snapshot([str(marker)], checks)
    assert snapshot is not None
    assert [snapshot.exits[check.key()] for check in checks] == [0, 1, 0, 0, 0, 3]
    assert "a\nb'c" not in repr(checks[2]) and "a\nb'c" not in repr(snapshot)  # the variable is never shown


def test_the_same_guard_with_other_variables_is_another_question() -> None:
    one, other = GuardCheck(("sh", "-c", 'test "$V" = 1'), {"V": "1"}), GuardCheck(("sh", "-c", 'test "$V" = 1'), {"V": "2"})
    snapshot = _snapshot([], (one, other, one))
    assert snapshot is not None
    assert (snapshot.exits[one.key()], snapshot.exits[other.key()]) == (0, 1)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_snapshot_carries_the_content_of_small_files_it_is_asked_to_read(tmp_path: Path) -> None:
    small, empty, large = tmp_path / "small", tmp_path / "empty", tmp_path / "large"
    small.write_bytes(b"line\n\0\xff tail")
    empty.write_bytes(b"")
    large.write_bytes(b"x" * (plan_snapshot.MAX_CONTENT + 1))
    link = tmp_path / "link"
    link.symlink_to("small")
    questions = plan_snapshot.batch([str(small)], read=[str(small), str(empty), str(large), str(link)])
    assert questions is not None
    done = subprocess.run(questions.command(), capture_output=True, check=False)
    snapshot = plan_snapshot.parse(questions, CommandResult((), done.returncode, done.stdout, done.stderr))
    assert snapshot is not None
    # A link is read through, as read_file reads it; the large one is read live.
    assert snapshot.contents == {str(small): b"line\n\0\xff tail", str(empty): b"", str(link): b"line\n\0\xff tail"}
    assert str(large) in snapshot.digests and snapshot.links[str(link)] == "small"


def test_one_stat_for_every_path_answers_as_a_stat_per_path_does_whatever_the_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names the one-stat pass must not confuse: a newline in a name (it falls back to its own stat), a name
    that ends as another does, spaces, a file named like a question ("s") in the working directory."""
    base = tmp_path / "d"
    base.mkdir()
    names = ["new\nline", "a b", "b", "x a b", "s", "trailing\n", "ä.conf"]
    for index, name in enumerate(names):
        (base / name).write_bytes(b"x" * index)
        (base / name).chmod(0o600 + index)
    (base / "link").symlink_to("a b")
    paths = [str(base / name) for name in [*names, "link", "missing"]]
    monkeypatch.chdir(base)  # "s" and "b" are also relative names of files here
    once = _snapshot(paths)
    monkeypatch.setattr(plan_snapshot, "_SCRIPT", plan_snapshot._SCRIPT.replace('-le 300 ]', '-le 0 ]'))
    per_path = _snapshot(paths)
    assert once is not None and per_path is not None
    assert once == per_path
    assert once.stats[str(base / "x a b")] == FileStat(FileKind.FILE, 0o603, 3)
    assert once.stats[str(base / "new\nline")] == FileStat(FileKind.FILE, 0o600, 0)
    assert once.links[str(base / "link")] == "a b" and once.stats[str(base / "missing")] is None


def _programs_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sha256sum_first: str = "", programs: tuple[str, ...] = ("dd", "sha256sum")
) -> Path:
    """Put wrappers of ``programs`` first on PATH that log each start (and run ``sha256sum_first``
    in the one-shot ``sha256sum -- …`` before it reads anything); the log's path."""
    bin_dir, log = tmp_path / "bin", tmp_path / "programs.log"
    bin_dir.mkdir()
    for program in programs:
        real = subprocess.run(["sh", "-c", f"command -v {program}"], capture_output=True, text=True, check=True).stdout.strip()
        hook = f'if [ "$1" = -- ]; then {sha256sum_first or ":"}; fi\n' if program == "sha256sum" else ""
        wrapper = bin_dir / program
        wrapper.write_text(f'#!/bin/sh\necho "{program} $*" >> {log}\n{hook}exec {real} "$@"\n')
        wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def test_one_sha256sum_hashes_every_plain_named_file_and_an_escaped_name_gets_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"a.conf": b"a\n", "b c.conf": b"bee\n", "back\\slash": b"escaped by sha256sum\n", "empty": b""}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    log = _programs_logged(tmp_path, monkeypatch)
    snapshot = _snapshot([str(tmp_path / name) for name in files])
    assert snapshot is not None
    assert {name: snapshot.digests[str(tmp_path / name)] for name in files} == {
        name: hashlib.sha256(content).hexdigest() for name, content in files.items()
    }
    started = log.read_text().splitlines()
    # One sha256sum for the three plain names; the escaped name by dd | sha256sum of its own.
    assert [line.split()[0] for line in started].count("sha256sum") == 2 and sum(line.startswith("dd ") for line in started) == 1, started


def test_a_file_swapped_for_a_link_while_the_batch_hashes_gets_no_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sha256sum follows a link (dd's O_NOFOLLOW does not): the stat after it sees the link, and the
    followed file's hash is never taken as the path's."""
    path, elsewhere = tmp_path / "app.conf", tmp_path / "elsewhere"
    path.write_bytes(b"mine\n")
    elsewhere.write_bytes(b"mine\n")  # same size and content: only the kind tells them apart
    swap = f"rm -f {path} && ln -s {elsewhere} {path}"
    _programs_logged(tmp_path, monkeypatch, sha256sum_first=swap)
    snapshot = _snapshot([str(path)])
    assert snapshot is not None
    assert str(path) not in snapshot.digests


def test_paths_that_are_not_there_start_no_program_of_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first apply asks about paths none of which exist yet: the one stat pass prints nothing for them, and
    the shell's own test tells that they are missing (a stat each was most of that batch's programs)."""
    log = _programs_logged(tmp_path, monkeypatch, programs=("stat", "dd", "sha256sum"))
    paths = [str(tmp_path / "app" / name) for name in ("conf", "data", "app.conf", "token")]
    snapshot = _snapshot(paths)
    assert snapshot is not None
    assert all(snapshot.stats[path] is None for path in paths)
    assert snapshot.resolved[str(tmp_path / "app")] is None
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["stat"]


def test_a_file_to_read_that_the_batch_hashed_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its digest and size from the one sha256sum and stat passes stand for the followed file: only its content
    is read (one dd), and that content must still hash to the digest to be used."""
    path = tmp_path / "hosts.allow"
    path.write_bytes(b"sshd: 10.0.0.0/8\n")
    log = _programs_logged(tmp_path, monkeypatch, programs=("stat", "dd", "sha256sum"))
    questions = plan_snapshot.batch([], read=[str(path)])
    assert questions is not None
    done = subprocess.run(questions.command(), capture_output=True, check=False)
    snapshot = plan_snapshot.parse(questions, CommandResult((), done.returncode, done.stdout, done.stderr))
    assert snapshot is not None
    assert snapshot.contents[str(path)] == b"sshd: 10.0.0.0/8\n"
    assert snapshot.digests[str(path)] == hashlib.sha256(b"sshd: 10.0.0.0/8\n").hexdigest()
    started = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(started) == ["dd", "sha256sum", "stat", "stat"], started


def test_content_that_changed_after_it_was_hashed_is_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.conf"
    path.write_bytes(b"before\n")
    # Rewritten (same size and mode) right after the one sha256sum pass: the content read later hashes otherwise.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = subprocess.run(["sh", "-c", "command -v sha256sum"], capture_output=True, text=True, check=True).stdout.strip()
    wrapper = bin_dir / "sha256sum"
    wrapper.write_text(f'#!/bin/sh\n{real} "$@"\ns=$?\n[ "$1" != -- ] || printf "after!\\n" > {path}\nexit $s\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    questions = plan_snapshot.batch([], read=[str(path)])
    assert questions is not None
    done = subprocess.run(questions.command(), capture_output=True, check=False)
    snapshot = plan_snapshot.parse(questions, CommandResult((), done.returncode, done.stdout, done.stderr))
    assert snapshot is not None
    assert snapshot.digests[str(path)] == hashlib.sha256(b"before\n").hexdigest()  # what the pass saw
    assert path.read_bytes() == b"after!\n" and str(path) not in snapshot.contents  # read live instead
