"""A host's plan observes its files and guards in one round trip; an apply takes one fresh round trip of its
own, used only until something may have changed; verification observes live (issue 14, "Observations
batched"; adr/0099, adr/0108). A plan on a host it has just connected to shares that round trip with the
host's facts; an apply given its plan batches only the scores planned unchanged ahead of the first change
(adr/0108's second amendment). Real sshd servers, see conftest.py."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import asyncssh
import pytest

from capabilities.command_runner import CommandRunner
from harmony_py import Change, ChangeAction, ConvergingInterpret, Maestro, RunReport, Score, ScoreState, Secret
from harmony_py.scores import CommandScore, DirectoryScore, FileScore, LineInFileScore, LinkScore, TemplateScore
from topologies import LinuxHostTopology
from topologies.host.ssh import files
from topologies.host.ssh.runner import SshCommandRunner
from topologies.host.ssh.session_pool import SessionPool

from .conftest import HostFactory
from .sshd import SshServer

FILES = 8


def _count(requests: Counter[str], name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        requests[name] += 1
        return await call(*args, **kwargs)

    return counted


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many SFTP observations and session commands the host was sent (counted, then made as usual)."""
    counts: Counter[str] = Counter()
    for name in ("stat", "read_file", "resolve"):
        monkeypatch.setattr(files, name, _count(counts, f"sftp {name}", getattr(files, name)))
    monkeypatch.setattr(SessionPool, "run", _count(counts, "command", SessionPool.run))
    monkeypatch.setattr(SshCommandRunner, "_start_sftp", _count(counts, "sftp sessions", SshCommandRunner._start_sftp))
    return counts


def _workload(root: Path) -> list[Score[LinuxHostTopology]]:
    scores: list[Score[LinuxHostTopology]] = [DirectoryScore(str(root / "conf"), mode=0o755)]
    scores += [FileScore(str(root / "conf" / f"{n}.conf"), f"setting = {n}\n") for n in range(FILES)]
    scores.append(FileScore(str(root / "conf" / "key"), Secret("s3cret\n")))
    # Without owner or group: who owns it is never asked (it was, by a command of its own, on every plan).
    scores.append(TemplateScore(str(root / "conf" / "app.conf"), "port = {{ port }}\n", {"port": 8080}))
    scores.append(LinkScore(str(root / "current"), str(root / "conf")))
    scores.append(CommandScore(["touch", str(root / "conf" / "made")], creates=str(root / "conf" / "made")))
    return scores


async def _plan_counted(host: LinuxHostTopology, scores: list[Score[LinuxHostTopology]], requests: Counter[str]) -> RunReport:
    async with Maestro(host).add(*scores) as maestro:
        await maestro.prepare()
        requests.clear()  # only what the plan itself sends
        return await maestro.plan()


def _apply(host: LinuxHostTopology, scores: list[Score[LinuxHostTopology]]) -> RunReport:
    async def go() -> RunReport:
        async with Maestro(host).add(*scores) as maestro:
            return await maestro.apply()

    return anyio.run(go)


def test_plan_of_many_file_scores_on_one_host_makes_one_observation_round_trip(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, requests: Counter[str]
) -> None:
    scores = _workload(remote_dir)
    assert {s.state for s in _apply(make_host(ssh_servers[0]), scores).scores} == {ScoreState.CHANGED}
    report = anyio.run(_plan_counted, make_host(ssh_servers[0]), scores, requests)
    assert {s.state for s in report.scores} == {ScoreState.UNCHANGED}
    # One batched command, which also reads the link's target (adr/0108; before: readlink, one more).
    assert requests == Counter({"command": 1})


def test_a_plan_that_connects_reads_the_hosts_facts_and_observes_every_score_in_one_round_trip(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, requests: Counter[str]
) -> None:
    scores = _workload(remote_dir)
    _apply(make_host(ssh_servers[0]), scores)
    requests.clear()

    async def plan() -> RunReport:
        async with Maestro(make_host(ssh_servers[0])).add(*scores) as maestro:
            return await maestro.plan()

    report = anyio.run(plan)
    assert {s.state for s in report.scores} == {ScoreState.UNCHANGED}
    assert report.facts.get("os"), report.facts  # the facts came from the same command
    assert requests == Counter({"command": 1})


