"""FileScore and DirectoryScore against bad input on the local machine: decimal modes, symlinked
directories, huge files, missing directories and FIFOs (issue 11)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from capabilities.command_runner import FileKind
from harmony_py import ChangeAction, HarmonyError, ScoreState, ScoreValueError
from harmony_py.scores import DirectoryScore, FileScore
from topologies import LocalhostTopology

from .helpers import apply, plan, states

ROOT = Path(__file__).parent.parent
MIB = 1 << 20


# -- 1. file modes ---------------------------------------------------------------


@pytest.mark.parametrize("written", [644, 755, 600, 640, 700, 444, 400, 440, 750, 775, 664, 660, 777, 1777, 2755, 4755])
def test_decimal_look_alike_modes_are_refused_with_the_octal_they_meant(written: int) -> None:
    message = f"FileScore.mode={written} looks like a decimal number: did you mean 0o{written}?"
    with pytest.raises(ScoreValueError, match=f"^{message.replace('?', '[?]')}$"):
        FileScore("/tmp/x", "x", mode=written)
    with pytest.raises(ScoreValueError, match=f"DirectoryScore.mode={written} looks like a decimal number"):
        DirectoryScore("/tmp/x", mode=written)


@pytest.mark.parametrize(
    "mode", [0o644, 0o640, 0o664, 0o660, 0o777, 0o770, 0o400, 0o500, 0o1777, 0o2755, 0o3777, 0o4755, 0o0, 0o7777]
)
def test_octal_modes_whose_decimal_value_has_only_octal_digits_are_accepted(mode: int) -> None:
    assert FileScore("/tmp/x", "x", mode=mode).desired_mode == mode
    assert DirectoryScore("/tmp/x", mode=mode).mode == mode


@pytest.mark.parametrize("mode", [0o10000, 0o17777, 10000, 1 << 20])
def test_modes_above_0o7777_are_refused(mode: int) -> None:
    with pytest.raises(ScoreValueError, match="between 0o0 and 0o7777"):
        FileScore("/tmp/x", "x", mode=mode)


def test_mode_644_never_creates_a_sticky_write_only_file(tmp_path: Path) -> None:
    target = tmp_path / "motd"
    with pytest.raises(ScoreValueError, match="did you mean 0o644"):
        apply(FileScore(str(target), "hello\n", mode=644))
    assert not target.exists()


# -- 2. symlinked directories ------------------------------------------------------


@pytest.fixture
def linked_dir(tmp_path: Path) -> tuple[Path, Path]:
    """``tmp/link`` -> ``tmp/real``: a directory reached through a symbolic link."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    return tmp_path / "link", real


def test_file_under_a_symlinked_directory_is_refused_naming_where_it_leads(linked_dir: tuple[Path, Path]) -> None:
    link, real = linked_dir
    score = FileScore(str(link / "app.conf"), "port = 8080\n")
    for report in (plan(score), apply(score)):
        assert states(report) == [ScoreState.FAILED]
        message = report.scores[0].message
        assert f"{link} resolves to {real} through a symlink" in message
        assert str(real / "app.conf") in message and "follow_parent_symlinks=True" in message
    assert list(real.iterdir()) == []


def test_file_under_a_directory_below_a_symlink_is_refused_too(linked_dir: tuple[Path, Path]) -> None:
    link, real = linked_dir
    (real / "sub").mkdir()
    report = apply(FileScore(str(link / "sub" / "app.conf"), "x"))
    assert states(report) == [ScoreState.FAILED]
    assert str(real / "sub" / "app.conf") in report.scores[0].message
    assert list((real / "sub").iterdir()) == []


def test_file_under_a_symlinked_directory_is_written_at_the_resolved_path_when_asked(
    linked_dir: tuple[Path, Path],
) -> None:
    link, real = linked_dir
    score = FileScore(str(link / "app.conf"), "port = 8080\n", follow_parent_symlinks=True)
    (change,) = plan(score).scores[0].changes
    assert f"(resolved: {real / 'app.conf'})" in change.summary
    assert states(apply(score)) == [ScoreState.CHANGED]
    assert (real / "app.conf").read_text() == "port = 8080\n" and link.is_symlink()
    assert states(apply(score)) == [ScoreState.UNCHANGED]


