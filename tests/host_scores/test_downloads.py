"""DownloadScore: fetched on the host (curl, else wget) or here, verified before it replaces anything."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import anyio
import pytest

from harmony_py import ScoreState, ScoreValueError, Secret
from harmony_py.scores import DownloadScore

from .conftest import TopologyFactory, Workdir
from .helpers import apply_of, plan_of, rounds, summaries
from .private_host import PrivateHost
from .web import WebServer

CONTENT = b"#!/bin/sh\necho tool 1.2\n"
DIGEST = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def published(web: WebServer) -> Iterator[str]:
    name = f"tool-{os.getpid()}-{id(web)}.sh"
    (web.root / name).write_bytes(CONTENT)
    try:
        yield web.url(name)
    finally:
        (web.root / name).unlink()


@pytest.mark.parametrize("fetch", ["host", "controller"])
def test_a_download_is_verified_installed_then_noop(
    anywhere: TopologyFactory, workdir: Workdir, published: str, fetch: str
) -> None:
    inside, outside = workdir.at("tool.sh")
    result = anyio.run(rounds, anywhere(), DownloadScore(published, inside, DIGEST, mode=0o755, fetch=fetch))  # type: ignore[arg-type]
    result.assert_converged()
    assert outside.read_bytes() == CONTENT and outside.stat().st_mode & 0o777 == 0o755
    assert summaries(result.planned) == [f"download {published} (sha256 {DIGEST[:12]}…) to {inside}, mode 0755"]
    assert not [p for p in outside.parent.iterdir() if "harmony-download" in p.name]


@pytest.mark.parametrize("fetch", ["host", "controller"])
def test_a_digest_mismatch_fails_and_leaves_the_old_file(
    anywhere: TopologyFactory, workdir: Workdir, published: str, fetch: str
) -> None:
    inside, outside = workdir.at("tool.sh")
    outside.write_bytes(b"old tool\n")
    wrong = "0" * 64
    report = anyio.run(apply_of, anywhere(), DownloadScore(published, inside, wrong, fetch=fetch))  # type: ignore[arg-type]
    (score,) = report.scores
    assert score.state is ScoreState.FAILED
    assert f"sha256 mismatch, expected {wrong}, got {DIGEST}; {inside} was left as it was" in score.message
    assert outside.read_bytes() == b"old tool\n"
    assert not [p for p in outside.parent.iterdir() if "harmony-download" in p.name]


def test_a_changed_file_is_replaced_and_a_mode_change_alone_downloads_nothing(
    anywhere: TopologyFactory, workdir: Workdir, published: str
) -> None:
    inside, outside = workdir.at("tool.sh")
    outside.write_bytes(b"tampered\n")
    anyio.run(rounds, anywhere(), DownloadScore(published, inside, DIGEST)).assert_converged()
    assert outside.read_bytes() == CONTENT
    outside.chmod(0o600)
    report = anyio.run(plan_of, anywhere(), DownloadScore("http://127.0.0.1:1/unreachable", inside, DIGEST))
    assert summaries(report) == [f"mode of {inside} 0600 -> 0644"]


def test_wget_fetches_when_the_host_has_no_curl(private: PrivateHost, ssh_login: TopologyFactory, published: str) -> None:
    # Only in the host's own mount namespace: curl there becomes a file that cannot run.
    private.run("mount", "--bind", "/dev/null", "/usr/bin/curl")
    try:
        path = f"/srv/wget-{os.getpid()}.sh"
        anyio.run(rounds, ssh_login(), DownloadScore(published, path, DIGEST)).assert_converged()
        assert private.path(path).read_bytes() == CONTENT
        private.path(path).unlink()
    finally:
        private.run("umount", "/usr/bin/curl")


def test_a_secret_url_appears_in_no_report(anywhere: TopologyFactory, workdir: Workdir, published: str) -> None:
    inside, outside = workdir.at("tool.sh")
    url = published + "?token=hunter2-token"
    result = anyio.run(rounds, anywhere(), DownloadScore(Secret(url), inside, DIGEST))
    result.assert_converged()
    missing = anyio.run(apply_of, anywhere(), DownloadScore(Secret(url.replace("tool", "nothing")), inside + ".2", DIGEST))
    assert missing.scores[0].state is ScoreState.FAILED and "(secret URL)" in missing.scores[0].message
    assert "hunter2-token" not in repr(result) + repr(missing)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("ftp://example.org/x", "/srv/x", DIGEST), "is not an http:// or https:// URL"),
        (("http://example.org/x y", "/srv/x", DIGEST), "white space"),
        (("http://example.org/x", "/srv/x", "abc"), "64 hexadecimal digits"),
        (("http://example.org/x", "srv/x", DIGEST), "absolute path"),
    ],
)
def test_bad_input_is_refused_when_the_score_is_made(arguments: tuple[str, str, str], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        DownloadScore(*arguments)
