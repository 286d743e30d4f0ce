"""The HA engine that cannot be installed on one host: one clear error, and no host changed.

The witness is a host without network (an sshd in a network namespace whose only
link is to the test process) and without Patroni (its own private ``/opt/harmony``):
Patroni cannot be fetched from the package index there. The two database
members are LocalInstances on this machine, which has everything. The apply
must fail naming the witness and why, before any host installs or starts anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from capabilities.postgresql import PgUser
from harmony_py import Maestro, ScoreState
from harmony_py.scores import PostgreSQLScore
from harmony_py.scores.supervisors import RUNIT_SERVICES
from tests.postgres.engine_hosts import engine_port
from topologies import FailoverTopology, LinuxHostTopology, LocalInstance
from topologies.host.base import HostTopology
from topologies.postgres.patroni.install import PATRONI_VERSION
from topologies.postgres.patroni.layout import PATRONI_HOME

from .netns_hosts import ADDRESS_A, NetnsHost, two_hosts
from .sshd import UserKey, write_known_hosts

HARMONY_OPT = Path(PATRONI_HOME).parent
"""Private on each test host: there, Patroni is not installed."""


@pytest.fixture
def offline_host(ssh_root: Path, user_key: UserKey) -> Iterator[NetnsHost]:
    with two_hosts(ssh_root, user_key, mount_point=HARMONY_OPT) as (host, _unused):
        yield host


def test_engine_not_installable_on_the_witness_is_one_error_before_any_host_changes(
    offline_host: NetnsHost, ssh_root: Path, user_key: UserKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(tmp_path / "secrets"))
    root = tmp_path / "members"
    root.mkdir()
    root.chmod(0o755)
    known_hosts = write_known_hosts(ssh_root / "install_known_hosts", [offline_host.server])
    witness = LinuxHostTopology(
        ADDRESS_A, port=offline_host.server.port, user="root", client_keys=(str(user_key.private_path),),
        use_agent=False, known_hosts=str(known_hosts),
    )  # fmt: skip
    a, b = (LocalInstance(label, root=str(root / label), port_shift=shift) for shift, label in enumerate("ab"))
    topology = FailoverTopology[HostTopology](a, b, witness=witness)
    score = PostgreSQLScore("haeinstall", port=engine_port(), databases=["app"], users=[PgUser("app", databases=("app",))])

    planned = anyio.run(Maestro(topology).add(score).plan)
    said = [c.summary for s in planned.scores for c in s.changes]
    assert f"install Patroni {PATRONI_VERSION} into {PATRONI_HOME}" in said, planned.scores[0].message

    report = anyio.run(Maestro(topology).add(score).apply)
    assert [s.state for s in report.scores] == [ScoreState.FAILED], report.scores
    message = report.scores[0].message
    assert f"witness ({ADDRESS_A}): the HA engine cannot be installed: Patroni {PATRONI_VERSION} cannot be fetched" in message
    assert "nothing was installed on any host" in message and "\n" not in message
    # Nothing changed: no virtualenv on the witness, nothing of the cluster on the members, no service anywhere.
    assert list(offline_host.view.iterdir()) == []
    assert not [p for p in root.rglob("*") if "haeinstall" in p.name or p.name in ("etcd", "patroni.yml")]
    assert not [e.name for e in Path(RUNIT_SERVICES).iterdir() if "-haeinstall-" in e.name]
