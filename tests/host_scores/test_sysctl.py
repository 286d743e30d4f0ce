"""SysctlScore on the throw-away host: a network namespace of its own, so net.* keys change nothing here."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from harmony_py import ScoreState, ScoreValueError
from harmony_py.scores import SysctlScore

from .conftest import TopologyFactory
from .helpers import apply_of, plan_of, rounds, summaries
from .private_host import PrivateHost


def test_a_kernel_parameter_is_set_live_and_for_boot_then_noop(private: PrivateHost, ssh_login: TopologyFactory) -> None:
    ours = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    private.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=0")
    result = anyio.run(rounds, ssh_login(), SysctlScore("net.ipv4.ip_forward", 1))
    result.assert_converged()
    assert summaries(result.planned) == [
        "create file /etc/sysctl.d/60-harmony-net.ipv4.ip_forward.conf (24 bytes, mode 0644)",
        "sysctl net.ipv4.ip_forward: 0 -> 1",
    ]
    assert private.run("sysctl", "-n", "net.ipv4.ip_forward").stdout == "1\n"
    assert private.path("/etc/sysctl.d/60-harmony-net.ipv4.ip_forward.conf").read_text() == "net.ipv4.ip_forward = 1\n"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == ours  # this machine's own is untouched
    private.path("/etc/sysctl.d/60-harmony-net.ipv4.ip_forward.conf").unlink()


def test_values_of_several_words_compare_as_words(private: PrivateHost, ssh_login: TopologyFactory) -> None:
    score = SysctlScore("net.ipv4.ip_local_port_range", "40000   50000", persist=False)
    anyio.run(rounds, ssh_login(), score).assert_converged()
    assert private.run("sysctl", "-n", "net.ipv4.ip_local_port_range").stdout.split() == ["40000", "50000"]


def test_an_unknown_key_and_a_value_the_kernel_refuses_fail_clearly(ssh_login: TopologyFactory) -> None:
    report = anyio.run(plan_of, ssh_login(), SysctlScore("net.ipv4.no_such_parameter", 1, persist=False))
    assert report.scores[0].state is ScoreState.FAILED and "cannot read sysctl net.ipv4.no_such_parameter" in report.scores[0].message
    refused = anyio.run(apply_of, ssh_login(), SysctlScore("net.ipv4.tcp_syn_retries", 300, persist=False))
    (score,) = refused.scores
    assert score.state is ScoreState.FAILED and "sysctl -w net.ipv4.tcp_syn_retries=300 failed" in score.message
    assert "Invalid argument" in score.message


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("ip_forward", 1), "dotted kernel parameter"),
        (("net.ipv4.ip_forward;reboot", 1), "dotted kernel parameter"),
        (("net.ipv4.ip_forward", "1=2"), "without '='"),
        (("net.ipv4.ip_forward", True), "must be a str or int"),
    ],
)
def test_bad_input_is_refused_when_the_score_is_made(arguments: tuple[str, object], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        SysctlScore(*arguments)  # type: ignore[arg-type]
