"""examples/web_host.py applied to the throw-away host through sudo: everything converges, the plan after it is empty."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from harmony_py import ScoreState, Secret
from harmony_py.scores import CronScore, GroupScore, ServiceScore, UserScore

from .conftest import TopologyFactory
from .helpers import rounds, summaries
from .private_host import PrivateHost

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import web_host  # noqa: E402  (the example file, found through examples/ on the path)


def _page(private: PrivateHost, port: int) -> str:
    return private.run("busybox", "wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/", check=False).stdout


def test_the_web_host_example_converges_and_restarts_its_service_only_when_the_config_changes(
    private: PrivateHost, as_sudo: TopologyFactory
) -> None:
    first = anyio.run(rounds, as_sudo(), *web_host.web_host("hztweb", port=18080, token=Secret("t0ken-one")))
    first.assert_converged()
    assert "t0ken-one" not in repr(first)
    assert _page(private, 18080) == "<h1>hello from hztweb</h1>\n"
    config = private.path("/etc/hztweb/hztweb.conf")
    assert config.stat().st_mode & 0o777 == 0o640 and "TOKEN='t0ken-one'" in config.read_text()
    assert "hztweb-tmp-cleanup" in private.run("crontab", "-u", "hztweb", "-l").stdout
    assert private.run("sysctl", "-n", "net.core.somaxconn").stdout == "1024\n"

    moved = anyio.run(rounds, as_sudo(), *web_host.web_host("hztweb", port=18081, token=Secret("t0ken-two"), greeting="hi"))
    moved.assert_converged()
    changed = [s.name for s in moved.first.scores if s.state is ScoreState.CHANGED]
    assert changed == ["FileScore(/srv/hztweb/public/index.html)", "TemplateScore(/etc/hztweb/hztweb.conf)", "ServiceScore(hztweb)"]
    assert "restart hztweb: TemplateScore(/etc/hztweb/hztweb.conf) changed" in summaries(moved.planned)
    assert _page(private, 18081) == "<h1>hi from hztweb</h1>\n" and _page(private, 18080) == ""
    assert "t0ken-two" not in repr(moved) and "t0ken-one" not in repr(moved)

    teardown = (
        ServiceScore("hztweb", running=False, enabled=False),
        CronScore("hztweb-tmp-cleanup", "@daily", "x", user="hztweb", present=False),
        UserScore("hztweb", present=False, remove_home=True),
        GroupScore("hztweb", present=False),
    )
    anyio.run(rounds, as_sudo(), *teardown).assert_converged()
    private.run("rm", "-rf", "/etc/hztweb", "/etc/sv/hztweb", "/etc/sysctl.d/60-harmony-net.core.somaxconn.conf")
    private.run("crontab", "-u", "hztweb", "-r", check=False)
