"""FileScore and DirectoryScore with owner= and group=: names resolved on the host, set with chown, planned as a change.

Run on this machine, and on the throw-away SSH host as root and through sudo
(``anywhere``). The users and groups are ones every Debian host has
(``daemon``, ``nobody``, ``adm``, ``nogroup``), so nothing is created here.
"""

from __future__ import annotations

import os

import anyio
import pytest

from harmony_py import ScoreState, ScoreValueError
from harmony_py.scores import DirectoryScore, FileScore

from .conftest import TopologyFactory, Workdir
from .helpers import apply_of, plan_of, rounds, summaries

DAEMON, ADM, NOBODY, NOGROUP = 1, 4, 65534, 65534


def _owner(path: os.PathLike[str] | str) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid


def test_a_file_is_created_with_its_owner_and_group_then_noop(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("owned.conf")
    result = anyio.run(rounds, anywhere(), FileScore(inside, "port = 1\n", mode=0o640, owner="daemon", group="adm"))
    result.assert_converged()
    assert _owner(outside) == (DAEMON, ADM) and outside.stat().st_mode & 0o7777 == 0o640
    assert f"owner of {inside} -> daemon:adm" in summaries(result.planned)


def test_the_plan_shows_an_ownership_change_and_apply_makes_it_without_rewriting(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("app.conf")
    outside.write_text("same\n")
    outside.chmod(0o644)
    os.chown(outside, 0, 0)
    inode = outside.stat().st_ino
    score = FileScore(inside, "same\n", owner="nobody", group="nogroup")
    result = anyio.run(rounds, anywhere(), score)
    assert summaries(result.planned) == [f"owner of {inside} root:root -> nobody:nogroup"]
    assert [change.attribute for change in result.first.scores[0].changes] == ["owner"]
    result.assert_converged()
    assert _owner(outside) == (NOBODY, NOGROUP) and outside.stat().st_ino == inode


def test_only_the_group_is_managed_when_only_group_is_given(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("group-only")
    outside.write_text("x")
    outside.chmod(0o644)
    os.chown(outside, DAEMON, 0)
    result = anyio.run(rounds, anywhere(), FileScore(inside, "x", group="adm"))
    assert summaries(result.planned) == [f"owner of {inside} :root -> :adm"]
    result.assert_converged()
    assert _owner(outside) == (DAEMON, ADM)


def test_a_rewritten_file_keeps_its_wanted_owner(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("rewritten")
    anyio.run(rounds, anywhere(), FileScore(inside, "one\n", owner="daemon")).assert_converged()
    # Content alone differs: the atomic write makes a new file, which must belong to daemon again.
    result = anyio.run(rounds, anywhere(), FileScore(inside, "two\n", owner="daemon"))
    result.assert_converged()
    assert outside.read_text() == "two\n" and _owner(outside)[0] == DAEMON


def test_setuid_bits_survive_the_chown(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("tool")
    result = anyio.run(rounds, anywhere(), FileScore(inside, "#!/bin/sh\n", mode=0o4755, owner="daemon", group="adm"))
    result.assert_converged()
    assert outside.stat().st_mode & 0o7777 == 0o4755 and _owner(outside) == (DAEMON, ADM)


def test_a_directory_gets_its_owner_and_a_later_owner_change_is_planned(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("data")
    created = anyio.run(rounds, anywhere(), DirectoryScore(inside, mode=0o750, owner="daemon", group="adm"))
    created.assert_converged()
    assert outside.is_dir() and _owner(outside) == (DAEMON, ADM) and outside.stat().st_mode & 0o777 == 0o750
    changed = anyio.run(rounds, anywhere(), DirectoryScore(inside, mode=0o750, owner="nobody", group="adm"))
    assert summaries(changed.planned) == [f"owner of {inside} daemon:adm -> nobody:adm"]
    changed.assert_converged()
    assert _owner(outside) == (NOBODY, ADM)


@pytest.mark.parametrize("kind", ["file", "directory"])
@pytest.mark.parametrize(("owner", "group", "named"), [("hzt-nosuch", None, "user 'hzt-nosuch'"), (None, "hzt-nogroup", "group 'hzt-nogroup'")])
def test_an_unknown_owner_or_group_fails_the_apply_naming_it(
    anywhere: TopologyFactory, workdir: Workdir, kind: str, owner: str | None, group: str | None, named: str
) -> None:
    inside, outside = workdir.at(f"unknown-{kind}")
    score = FileScore(inside, "x", owner=owner, group=group) if kind == "file" else DirectoryScore(inside, owner=owner, group=group)
    planned = anyio.run(plan_of, anywhere(), score)
    assert any("not on the host yet" in summary for summary in summaries(planned))
    report = anyio.run(apply_of, anywhere(), score)
    (failed,) = report.scores
    assert failed.state is ScoreState.FAILED
    assert f"{named} does not exist on the host" in (failed.message or "")
    assert "\n" not in (failed.message or "").strip()


@pytest.mark.parametrize("value", ["Root", "a b", "x;rm -rf /", "", 0])
def test_an_owner_that_is_no_user_name_is_refused_when_the_score_is_made(value: object) -> None:
    with pytest.raises(ScoreValueError, match=r"FileScore.owner must be a user or group name"):
        FileScore("/etc/x", "x", owner=value)  # type: ignore[arg-type]
    with pytest.raises(ScoreValueError, match=r"DirectoryScore.group must be a user or group name"):
        DirectoryScore("/etc/x", group=value)  # type: ignore[arg-type]
