"""Real package installs: a signed repository the tests build, registered with AptRepositoryScore on the throw-away host.

The host's dpkg database, apt lists and caches are private copies (see
private_host.py), and the packages install under its private /srv, so this
machine's own package state never changes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from harmony_py import ScoreState, ScoreValueError
from harmony_py.scores import AptRepositoryScore, PackageScore

from .conftest import TopologyFactory
from .debian_repo import PACKAGE_ROOT, SUITE, Package, SigningKey, publish, signing_key
from .helpers import apply_of, plan_of, rounds, summaries
from .private_host import PrivateHost
from .web import WebServer

PACKAGES = (
    Package("hzt-hello", "1.0-1"),
    Package("hzt-hello", "2.0-1"),
    Package("hzt-tool", "1.0-1", depends="hzt-hello (>= 2.0)"),
)


@pytest.fixture(scope="module")
def repository(web: WebServer, host_dir: Path) -> Iterator[tuple[str, SigningKey]]:
    """The repository's URI as the host reaches it, and the key that signs it."""
    with signing_key(host_dir / "gnupg-repo") as key:
        publish(web.root / "debian", key, PACKAGES, host_dir / "debs")
        yield web.url("debian"), key


@pytest.fixture
def clean_host(private: PrivateHost) -> Iterator[None]:
    yield
    private.run("apt-get", "-q", "-y", "purge", "hzt-tool", "hzt-hello", check=False)
    private.run("rm", "-f", "/etc/apt/sources.list.d/hzt.sources", "/etc/apt/keyrings/hzt.asc")


def _version(private: PrivateHost, name: str) -> str:
    done = private.run("dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", name, check=False)
    return done.stdout.removeprefix("ii ") if done.stdout.startswith("ii") else ""


def test_install_pin_upgrade_downgrade_and_remove_real_packages(
    private: PrivateHost, ssh_login: TopologyFactory, repository: tuple[str, SigningKey], clean_host: None
) -> None:
    uri, key = repository
    repo = AptRepositoryScore("hzt", uri, SUITE, ["main"], signed_by=key.armored)

    installed = anyio.run(rounds, ssh_login(), repo, PackageScore(["hzt-hello=1.0-1"]))
    installed.assert_converged()
    assert summaries(installed.planned) == [
        "create file /etc/apt/keyrings/hzt.asc (%d bytes, mode 0644)" % len(key.armored.encode()),
        "create file /etc/apt/sources.list.d/hzt.sources (%d bytes, mode 0644)" % len(repo.sources().encode()),
        "update the package lists of hzt",
        "install package hzt-hello 1.0-1",
    ]
    assert _version(private, "hzt-hello") == "1.0-1"
    assert private.path(f"{PACKAGE_ROOT}/hzt-hello").read_text() == "hzt-hello 1.0-1\n"
    assert private.path("/etc/apt/sources.list.d/hzt.sources").read_text() == (
        f"Types: deb\nURIs: {uri}\nSuites: hzt\nComponents: main\nSigned-By: /etc/apt/keyrings/hzt.asc\n"
    )

    upgraded = anyio.run(rounds, ssh_login(), repo, PackageScore(["hzt-hello=2.0-1"]))
    upgraded.assert_converged()
    assert summaries(upgraded.planned) == ["change package hzt-hello 1.0-1 -> 2.0-1"]
    assert _version(private, "hzt-hello") == "2.0-1"

    anyio.run(rounds, ssh_login(), PackageScore(["hzt-hello=1.0-1"])).assert_converged()
    assert _version(private, "hzt-hello") == "1.0-1"
    latest = anyio.run(rounds, ssh_login(), PackageScore(["hzt-hello"], state="latest"))
    latest.assert_converged()
    assert summaries(latest.planned) == ["upgrade package hzt-hello 1.0-1 -> 2.0-1"]

    tool = anyio.run(rounds, ssh_login(), PackageScore(["hzt-tool"]))
    tool.assert_converged()
    assert _version(private, "hzt-tool") == "1.0-1"

    removed = anyio.run(rounds, ssh_login(), PackageScore(["hzt-tool", "hzt-hello"], state="absent"))
    removed.assert_converged()
    assert summaries(removed.planned) == ["remove package hzt-tool", "remove package hzt-hello"]
    assert _version(private, "hzt-hello") == "" and not private.path(f"{PACKAGE_ROOT}/hzt-hello").exists()
    # This machine's own dpkg never heard of them.
    assert subprocess.run(["dpkg-query", "-W", "hzt-hello"], capture_output=True).returncode == 1


def test_a_repository_signed_by_another_key_is_refused_and_the_sources_are_put_back(
    private: PrivateHost, ssh_login: TopologyFactory, repository: tuple[str, SigningKey], host_dir: Path, clean_host: None
) -> None:
    uri, key = repository
    anyio.run(rounds, ssh_login(), AptRepositoryScore("hzt", uri, SUITE, ["main"], signed_by=key.armored)).assert_converged()
    before = private.path("/etc/apt/sources.list.d/hzt.sources").read_text()
    with signing_key(host_dir / f"gnupg-other-{len(list(host_dir.iterdir()))}") as other:
        wrong = AptRepositoryScore("hzt", uri, SUITE, ["main", "contrib"], signed_by=other.armored)
        report = anyio.run(apply_of, ssh_login(), wrong)
    (score,) = report.scores
    assert score.state is ScoreState.FAILED
    assert f"apt cannot use repository hzt ({uri}):" in score.message
    assert "NO_PUBKEY" in score.message or "signature" in score.message, score.message
    assert private.path("/etc/apt/sources.list.d/hzt.sources").read_text() == before


def test_a_pinned_version_apt_does_not_have_fails_with_apts_words(
    ssh_login: TopologyFactory, repository: tuple[str, SigningKey], clean_host: None
) -> None:
    uri, key = repository
    report = anyio.run(
        apply_of, ssh_login(), AptRepositoryScore("hzt", uri, SUITE, ["main"], signed_by=key.armored), PackageScore(["hzt-hello=9.9-1"])
    )
    assert [s.state for s in report.scores] == [ScoreState.CHANGED, ScoreState.FAILED]
    assert "Version '9.9-1' for 'hzt-hello' was not found" in report.scores[1].message
    assert anyio.run(plan_of, ssh_login(), PackageScore(["hzt-hello=9.9-1"])).has_changes


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AptRepositoryScore("hzt", "ftp://x/debian", "hzt", ["main"], signed_by="x"), "http://, https:// or file:"),
        (lambda: AptRepositoryScore("hzt", "http://x/debian", "hzt", ["main"], signed_by="not armored"), "ASCII-armored"),
        (lambda: AptRepositoryScore("hzt", "http://x/debian", "./", ["main"], signed_by=b"k"), "flat repository"),
        (lambda: AptRepositoryScore("h zt", "http://x/debian", "hzt", ["main"], signed_by=b"k"), "repository must be a name"),
        (lambda: PackageScore(["hzt-hello=1.0"], state="absent"), "goes with state='present' only"),
        (lambda: PackageScore(["hzt-hello=v1"]), "is not a Debian version"),
        (lambda: PackageScore(["hzt-hello", "hzt-hello=1.0"]), "names a package twice"),
    ],
)
def test_bad_input_is_refused_when_the_score_is_made(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        make()
