"""Over SSH, a path that is not UTF-8 works as it does on this machine: SFTP and command lines carry its bytes."""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from harmony_py import Maestro, ScoreState

from ..test_non_utf8_paths import RAW_NAME, non_utf8_scores
from .conftest import HostFactory
from .sshd import SshServer


def test_non_utf8_paths_over_ssh_converge_then_stay_unchanged(
    make_host: HostFactory, ssh_servers: list[SshServer], remote_dir: Path
) -> None:
    scores = non_utf8_scores(remote_dir)

    async def apply() -> list[ScoreState]:
        async with Maestro(make_host(ssh_servers[0])).add(*scores) as maestro:
            report = await maestro.apply()
        assert all(score.state is not ScoreState.FAILED for score in report.scores), [s.message for s in report.scores]
        return [score.state for score in report.scores]

    assert anyio.run(apply) == [ScoreState.CHANGED] * 3
    assert anyio.run(apply) == [ScoreState.UNCHANGED] * 3
    assert sorted(os.listdir(os.path.join(bytes(remote_dir), RAW_NAME))) == [b"f\xff", b"made"]
