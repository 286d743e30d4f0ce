"""Programs harmony_py starts on this machine get the clean base environment, and stop when the run is cancelled."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest

from harmony_py import Maestro, ScoreState, ScoreValueError, Secret
from harmony_py.scores import CommandScore
from topologies import LocalhostTopology

from .helpers import apply, everything_said, states
from .processes import end_leftovers, processes_mentioning, unique_sleep

OPERATOR_ONLY = {
    "PGPASSWORD": "from-the-operators-shell",
    "PGHOST": "/tmp/elsewhere",
    "PGSERVICEFILE": "/tmp/pg_service.conf",
    "PGSSLMODE": "disable",
    "DOCKER_HOST": "tcp://example.invalid:2375",
    "DOCKER_TLS_VERIFY": "1",
    "LC_ALL": "fr_FR.UTF-8",
    "LC_MESSAGES": "fr_FR.UTF-8",
    "LANGUAGE": "fr",
    "LANG": "fr_FR.UTF-8",
}


def environment_in(path: Path) -> dict[str, str]:
    """The ``env -0`` dump a command wrote."""
    return dict(item.split("=", 1) for item in path.read_text().split("\0") if item)


@pytest.fixture
def operator_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in OPERATOR_ONLY.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("operator_shell")
def test_command_on_localhost_sees_no_pgpassword_docker_or_locale_of_the_operator(tmp_path: Path) -> None:
    dump = tmp_path / "env"
    report = apply(CommandScore(["sh", "-c", f"env -0 > {dump}"], creates=str(dump)))
    assert states(report) == [ScoreState.CHANGED]
    seen = environment_in(dump)
    leaked = {name for name in OPERATOR_ONLY if seen.get(name) == OPERATOR_ONLY[name]}
    assert not leaked, f"leaked into the command: {sorted(leaked)}"
    assert seen["LANG"] == "C.UTF-8" and "LC_ALL" not in seen and "LANGUAGE" not in seen
    assert seen["PATH"] and seen["HOME"]


@pytest.mark.usefixtures("operator_shell")
def test_command_env_with_a_secret_reaches_the_command_and_its_guard_but_no_report(tmp_path: Path) -> None:
    dump, expected = tmp_path / "env", tmp_path / "expected"
    secret = "y-secret-value-" + uuid.uuid4().hex
    expected.write_text(secret)
    score = CommandScore(
        ["sh", "-c", f"env -0 > {dump}"],
        unless=["sh", "-c", f'test "$X" = "$(cat {expected})" && test -s {dump}'],
        env={"X": Secret(secret), "PGHOST": "/run/asked-for"},
    )
    first = apply(score)
    seen = environment_in(dump)
    assert (seen["X"], seen["PGHOST"]) == (secret, "/run/asked-for")
    assert "PGPASSWORD" not in seen
    # The guard saw X too: the second apply finds the work done.
    second = apply(score)
    assert states(first) == [ScoreState.CHANGED] and states(second) == [ScoreState.UNCHANGED]
    assert secret not in everything_said(first, second, score)


@pytest.mark.parametrize(
    ("env", "message"),
    [({"A B": "x"}, "not a valid environment variable name"), ({"A": 1}, "str or Secret"), ({"A": "x\0y"}, "NUL")],
)
def test_command_env_is_checked_at_construction(env: dict[str, object], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        CommandScore("true", creates="/tmp/x", env=env)  # type: ignore[arg-type]


def test_cancelled_local_command_stops_every_process_it_started(tmp_path: Path) -> None:
    token, nap = uuid.uuid4().hex, unique_sleep()
    marker = tmp_path / f"marker-{token}"
    score = CommandScore(["sh", "-c", f"sleep {nap}; touch {marker}"], creates=str(marker))

    async def apply_then_cancel() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(Maestro(LocalhostTopology()).add(score).apply)
            while not processes_mentioning(f"sleep {nap}"):
                await anyio.sleep(0.01)
            group.cancel_scope.cancel()

    try:
        anyio.run(apply_then_cancel)
        assert processes_mentioning(token) == [] and processes_mentioning(f"sleep {nap}") == []
        assert not marker.exists()
    finally:
        end_leftovers(f"sleep {nap}")


def test_timed_out_local_command_says_so_and_is_stopped_with_its_children(tmp_path: Path) -> None:
    nap = unique_sleep()
    marker = tmp_path / "marker"
    score = CommandScore(["sh", "-c", f"sleep {nap}; touch {marker}"], creates=str(marker), timeout_s=0.5)
    try:
        (report,) = apply(score).scores
        assert report.state is ScoreState.FAILED
        assert "localhost: sh timed out after 0.5 s and was stopped" in report.message
        assert processes_mentioning(f"sleep {nap}") == [] and not marker.exists()
    finally:
        end_leftovers(f"sleep {nap}")
