"""ServiceScore: runit for real on the throw-away host (no systemd is PID 1 here); systemd units checked by systemd-analyze."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from harmony_py import ScoreState, ScoreValueError
from harmony_py.scores import DirectoryScore, FileScore, ServiceScore, UserScore
from harmony_py.scores.supervisors import Definition, Systemd, verify_unit
from topologies import LocalhostTopology

from .conftest import TopologyFactory
from .helpers import plan_of, rounds, summaries
from .private_host import PrivateHost

# The program copies its configuration where the test can see which one it started with.
COMMAND = ["sh", "-c", "cp /srv/hztsvc/app.conf /srv/hztsvc/seen && exec sleep 100000"]


def _status(private: PrivateHost, service: str) -> str:
    return private.run("sv", "status", f"/etc/sv/{service}", check=False).stdout


def _pid(private: PrivateHost, service: str) -> str:
    return _status(private, service).split("(pid ")[1].split(")")[0]


def _scores(greeting: str, **options: object) -> tuple[DirectoryScore, FileScore, ServiceScore]:
    config = FileScore("/srv/hztsvc/app.conf", f"greeting = {greeting}\n")
    return DirectoryScore("/srv/hztsvc"), config, ServiceScore("hztsvc", command=COMMAND, restart_on=[config], **options)  # type: ignore[arg-type]


def test_a_service_restarts_when_its_config_changes_and_only_then(private: PrivateHost, ssh_login: TopologyFactory) -> None:
    first = anyio.run(rounds, ssh_login(), *_scores("hello"))
    first.assert_converged()
    assert summaries(first.planned)[-2:] == ["enable hztsvc (runit)", "start hztsvc (runit)"]
    assert _status(private, "hztsvc").startswith("run:") and private.path("/srv/hztsvc/seen").read_text() == "greeting = hello\n"
    # /etc/service is itself a link (Debian: runit/runsvdir/current): ask the host.
    assert private.run("test", "-L", "/etc/service/hztsvc", check=False).returncode == 0
    pid = _pid(private, "hztsvc")

    planned = anyio.run(plan_of, ssh_login(), *_scores("bonjour"))
    assert summaries(planned)[-1] == "restart hztsvc: FileScore(/srv/hztsvc/app.conf) changed"
    second = anyio.run(rounds, ssh_login(), *_scores("bonjour"))
    second.assert_converged()
    assert [s.state for s in second.first.scores] == [ScoreState.UNCHANGED, ScoreState.CHANGED, ScoreState.CHANGED]
    assert private.path("/srv/hztsvc/seen").read_text() == "greeting = bonjour\n" and _pid(private, "hztsvc") != pid

    stopped = anyio.run(rounds, ssh_login(), *_scores("bonjour", running=False, enabled=False))
    stopped.assert_converged()
    assert private.run("test", "-e", "/etc/service/hztsvc", check=False).returncode == 1
    assert not _status(private, "hztsvc").startswith("run:")
    private.run("rm", "-rf", "/etc/sv/hztsvc", "/srv/hztsvc")


def test_a_changed_definition_restarts_the_service_as_its_user(private: PrivateHost, ssh_login: TopologyFactory) -> None:
    directory = "/srv/hztsvc2"
    user = UserScore("hztsvcuser", system=True, home=directory)
    who = ServiceScore("hztsvc2", command="id -un > who && exec sleep 100000", user="hztsvcuser", directory=directory)
    anyio.run(rounds, ssh_login(), user, who).assert_converged()
    assert private.path(f"{directory}/who").read_text() == "hztsvcuser\n"
    changed = ServiceScore("hztsvc2", command="id -un > who2 && exec sleep 100000", user="hztsvcuser", directory=directory)
    result = anyio.run(rounds, ssh_login(), changed)
    result.assert_converged()
    assert summaries(result.planned)[-1] == "restart hztsvc2: its definition changes"
    diff = result.planned.scores[0].changes[0].diff or ""
    assert "+exec chpst -u hztsvcuser /bin/sh -c 'id -un > who2 && exec sleep 100000'" in diff
    assert private.path(f"{directory}/who2").read_text() == "hztsvcuser\n"
    anyio.run(rounds, ssh_login(), ServiceScore("hztsvc2", running=False, enabled=False)).assert_converged()
    anyio.run(rounds, ssh_login(), UserScore("hztsvcuser", present=False, remove_home=True)).assert_converged()
    private.run("rm", "-rf", "/etc/sv/hztsvc2")


def test_a_service_nobody_defined_fails_clearly(ssh_login: TopologyFactory) -> None:
    report = anyio.run(plan_of, ssh_login(), ServiceScore("hzt-no-such-service"))
    assert report.scores[0].state is ScoreState.FAILED
    assert "the host's runit has no service hzt-no-such-service; give ServiceScore a command= to define it" in report.scores[0].message


def test_systemd_units_are_verified_by_systemd_analyze_before_they_are_installed() -> None:
    host = LocalhostTopology().command_runner()
    systemd = Systemd(host, "hzt-web")
    good = systemd.definition_file(Definition("hzt-web", ("/bin/sh", "-c", "echo $HOME 100%"), "root", "/tmp"))
    text = good.desired_bytes().decode()
    assert 'ExecStart="/bin/sh" "-c" "echo $$HOME 100%%"' in text and "User=root" in text
    anyio.run(verify_unit, host, "hzt-web.service", good.desired_bytes())
    bad = systemd.definition_file(Definition("hzt-web", ("/nonexistent/hzt-program",), None, None))
    with pytest.raises(Exception, match="systemd-analyze verify refuses hzt-web.service: .*is not executable"):
        anyio.run(verify_unit, host, "hzt-web.service", bad.desired_bytes())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ServiceScore("nginx.service"), "no '.service'"),
        (lambda: ServiceScore("web", command=""), "one non-empty line"),
        (lambda: ServiceScore("web", restart_on=["/etc/web.conf"]), "restart_on: expected a score"),  # type: ignore[list-item]
        (lambda: ServiceScore("web", supervisor="upstart"), "supervisor must be"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_refused_when_the_score_is_made(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        make()
