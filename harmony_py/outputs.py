"""Typed outputs: a score says what it produces; another takes it by reference.

A producing score mixes in :class:`Produces` (``class PostgreSQLScore(Score[PostgreSQL],
Produces[PgEndpoint])``); ``score.output()`` is then a :class:`Ref` to that value,
usable in another score's fields when the file is written, before anything exists.
A consuming score types such a field ``X | Ref[X]``, so mypy rejects a reference
of the wrong type. The Maestro orders the consumer after its producer and, before
calling ``interpret()``, replaces every Ref by the producer's value: interprets
see concrete values only (``resolved`` says so in one place).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from .errors import HarmonyError
from .score import C, Interpret, Score
from .values import Secret

V_co = TypeVar("V_co", covariant=True)
W = TypeVar("W")
X = TypeVar("X")

KNOWN_AFTER_APPLY = "(known after apply)"


class UnresolvedRefError(HarmonyError):
    """A Ref reached code that needs its value before the Maestro resolved it."""


@dataclass(frozen=True)
class Ref(Generic[V_co]):
    """A value a score produces when applied: "known after apply" until then.

    ``source`` is the producing score's identity. Inside a composite it is
    looked up from the composite outwards (a part's Ref to its sibling ``db``
    means ``shop.db``). :meth:`map` derives a value, e.g. an endpoint into a URL.
    """

    source: str
    transforms: tuple[Callable[[Any], Any], ...] = field(default=(), repr=False)

    def map(self, fn: Callable[[V_co], W]) -> Ref[W]:
        """A Ref to ``fn(value)``: computed once the value is known."""
        return Ref(self.source, (*self.transforms, fn))

    def value_from(self, output: object) -> V_co:
        """This Ref's value, given its producer's output (the transforms applied in order)."""
        value: Any = output
        for transform in self.transforms:
            value = transform(value)
        return value  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return KNOWN_AFTER_APPLY


class Produces(Generic[V_co]):
    """Mixin for a Score that produces a typed output.

    ``class PostgreSQLScore(Score[PostgreSQL], Produces[PgEndpoint])``; its
    interpret must then be a :class:`ProducingInterpret` giving that value.
    """

    def output(self) -> Ref[V_co]:
        """A Ref to this score's output, usable before anything exists."""
        if not isinstance(self, Score):
            raise TypeError(f"Produces is a mixin for scores; {type(self).__name__} is not a Score")
        return Ref(self.identity)


class ProducingInterpret(Interpret[C], Generic[C, V_co]):
    """The interpret of a producing score also says what its output is."""

    @abstractmethod
    async def output(self, topology: C) -> V_co | None:
        """Observe the live value; never mutate.

        The Maestro calls it after a successful apply (``None`` then is an
        error naming the score) and, in a plan, when the score has nothing to
        change (``None``: its consumers' inputs are "known after apply").
        """


def resolved(value: X | Ref[X]) -> X:
    """Inside an interpret: the concrete value, or a clear error if it is still a Ref."""
    if isinstance(value, Ref):
        raise UnresolvedRefError(
            f"the output of {value.source} is not known here: a Ref is resolved by the Maestro "
            "before interpret() is called; add both scores to the same maestro"
        )
    return value


EnvValue = str | Secret | Ref[str] | Ref[Secret]
"""An environment variable's value in a score: given, or taken from another score's output."""

PENDING_SECRET = Secret(KNOWN_AFTER_APPLY)
"""Stands for a value known only after apply; masked, since the value may be a secret."""


def env_with_placeholders(env: Mapping[str, EnvValue]) -> dict[str, str | Secret]:
    """``env`` with each Ref standing as :data:`PENDING_SECRET`, for checking and planning before values exist."""
    return {key: PENDING_SECRET if isinstance(value, Ref) else value for key, value in env.items()}


def resolved_env(env: Mapping[str, EnvValue]) -> dict[str, str | Secret]:
    """Inside an interpret: ``env`` with concrete values, or a clear error naming a Ref still in it."""
    return {key: cast("str | Secret", resolved(value)) for key, value in env.items()}