def test_an_apply_given_a_plan_of_changes_only_takes_no_batch_and_still_verifies_each_score_live(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, requests: Counter[str]
) -> None:
    root = remote_dir / "fresh"
    scores: list[Score[LinuxHostTopology]] = [DirectoryScore(str(root), mode=0o755)]
    scores += [FileScore(str(root / f"{n}.conf"), f"setting = {n}\n") for n in range(3)]

    async def plan_then_apply() -> tuple[RunReport, Counter[str]]:
        async with Maestro(make_host(ssh_servers[0])).add(*scores) as maestro:
            planned = await maestro.plan()
            assert {s.state for s in planned.scores} == {ScoreState.PENDING}
            requests.clear()
            applied = await maestro.apply(plan=planned)
            return applied, Counter(requests)

    applied, sent = anyio.run(plan_then_apply)
    assert {s.state for s in applied.scores} == {ScoreState.CHANGED}
    # The first score changes the host, so a batch would answer nothing: no command at all, and every
    # score observed live over SFTP (its look before the change, and its verification after).
    assert sent["command"] == 0 and sent["sftp stat"] >= 2 * len(scores), sent
    assert sorted(p.name for p in root.iterdir()) == ["0.conf", "1.conf", "2.conf"]


def test_a_link_is_made_by_one_command_and_verified_by_an_sftp_readlink(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, requests: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading the link back to verify it starts no program on the host (a ``readlink`` command did)."""
    monkeypatch.setattr(asyncssh.SFTPClient, "readlink", _count(requests, "sftp readlink", asyncssh.SFTPClient.readlink))
    link = remote_dir / "current"
    scores: list[Score[LinuxHostTopology]] = [LinkScore(str(link), "releases/v1")]

    async def plan_then_apply() -> tuple[RunReport, Counter[str]]:
        async with Maestro(make_host(ssh_servers[0])).add(*scores) as maestro:
            planned = await maestro.plan()
            requests.clear()
            applied = await maestro.apply(plan=planned)
            return applied, Counter(requests)

    applied, sent = anyio.run(plan_then_apply)
    assert [s.state for s in applied.scores] == [ScoreState.CHANGED], applied.scores
    assert link.readlink() == Path("releases/v1")
    assert sent["command"] == 1 and sent["sftp readlink"] == 1, sent


def test_a_converge_takes_its_plans_look_at_the_directory_instead_of_looking_again(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, requests: Counter[str]
) -> None:
    """FileScore's converge locates its directory as its plan did a round trip earlier: with nothing changed
    in between, that look answers (once); the check right before writing and the verification look live."""
    target = remote_dir / "app.conf"

    async def plan_then_apply() -> tuple[RunReport, Counter[str]]:
        async with Maestro(make_host(ssh_servers[0])).add(FileScore(str(target), "port = 1\n")) as maestro:
            planned = await maestro.plan()
            requests.clear()
            applied = await maestro.apply(plan=planned)
            return applied, Counter(requests)

    applied, sent = anyio.run(plan_then_apply)
    assert [s.state for s in applied.scores] == [ScoreState.CHANGED]
    # The apply's plan, the check before writing, the verification: the converge's own look was the plan's.
    assert sent["sftp resolve"] == 3, sent
    assert target.read_text() == "port = 1\n"


@dataclass(frozen=True)
class _AwaitedFile(Score[CommandRunner]):
    """Plans a change while ``path`` is missing; its converge waits for something else on the host to make it."""

    path: str

    def interpret(self) -> _AwaitedFileInterpret:
        return _AwaitedFileInterpret(self.path)


class _AwaitedFileInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, path: str) -> None:
        self.path = path

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        found = await topology.command_runner().stat(self.path)
        return [] if found is not None else [Change(ChangeAction.CREATE, self.path, f"wait for {self.path}")]

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        with anyio.fail_after(10):
            while await topology.command_runner().stat(self.path) is None:
                await anyio.sleep(0.05)


def test_a_converge_that_waits_for_the_host_looks_live_after_its_first_look(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    """The plan's look answers the converge once: a wait that looks again sees what appears meanwhile."""
    awaited = remote_dir / "ready"

    def appear_later() -> None:
        time.sleep(0.5)
        awaited.write_text("")

    maker = threading.Thread(target=appear_later)
    maker.start()
    try:
        report = _apply(make_host(ssh_servers[0]), [_AwaitedFile(str(awaited))])
    finally:
        maker.join()
    assert [s.state for s in report.scores] == [ScoreState.CHANGED], report.scores


def test_a_write_after_a_plan_that_saw_no_leftover_temporary_skips_the_sweep_and_a_leftover_is_swept(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leftover = remote_dir / f".a.conf.{'0' * 12}{files.TEMPORARY_SUFFIX}"  # as a write killed outright leaves it
    leftover.write_text("half a write")
    swept: list[str] = []
    sweep = files._remove_stale_temporaries

    async def counted(sftp: Any, directory: str, base: str) -> None:
        swept.append(base)
        await sweep(sftp, directory, base)

    monkeypatch.setattr(files, "_remove_stale_temporaries", counted)
    scores = [FileScore(str(remote_dir / name), f"{name}\n") for name in ("a.conf", "b.conf")]

    async def plan_then_apply() -> RunReport:
        async with Maestro(make_host(ssh_servers[0])).add(*scores) as maestro:
            return await maestro.apply(plan=await maestro.plan())

    assert {s.state for s in anyio.run(plan_then_apply).scores} == {ScoreState.CHANGED}
    assert swept == ["a.conf"]  # b.conf's directory listing (four requests) spared
    assert not leftover.exists()
    assert (remote_dir / "b.conf").read_text() == "b.conf\n"


def test_plan_from_the_snapshot_shows_a_diff_and_hides_a_secret_without_reading_it(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, requests: Counter[str]
) -> None:
    scores = _workload(remote_dir)
    _apply(make_host(ssh_servers[0]), scores)
    (remote_dir / "conf" / "0.conf").write_text("setting = changed\n")
    (remote_dir / "conf" / "key").write_text("other\n")
    (remote_dir / "conf" / "1.conf").chmod(0o600)
    report = anyio.run(_plan_counted, make_host(ssh_servers[0]), scores, requests)
    changed = {s.name: s.changes for s in report.scores if s.changes}
    assert set(changed) == {f"FileScore({remote_dir}/conf/{name})" for name in ("0.conf", "1.conf", "key")}
    assert "+setting = 0" in (changed[f"FileScore({remote_dir}/conf/0.conf)"][0].diff or "")
    assert changed[f"FileScore({remote_dir}/conf/1.conf)"][0].summary == f"mode of {remote_dir}/conf/1.conf 0600 -> 0644"
    key = changed[f"FileScore({remote_dir}/conf/key)"][0]
    assert key.summary.endswith("(6 -> 7 bytes); secret, diff hidden") and key.diff is None
    # Only the file whose diff is shown is read back.
    assert requests["sftp read_file"] == 1 and requests["sftp stat"] == 0


def test_file_changed_between_plan_and_apply_is_still_converged_and_verified(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    scores = _workload(remote_dir)
    _apply(make_host(ssh_servers[0]), scores)
    target = remote_dir / "conf" / "3.conf"

    async def plan_change_apply() -> tuple[RunReport, RunReport]:
        async with Maestro(make_host(ssh_servers[0])).add(*scores) as maestro:
            planned = await maestro.plan()
            target.write_text("changed after the plan\n")
            return planned, await maestro.apply()

    planned, applied = anyio.run(plan_change_apply)
    assert {s.state for s in planned.scores} == {ScoreState.UNCHANGED}
    states = {s.name: s.state for s in applied.scores}
    assert states.pop(f"FileScore({target})") is ScoreState.CHANGED
    assert set(states.values()) == {ScoreState.UNCHANGED}
    assert target.read_text() == "setting = 3\n"


def test_file_replaced_by_a_link_after_the_plan_is_refused_at_apply(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    scores = _workload(remote_dir)
    _apply(make_host(ssh_servers[0]), scores)
    target = remote_dir / "conf" / "5.conf"
    elsewhere = remote_dir / "elsewhere"
    elsewhere.write_text("not ours\n")

    async def plan_swap_apply() -> RunReport:
        async with Maestro(make_host(ssh_servers[0])).add(*scores) as maestro:
            await maestro.plan()
            target.unlink()
            target.symlink_to(elsewhere)
            return await maestro.apply()

    applied = anyio.run(plan_swap_apply)
    failed = [s for s in applied.scores if s.state is ScoreState.FAILED]
    assert [s.name for s in failed] == [f"FileScore({target})"] and "is a symlink" in failed[0].message
    assert elsewhere.read_text() == "not ours\n"


GUARDED = 6


def _guarded(root: Path, log: Path) -> list[Score[LinuxHostTopology]]:
    """Commands guarded by ``unless=`` (one with a secret variable) and by ``creates=``; each logs when it runs."""
    scores: list[Score[LinuxHostTopology]] = [
        CommandScore(f"touch {root}/g{n} && echo g{n} >> {log}", unless=["test", "-e", str(root / f"g{n}")])
        for n in range(GUARDED)
    ]
    scores.append(
        CommandScore(
            f'printf %s "$TOKEN" > {root}/token && echo token >> {log}',
            unless=f'test "$(cat {root}/token 2>/dev/null)" = "$TOKEN"',
            env={"TOKEN": Secret("tok\nen")},
        )
    )
    scores.append(CommandScore(f"touch {root}/made && echo made >> {log}", creates=str(root / "made")))
    return scores


def test_plan_of_guarded_commands_on_one_host_makes_one_round_trip(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, requests: Counter[str]
) -> None:
    log = remote_dir / "log"
    scores = _guarded(remote_dir, log)
    assert {s.state for s in _apply(make_host(ssh_servers[0]), scores).scores} == {ScoreState.CHANGED}
    report = anyio.run(_plan_counted, make_host(ssh_servers[0]), scores, requests)
    assert {s.state for s in report.scores} == {ScoreState.UNCHANGED}
    # Every unless= guard and the creates= path answered by the one batched command (before: one command each).
    assert requests == Counter({"command": 1})


def test_plan_sees_a_guard_fail_and_apply_runs_only_that_command(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, requests: Counter[str]
) -> None:
    log = remote_dir / "log"
    scores = _guarded(remote_dir, log)
    _apply(make_host(ssh_servers[0]), scores)
    (remote_dir / "g2").unlink()
    (remote_dir / "token").write_text("stale")
    report = anyio.run(_plan_counted, make_host(ssh_servers[0]), scores, requests)
    assert [s.state is ScoreState.PENDING for s in report.scores] == [n in (2, GUARDED) for n in range(len(scores))]
    assert requests == Counter({"command": 1})
    log.write_text("")
    applied = _apply(make_host(ssh_servers[0]), scores)
    assert [s.state is ScoreState.CHANGED for s in applied.scores] == [n in (2, GUARDED) for n in range(len(scores))]
    assert log.read_text().split() == ["g2", "token"] and (remote_dir / "token").read_text() == "tok\nen"
    assert "tok\nen" not in repr(applied)


def test_no_change_apply_on_one_host_observes_everything_in_one_round_trip(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path, requests: Counter[str]
) -> None:
    scores = [*_workload(remote_dir), *_guarded(remote_dir, remote_dir / "log")]
    scores.append(LineInFileScore(str(remote_dir / "conf" / "hosts.allow"), "sshd: 10.0.0.0/8"))
    _apply(make_host(ssh_servers[0]), scores)

    async def apply_counted() -> RunReport:
        async with Maestro(make_host(ssh_servers[0])).add(*scores) as maestro:
            requests.clear()
            return await maestro.apply()

    applied = anyio.run(apply_counted)
    assert {s.state for s in applied.scores} == {ScoreState.UNCHANGED}
    # One command for the host's facts (OS, Docker socket), one fresh batch that answers every score
    # (before: a guard command or SFTP look per score); no SFTP session is even started.
    assert requests == Counter({"command": 2})


def test_guard_changed_between_plan_and_apply_is_observed_afresh(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    log = remote_dir / "log"
    scores = _guarded(remote_dir, log)
    _apply(make_host(ssh_servers[0]), scores)
    log.write_text("")

    async def plan_change_apply() -> tuple[RunReport, RunReport]:
        async with Maestro(make_host(ssh_servers[0])).add(*scores) as maestro:
            planned = await maestro.plan()
            (remote_dir / "g4").unlink()
            return planned, await maestro.apply()

    planned, applied = anyio.run(plan_change_apply)
    assert {s.state for s in planned.scores} == {ScoreState.UNCHANGED}
    assert [s.state is ScoreState.CHANGED for s in applied.scores] == [n == 4 for n in range(len(scores))]
    assert log.read_text().split() == ["g4"]


def test_a_guard_an_earlier_score_satisfies_during_the_apply_is_observed_live(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    # The apply's batch runs before any score: it sees "shared" missing for both. Once the first
    # command ran, the batch is no longer used, so the second sees the file and does not run.
    log = remote_dir / "log"
    shared = remote_dir / "shared"
    scores: list[Score[LinuxHostTopology]] = [
        CommandScore(f"touch {shared} && echo first >> {log}", unless=["test", "-e", str(shared)]),
        CommandScore(f"touch {shared} && echo second >> {log}", unless=["test", "-e", str(shared)]).named("again"),
        FileScore(str(remote_dir / "after"), "x\n"),
    ]
    applied = _apply(make_host(ssh_servers[0]), scores)
    assert [s.state for s in applied.scores] == [ScoreState.CHANGED, ScoreState.UNCHANGED, ScoreState.CHANGED]
    assert log.read_text().split() == ["first"]
