"""A group of topologies that receive the same scores: the hosts of a fleet.

``Maestro(TopologyGroup(hosts)).add(...)`` applies every score to every
member. Members run in parallel (at most ``parallel`` at a time); each member
keeps the order of the scores; one member failing, even unreachable, does not
stop the others. The group itself holds no I/O: it is a list with a bound.

Each member in flight holds an open connection, so how many can run at once
is bounded by the open-files limit: the soft limit is raised to the hard one
once per process (:func:`raise_open_files_limit`, adr/0107), and a
``parallel`` that even the hard limit cannot serve is refused with
:class:`~harmony_py.errors.OpenFilesLimitError` before any host is contacted.
"""

from __future__ import annotations

import resource
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import OpenFilesLimitError, ScoreValueError
from .topology import Topology

T_co = TypeVar("T_co", bound=Topology, covariant=True)

FDS_PER_MEMBER = 2
"""File descriptors one member may hold (a socket, and one to spare for the event loop's needs)."""
FDS_RESERVED = 64
"""Descriptors left for everything else the process has open (stdio, logs, the loop itself)."""
MAX_DEFAULT_PARALLEL = 256
"""Beyond this, more parallel hosts only queue on the local CPU."""


_raised: list[bool] = []
"""Non-empty once :func:`raise_open_files_limit` ran in this process."""


def raise_open_files_limit() -> None:
    """Raise the soft RLIMIT_NOFILE to the hard limit, once per process.

    Distributions start programs with a soft limit of 1024 and a hard one
    far above it; a fleet of hosts needs one descriptor per connection, and
    the hard limit is what the administrator allows. Lowering it is never done.
    """
    if _raised:
        return
    _raised.append(True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > soft):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            # Some kernels refuse RLIM_INFINITY or a value above fs.nr_open: keep the soft limit.
            pass


def fd_budget() -> int:
    """How many members can hold a connection at once under the soft RLIMIT_NOFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_DEFAULT_PARALLEL
    return max(1, (soft - FDS_RESERVED) // FDS_PER_MEMBER)


def check_open_files(parallel: int) -> None:
    """Refuse a ``parallel`` that the open-files limit cannot serve, naming the limit and what to do.

    The soft limit is raised to the hard one first; only when even that is too
    low is the request refused (not clamped: the user asked for that many hosts
    at once, and a silently slower run would hide it; adr/0107).
    """
    raise_open_files_limit()
    budget = fd_budget()
    if parallel <= budget:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = parallel * FDS_PER_MEMBER + FDS_RESERVED
    raise OpenFilesLimitError(
        f"parallel {parallel} needs about {needed} open files, but the open-files limit (RLIMIT_NOFILE) is "
        f"{soft} (hard limit {_limit_text(hard)}); use --parallel {budget} or less, "
        f"or raise the hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit)"
    )


def _limit_text(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


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
