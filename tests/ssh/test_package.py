"""PackageScore over SSH, against this machine's real dpkg, with a package the test builds and owns."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from harmony_py import Maestro, ScoreState, ScoreValueError
from harmony_py.scores import PackageScore

from .conftest import HostFactory
from .sshd import SshServer

DUMMY = "harmony-py-ssh-test-dummy"


def _installed(name: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", name], capture_output=True, text=True)
    return done.stdout.startswith("ii")


@pytest.fixture
def dummy_package(tmp_path: Path) -> Iterator[str]:
    """A tiny .deb (one file under /usr/share/doc), installed with dpkg; purged afterwards."""
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share/doc" / DUMMY).mkdir(parents=True)
    (root / "usr/share/doc" / DUMMY / "README").write_text("installed by harmony_py's SSH tests\n")
    (root / "DEBIAN/control").write_text(
        f"Package: {DUMMY}\nVersion: 1.0\nArchitecture: all\nMaintainer: harmony_py tests <tests@invalid>\n"
        "Description: test package for harmony_py PackageScore\n"
    )
    deb = tmp_path / f"{DUMMY}.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True)
    subprocess.run(["dpkg", "-i", str(deb)], check=True, capture_output=True)
    try:
        yield DUMMY
    finally:
        subprocess.run(["dpkg", "--purge", DUMMY], check=False, capture_output=True)


def test_absent_removes_and_then_stays_removed(
    make_host: HostFactory, ssh_servers: list[SshServer], dummy_package: str
) -> None:
    async def run() -> None:
        async with Maestro(make_host(ssh_servers[0])).add(
            PackageScore([dummy_package], state="absent"), PackageScore(["dpkg"])
        ) as maestro:
            plan = await maestro.plan()
            assert [c.summary for c in plan.scores[0].changes] == [f"remove package {dummy_package}"]
            assert plan.scores[1].state is ScoreState.UNCHANGED  # dpkg itself is installed
            first = await maestro.apply()
            assert [r.state for r in first.scores] == [ScoreState.CHANGED, ScoreState.UNCHANGED], first
            second = await maestro.apply()
            assert [r.state for r in second.scores] == [ScoreState.UNCHANGED] * 2
            assert not (await maestro.plan()).has_changes

    anyio.run(run)
    assert not _installed(dummy_package)


def test_present_plans_an_install_and_reports_apt_failure_clearly(
    make_host: HostFactory, ssh_servers: list[SshServer]
) -> None:
    missing = "harmony-py-no-such-package"

    async def run() -> None:
        async with Maestro(make_host(ssh_servers[0])).add(PackageScore(missing)) as maestro:
            plan = await maestro.plan()
            assert [c.summary for c in plan.scores[0].changes] == [f"install package {missing}"]
            applied = await maestro.apply()
            assert applied.scores[0].state is ScoreState.FAILED
            assert "apt-get" in applied.scores[0].message and "exited 100" in applied.scores[0].message

    anyio.run(run)


def test_package_names_are_validated() -> None:
    with pytest.raises(ScoreValueError, match="not a Debian package name"):
        PackageScore(["curl; rm -rf /"])
    with pytest.raises(ScoreValueError, match="state"):
        PackageScore(["curl"], state="newest")  # type: ignore[arg-type]
    assert PackageScore("libc6:amd64").names == ("libc6:amd64",)
