"""Groups of Linux hosts: the inventory of a fleet, for ``Maestro(...)`` to fan out over.

    from topologies.host.host_group import linux_hosts
    from topologies.host.linux_host import LinuxHostTopology

    web = linux_hosts(["web1", "deploy@web2:2222"], like=LinuxHostTopology("defaults", user="ops"))
    maestro = Maestro(web).add(FileScore(...))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from harmony_py.errors import ScoreValueError
from harmony_py.group import TopologyGroup

from .linux_host import LinuxHostTopology

HostGroup = TopologyGroup[LinuxHostTopology]


def linux_hosts(
    specs: Iterable[str],
    *,
    like: LinuxHostTopology | None = None,
    parallel: int | None = None,
    name: str = "hosts",
) -> HostGroup:
    """A group with one LinuxHostTopology per ``[user@]host[:port]``, other options copied from ``like``."""
    template = like if like is not None else LinuxHostTopology("template")
    members = []
    for spec in specs:
        user, host, port = parse_host_spec(spec)
        members.append(
            dataclasses.replace(
                template,
                host=host,
                port=port if port is not None else template.port,
                user=user if user is not None else template.user,
                label=None,
            )
        )
    return TopologyGroup(members, parallel=parallel, name=name)


def parse_host_spec(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (IPv6 as ``[addr]:port``) into its parts."""
    if not isinstance(spec, str) or not spec.strip():
        raise ScoreValueError(f"a host must be given as '[user@]host[:port]', got {spec!r}")
    user, at, rest = spec.rpartition("@")
    port: int | None = None
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ScoreValueError(f"host {spec!r}: expected [address]:port")
        port_text = tail[1:]
    else:
        host, _colon, port_text = rest.partition(":")
    if port_text:
        if not port_text.isdigit():
            raise ScoreValueError(f"host {spec!r}: port {port_text!r} is not a number")
        port = int(port_text)
    return (user if at else None), host, port
