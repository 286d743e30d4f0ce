"""Scores (what is wanted) and interprets (how to get there)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from typing_extensions import get_original_bases

from .outcome import Change, Outcome

C = TypeVar("C", contravariant=True)


class Interpret(ABC, Generic[C]):
    """The how of a score, against a topology offering capability ``C``."""

    @abstractmethod
    async def plan(self, topology: C) -> Sequence[Change]:
        """Observe the topology and return the changes apply would make.

        Must not mutate anything.
        """

    @abstractmethod
    async def apply(self, topology: C) -> Outcome:
        """Converge the topology to the score's desired state."""


class ConvergingInterpret(Interpret[C]):
    """An interpret whose apply is: plan from observed state, then make those changes.

    Subclasses write ``plan`` and ``converge``; the NOOP rule lives here once.
    """

    async def apply(self, topology: C) -> Outcome:
        changes = await self.plan(topology)
        if not changes:
            return Outcome.noop()
        await self.converge(topology, changes)
        return Outcome.changed(changes)

    @abstractmethod
    async def converge(self, topology: C, changes: Sequence[Change]) -> None:
        """Make the planned changes."""


class Score(ABC, Generic[C]):
    """Desired state needing capability ``C`` from the topology it is applied to.

    Subclass as ``class MyScore(Score[CommandRunner])``: that base is the one
    place the need is declared; mypy reads it statically and
    :meth:`required_capability` reads it at run time.
    """

    _capability_cache: ClassVar[dict[type, object]] = {}

    @abstractmethod
    def interpret(self) -> Interpret[C]:
        """Return the interpret that plans and applies this score."""

    @property
    def name(self) -> str:
        """Stable, human name of this score instance, shown in plans and reports."""
        return type(self).__name__

    @classmethod
    def required_capability(cls) -> object:
        """The capability named in the class's ``Score[...]`` base."""
        cached = Score._capability_cache.get(cls)
        if cached is None:
            cached = _declared_capability(cls)
            Score._capability_cache[cls] = cached
        return cached


def _declared_capability(cls: type) -> object:
    for klass in cls.__mro__:
        for base in get_original_bases(klass):
            origin: Any = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Score):
                args = get_args(base)
                if args and not isinstance(args[0], TypeVar):
                    return args[0]
    raise TypeError(
        f"{cls.__name__} does not declare the capability it needs; "
        f"subclass Score[SomeCapability]"
    )
