"""A group of topologies that receive the same scores: the hosts of a fleet.

``Maestro(TopologyGroup(hosts)).add(...)`` applies every score to every
member. Members run in parallel (at most ``parallel`` at a time); each member
keeps the order of the scores; one member failing, even unreachable, does not
stop the others. The group itself holds no I/O: it is a list with a bound.
"""

from __future__ import annotations

import resource
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import ScoreValueError
from .topology import Topology

T_co = TypeVar("T_co", bound=Topology, covariant=True)

FDS_PER_MEMBER = 2
"""File descriptors one member may hold (a socket, and one to spare for the event loop's needs)."""
FDS_RESERVED = 64
"""Descriptors left for everything else the process has open (stdio, logs, the loop itself)."""
MAX_DEFAULT_PARALLEL = 256
"""Beyond this, more parallel hosts only queue on the local CPU."""


def fd_budget() -> int:
    """How many members can hold a connection at once under the soft RLIMIT_NOFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_DEFAULT_PARALLEL
    return max(1, (soft - FDS_RESERVED) // FDS_PER_MEMBER)


def default_parallel(members: int) -> int:
    """Every member at once, up to what the descriptor limit and the CPU sensibly allow."""
    return max(1, min(members, fd_budget(), MAX_DEFAULT_PARALLEL))


@dataclass(frozen=True, init=False)
class TopologyGroup(Generic[T_co]):
    """The same scores on each of ``members``, at most ``parallel`` members at a time."""

    members: tuple[T_co, ...]
    parallel: int | None
    name: str

    def __init__(self, members: Iterable[T_co], *, parallel: int | None = None, name: str = "group") -> None:
        found = tuple(members)
        if not found:
            raise ScoreValueError("a TopologyGroup needs at least one member")
        names = [member.name for member in found]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ScoreValueError(
                f"TopologyGroup members must have distinct names (they label the results); "
                f"repeated: {', '.join(duplicates)}"
            )
        if parallel is not None:
            check_parallel(parallel)
        object.__setattr__(self, "members", found)
        object.__setattr__(self, "parallel", parallel)
        object.__setattr__(self, "name", name)

    def effective_parallel(self) -> int:
        return self.parallel if self.parallel is not None else default_parallel(len(self.members))

    def __len__(self) -> int:
        return len(self.members)


def check_parallel(parallel: object) -> int:
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise ScoreValueError(f"parallel must be a positive number of hosts, got {parallel!r}")
    return parallel
