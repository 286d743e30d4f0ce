"""Several PostgreSQL servers of one cluster on this machine, each a member of its own.

A replicated topology gives every member the same :class:`PgConfig`, so two
members on one machine need their own directory and port. A
``LocalInstance`` is the local machine with its clusters under ``root`` and
every port moved by ``port_shift``: ``FailoverTopology(LocalInstance("a",
root=..., port_shift=0), LocalInstance("b", root=..., port_shift=1))`` is a
primary and a replica on one machine (tests, the example, the benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass

from topologies.postgres.host import HostPlacement

from .localhost import LocalhostTopology


@dataclass(frozen=True)
class LocalInstance(LocalhostTopology):
    root: str = "/var/lib/postgresql"
    port_shift: int = 0

    def postgresql_placement(self) -> HostPlacement:
        return HostPlacement(root=self.root, port_shift=self.port_shift)
