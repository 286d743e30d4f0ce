"""Importing harmony_py or topologies does not pull in asyncssh; host specs parse as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harmony_py import ScoreValueError, TopologyGroup
from topologies.host.host_group import linux_hosts, parse_host_spec
from topologies.host.ssh.command_line import command_line, env_header


def test_importing_the_packages_does_not_import_asyncssh() -> None:
    code = "import sys, harmony_py, harmony_py.scores, topologies; assert 'asyncssh' not in sys.modules, 'asyncssh imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_a_linux_host_loads_no_postgresql_nginx_or_application_modules_until_asked_for_them() -> None:
    code = (
        "import sys; from topologies import LinuxHostTopology; "
        "loaded = sorted(m for m in sys.modules if m.startswith(('topologies.postgres', 'topologies.app', "
        "'topologies.balancer.nginx', 'capabilities.postgresql'))); assert loaded == [], loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("web1", (None, "web1", None)),
        ("ops@web1", ("ops", "web1", None)),
        ("ops@web1:2222", ("ops", "web1", 2222)),
        ("[::1]:2200", (None, "::1", 2200)),
    ],
)
def test_host_specs(spec: str, parsed: tuple[str | None, str, int | None]) -> None:
    assert parse_host_spec(spec) == parsed


def test_group_validation() -> None:
    with pytest.raises(ScoreValueError, match="distinct names"):
        linux_hosts(["web1", "web1"])
    with pytest.raises(ScoreValueError, match="at least one member"):
        TopologyGroup([])
    with pytest.raises(ScoreValueError, match="parallel"):
        linux_hosts(["web1"], parallel=0)
    assert linux_hosts(["a", "b", "c"]).effective_parallel() == 3


def test_command_lines_quote_everything() -> None:
    line = command_line(["printf", "%s", "$(id) 'x'"])
    assert line.startswith(b"sh -c ") and line.endswith(b" sh printf %s '$(id) '\"'\"'x'\"'\"''")
    line = command_line(["id"], sudo=True, timeout_s=5)
    assert line.startswith(b"sudo -n -- sh -c ") and line.endswith(b" sh timeout --kill-after=2 10.000 id")
    with pytest.raises(ScoreValueError, match="NUL"):
        command_line(["echo", "a\0b"])


def test_variables_travel_in_the_stdin_header_not_on_the_command_line() -> None:
    assert env_header({"A": "1 2", "B": "x\ny"}) == b"A=1\\00402\nB=x\\0012y\n\n"
    assert env_header(None) == b"\n"
    with pytest.raises(ScoreValueError, match="not a valid name"):
        env_header({"A B": "x"})
