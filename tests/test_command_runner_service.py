"""CommandRunner is one accessor returning a service, made once per host topology (adr/0007)."""

from __future__ import annotations

import dataclasses

import anyio
from typing_extensions import get_protocol_members

from capabilities import CommandRunner, CommandRunnerService
from harmony_py import capability_gaps
from topologies import FailoverTopology, LinuxHostTopology, LocalhostTopology, LocalInstance, linux_hosts
from topologies.host.base import HostTopology
from topologies.host.local_runner import LocalCommandRunner
from topologies.host.ssh.runner import SshCommandRunner


def test_the_capability_is_the_accessor_and_the_service_holds_the_methods() -> None:
    assert get_protocol_members(CommandRunner) == {"command_runner"}
    assert {"run", "stat", "read_file", "write_file", "set_mode", "make_directory", "resolve", "digest"} <= (
        get_protocol_members(CommandRunnerService)
    )


def test_a_host_makes_its_runner_once_and_every_caller_shares_it() -> None:
    local = LocalhostTopology()
    assert isinstance(local.command_runner(), LocalCommandRunner)
    assert local.command_runner() is local.command_runner()
    instance = LocalInstance("pg-a", root="/tmp/pg-a")
    assert instance.command_runner() is instance.command_runner() is not local.command_runner()
    host = LinuxHostTopology("web1", user="ops")  # nothing is connected until a service is used
    assert isinstance(host.command_runner(), SshCommandRunner)
    assert host.command_runner() is host.command_runner()
    assert host.command_runner().name == host.name


def test_a_copy_of_a_host_gets_a_runner_of_its_own() -> None:
    host = LinuxHostTopology("web1", user="ops")
    first, second = linux_hosts(["web1", "web2"], like=host).members
    assert len({id(host.command_runner()), id(first.command_runner()), id(second.command_runner())}) == 3
    assert second.command_runner().settings.options.host == "web2"
    local = LocalhostTopology()
    assert dataclasses.replace(local, name="other").command_runner() is not local.command_runner()


def test_hosts_provide_command_runner_and_a_pair_of_them_does_not() -> None:
    for topology in (LocalhostTopology(), LinuxHostTopology("web1")):
        assert isinstance(topology, HostTopology)
        assert capability_gaps(topology, CommandRunner) == []
    assert capability_gaps(FailoverTopology(LocalhostTopology(), LocalhostTopology("b")), CommandRunner)


def test_the_local_runner_works_alone_without_a_topology() -> None:
    async def main() -> tuple[int, bytes]:
        runner = LocalCommandRunner("alone")
        result = await runner.run(["sh", "-c", "printf %s \"$GREETING\""], env={"GREETING": "hi"})
        return result.exit_status, result.stdout

    assert anyio.run(main) == (0, b"hi")
