"""The throw-away host keeps every change to system state to itself."""

from __future__ import annotations

import os
import subprocess

import anyio

from harmony_py.scores import CommandScore

from .conftest import TopologyFactory
from .helpers import apply_of
from .private_host import PrivateHost


def test_users_made_on_the_private_host_do_not_exist_on_this_machine(private: PrivateHost, as_root: TopologyFactory) -> None:
    marker = f"/srv/hzt-made-{os.getpid()}"
    score = CommandScore(["sh", "-c", f"useradd --no-create-home hztghost && touch {marker}"], creates=marker)
    report = anyio.run(apply_of, as_root(), score)
    assert report.ok, report
    assert private.run("getent", "passwd", "hztghost").returncode == 0
    assert subprocess.run(["getent", "passwd", "hztghost"], capture_output=True).returncode == 2
    # apt on the host knows no repository but those the tests add.
    assert private.run("sh", "-c", "cat /etc/apt/sources.list.d/* 2>/dev/null; true").stdout == ""


def test_the_sudo_login_is_not_root_but_runs_as_root(as_sudo: TopologyFactory, private: PrivateHost) -> None:
    marker = "/srv/hzt-sudo-who"
    report = anyio.run(apply_of, as_sudo(), CommandScore(["sh", "-c", f"id -un > {marker}"], creates=marker))
    assert report.ok, report
    assert private.path(marker).read_text() == "root\n"
    assert report.facts.get("user") == "root"
