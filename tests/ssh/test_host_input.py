"""LinuxHostTopology refuses bad input at construction, before anything connects."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from harmony_py import ScoreValueError, Secret, TopologyNotReadyError
from topologies import LinuxHostTopology

from .conftest import UNUSED_ADDRESS


def test_plain_string_ssh_password_is_refused_at_construction_saying_to_use_a_secret() -> None:
    with pytest.raises(ScoreValueError, match=r"password must be a harmony_py\.Secret.*Secret\(os\.environ") as refused:
        LinuxHostTopology("web1", password="hunter2-plain")  # type: ignore[arg-type]
    assert "hunter2-plain" not in str(refused.value)
    assert LinuxHostTopology("web1", password=Secret("fine")).password == Secret("fine")


def test_known_hosts_that_is_a_directory_is_refused_at_construction_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ScoreValueError, match=f"known_hosts {tmp_path} is a directory"):
        LinuxHostTopology("web1", known_hosts=str(tmp_path))


def test_known_hosts_that_became_a_directory_fails_before_any_connection_attempt(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    # Nothing listens there: a connection attempt would retry until the deadline.
    host = LinuxHostTopology(UNUSED_ADDRESS, port=2222, known_hosts=str(known_hosts), connect_timeout_s=3.0)
    known_hosts.mkdir()
    with pytest.raises(TopologyNotReadyError) as refused:
        anyio.run(host.ensure_ready)
    message = str(refused.value)
    assert f"{UNUSED_ADDRESS}:2222: known_hosts {known_hosts} is a directory" in message
    assert "could not connect" not in message