def test_a_directory_swapped_for_a_symlink_after_the_plan_is_not_written_through(tmp_path: Path) -> None:
    directory, elsewhere = tmp_path / "app", tmp_path / "elsewhere"
    directory.mkdir()
    elsewhere.mkdir()
    score = FileScore(str(directory / "app.conf"), "x")
    interpret, host = score.interpret(), LocalhostTopology()

    async def plan_swap_converge() -> None:
        changes = await interpret.plan(host)
        directory.rmdir()
        directory.symlink_to(elsewhere)
        with pytest.raises(HarmonyError, match="through a symlink"):
            await interpret.converge(host, changes)

    anyio.run(plan_swap_converge)
    assert list(elsewhere.iterdir()) == []


async def test_write_without_following_refuses_a_symlink_anywhere_above_the_file(
    linked_dir: tuple[Path, Path],
) -> None:
    link, real = linked_dir
    (real / "sub").mkdir()
    host = LocalhostTopology()
    for path in (link / "f", link / "sub" / "f"):
        with pytest.raises(HarmonyError, match=f"{link} is a symlink"):
            await host.command_runner().write_file(str(path), b"x", mode=0o644, follow_parent_symlinks=False)
    await host.command_runner().write_file(str(real / "sub" / "f"), b"x", mode=0o640, follow_parent_symlinks=False)
    assert (real / "sub" / "f").read_bytes() == b"x" and stat.S_IMODE((real / "sub" / "f").stat().st_mode) == 0o640
    assert sorted(p.name for p in (real / "sub").iterdir()) == ["f"], "no temporary file is left behind"


def test_directory_under_a_symlinked_parent_is_refused_unless_following(linked_dir: tuple[Path, Path]) -> None:
    link, real = linked_dir
    refused = apply(DirectoryScore(str(link / "data" / "cache")))
    assert states(refused) == [ScoreState.FAILED]
    assert f"{link} resolves to {real}" in refused.scores[0].message
    assert list(real.iterdir()) == []
    followed = DirectoryScore(str(link / "data" / "cache"), follow_parent_symlinks=True)
    assert states(apply(followed)) == [ScoreState.CHANGED]
    assert (real / "data" / "cache").is_dir()
    assert states(apply(followed)) == [ScoreState.UNCHANGED]


async def test_resolve_answers_the_real_path_or_none(linked_dir: tuple[Path, Path]) -> None:
    link, real = linked_dir
    host = LocalhostTopology()
    assert await host.command_runner().resolve(str(link)) == str(real)
    assert await host.command_runner().resolve(str(real)) == str(real)
    assert await host.command_runner().resolve(str(real / "missing")) is None


# -- 3. bounded plans ----------------------------------------------------------------

_MEMORY_PROBE = """
import json, resource, sys
import anyio
from harmony_py import Maestro
from harmony_py.scores import FileScore
from topologies import LocalhostTopology

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = anyio.run(Maestro(LocalhostTopology()).add(FileScore(sys.argv[1], "small\\n")).plan)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
(change,) = report.scores[0].changes
print(json.dumps({"growth_kib": after - before, "summary": change.summary, "diff": change.diff}))
"""


@pytest.fixture
def huge_file(tmp_path: Path) -> Path:
    """An existing 200 MiB file (sparse: it costs no disk)."""
    target = tmp_path / "huge.log"
    with open(target, "wb") as handle:
        handle.truncate(200 * MIB)
    target.chmod(0o644)
    return target


def test_plan_against_a_200_mib_file_stays_in_bounded_memory(huge_file: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(huge_file)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=True,
    )  # fmt: skip
    result = json.loads(probe.stdout)
    assert result["growth_kib"] < 100 * 1024, f"plan grew the peak RSS by {result['growth_kib']} KiB"
    assert result["summary"].endswith(f"content differs ({200 * MIB} bytes -> 6 bytes)")
    assert result["diff"] is None


