"""Type-level promises of the SSH area: hosts and host groups take CommandRunner scores, and only scores they can serve."""

from typing_extensions import assert_type

from capabilities.command_runner import CommandRunner
from capabilities.k8s import K8sClient
from capabilities.postgresql import PostgreSQL
from harmony_py import Maestro, Score, TopologyGroup
from harmony_py.scores import CommandScore, DirectoryScore, FileScore
from harmony_py.scores.package import PackageScore
from topologies import HostGroup, LinuxHostTopology, LocalhostTopology, linux_hosts

host = LinuxHostTopology("web1", user="ops")
runner: CommandRunner = host  # LinuxHostTopology provides CommandRunner structurally

single = Maestro(host).add(FileScore("/etc/motd", "hi"), PackageScore(["curl"]))
assert_type(single, Maestro[LinuxHostTopology])

group = linux_hosts(["web1", "web2"], like=host)
assert_type(group, TopologyGroup[LinuxHostTopology])
fleet = Maestro(group).add(DirectoryScore("/srv/app"), CommandScore("true", unless="true"))
assert_type(fleet, Maestro[LinuxHostTopology])
assert_type(fleet.members, tuple[LinuxHostTopology, ...])

explicit: HostGroup = TopologyGroup([host, LinuxHostTopology("web2")], parallel=4)
assert_type(Maestro(explicit), Maestro[LinuxHostTopology])

# A group of localhosts is a group of CommandRunners too.
assert_type(Maestro(TopologyGroup([LocalhostTopology()])), Maestro[LocalhostTopology])


class NeedsPostgreSQL(Score[PostgreSQL]):
    def interpret(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError


# An SSH host is a PostgreSQL server: one host and a group take PostgreSQL scores.
Maestro(host).add(NeedsPostgreSQL())
Maestro(group).add(NeedsPostgreSQL())


class NeedsK8s(Score[K8sClient]):
    def interpret(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError


# It is no Kubernetes API: mypy refuses, for one host and for a group.
Maestro(host).add(NeedsK8s())  # type: ignore[arg-type]
Maestro(group).add(NeedsK8s())  # type: ignore[arg-type]