def test_plan_of_a_200_mib_file_prints_one_summary_line(huge_file: Path, tmp_path: Path) -> None:
    score_file = tmp_path / "score.py"
    score_file.write_text(
        textwrap.dedent(f"""
            from harmony_py import Maestro
            from harmony_py.scores import FileScore
            from topologies import LocalhostTopology
            maestro = Maestro(LocalhostTopology()).add(FileScore({str(huge_file)!r}, "small\\n"))
        """)
    )
    result = subprocess.run(
        [sys.executable, "-m", "harmony_py", "plan", str(score_file)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) < 2000, f"plan printed {len(result.stdout)} characters"
    assert sum("content differs" in line for line in result.stdout.splitlines()) == 1


def test_an_8_mib_text_file_gets_a_summary_not_a_diff(tmp_path: Path) -> None:
    target = tmp_path / "big.txt"
    lines = [f"line {i}: {'x' * 40}\n" for i in range(8 * MIB // 50)]
    target.write_text("".join(lines))
    target.chmod(0o644)
    desired = "".join(lines[::-1])
    (change,) = plan(FileScore(str(target), desired)).scores[0].changes
    assert change.diff is None
    assert f"content differs ({target.stat().st_size} bytes -> {len(desired)} bytes)" in change.summary


def test_a_text_file_with_thousands_of_interleaved_changes_gets_a_summary(tmp_path: Path) -> None:
    # Under 1 MiB, but difflib's matching is quadratic here: 10,000 lines with every other one removed.
    target = tmp_path / "list.txt"
    lines = [f"{i:08d}\n" for i in range(10_000)]
    target.write_text("".join(lines))
    target.chmod(0o644)
    (change,) = plan(FileScore(str(target), "".join(lines[1::2]))).scores[0].changes
    assert change.diff is None and "too many changed lines to diff" in change.summary


def test_a_small_edit_in_a_long_file_keeps_its_diff_numbered_as_in_the_file(tmp_path: Path) -> None:
    target = tmp_path / "long.conf"
    lines = [f"setting_{i} = {i}\n" for i in range(20_000)]
    target.write_text("".join(lines))
    target.chmod(0o644)
    edited = list(lines)
    edited[12_345] = "setting_12345 = changed\n"
    (change,) = plan(FileScore(str(target), "".join(edited))).scores[0].changes
    assert change.diff is not None
    assert "@@ -12343,7 +12343,7 @@" in change.diff
    assert "-setting_12345 = 12345\n" in change.diff and "+setting_12345 = changed\n" in change.diff


def test_a_large_file_is_compared_by_digest(tmp_path: Path) -> None:
    target = tmp_path / "blob"
    content = os.urandom(2 * MIB)
    target.write_bytes(content)
    target.chmod(0o644)
    assert not plan(FileScore(str(target), content)).has_changes
    different = content[:-1] + bytes([content[-1] ^ 1])
    (change,) = plan(FileScore(str(target), different)).scores[0].changes
    assert change.attribute == "content" and change.diff is None
    assert f"content differs ({2 * MIB} bytes -> {2 * MIB} bytes)" in change.summary


async def test_digest_is_the_sha256_of_the_file_and_none_when_missing(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"abc" * 1000)
    host = LocalhostTopology()
    assert await host.command_runner().digest(str(target)) == hashlib.sha256(b"abc" * 1000).hexdigest()
    assert await host.command_runner().digest(str(tmp_path / "missing")) is None
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(HarmonyError, match="is a symlink"):
        await host.command_runner().digest(str(tmp_path / "link"))


# -- 4. missing directories and FIFOs ---------------------------------------------------


def test_a_missing_directory_is_named_not_a_temporary_file(tmp_path: Path) -> None:
    missing = tmp_path / "srv" / "app"
    score = FileScore(str(missing / "app.conf"), "x")
    (change,) = plan(score).scores[0].changes
    assert change.action is ChangeAction.CREATE and f"{missing} does not exist yet" in change.summary
    report = apply(score)
    assert states(report) == [ScoreState.FAILED]
    message = report.scores[0].message
    assert f"{missing} does not exist: add a DirectoryScore for it or create it first" in message
    assert ".harmony-tmp" not in message


def test_a_directory_score_before_the_file_creates_what_it_needs(tmp_path: Path) -> None:
    missing = tmp_path / "srv" / "app"
    report = apply(DirectoryScore(str(missing)), FileScore(str(missing / "app.conf"), "x"))
    assert states(report) == [ScoreState.CHANGED, ScoreState.CHANGED]


def test_a_fifo_target_says_it_is_a_fifo_and_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    score = FileScore(str(fifo), "x")
    for report in (plan(score), apply(score)):
        assert states(report) == [ScoreState.FAILED]
        assert f"{fifo} is a FIFO, not a file" in report.scores[0].message
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


async def test_stat_names_fifos_sockets_and_devices(tmp_path: Path) -> None:
    host = LocalhostTopology()
    os.mkfifo(tmp_path / "fifo")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "sock"))
        kinds = [await host.command_runner().stat(str(tmp_path / name)) for name in ("fifo", "sock")]
    device = await host.command_runner().stat("/dev/null")
    assert [k.kind if k else None for k in kinds] == [FileKind.FIFO, FileKind.SOCKET]
    assert device is not None and device.kind is FileKind.CHARACTER_DEVICE
