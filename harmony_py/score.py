"""Scores (what is wanted) and interprets (how to get there)."""

from __future__ import annotations

import copy
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, ForwardRef, Generic, TypeVar

from typing_extensions import Self

from .errors import HarmonyError, ScoreValueError
from .observations import recent_observations
from .outcome import Outcome
from .type_args import type_argument
from .values import Change

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

    async def verify(self, topology: C) -> Sequence[Change]:
        """Observe, after an apply that reported SUCCESS, what still differs from the desired state.

        The Maestro calls it once after every successful apply, under the
        same score timeout, and reports the score ``changed`` only when it
        returns nothing; otherwise the score failed, and the summaries of
        these changes say what still differs. (A NOOP apply is not verified:
        it found nothing to change.) Must not mutate anything.

        The default plans again: right for every interpret whose plan observes
        the state its apply promises, e.g. every :class:`ConvergingInterpret`.
        Override it where the plan is not that observation (an operation
        whose plan is "nothing to do" by construction, or whose promise
        includes more than the plan reads, such as a switchover's new primary
        accepting a write). An override that cannot be exact must say why.
        """
        return await self.plan(topology)


class ConvergingInterpret(Interpret[C]):
    """An interpret whose apply is: plan from observed state, then make those changes.

    Subclasses write ``plan`` and ``converge``; the NOOP rule lives here once,
    and the Maestro's :meth:`~Interpret.verify` (plan again, expect nothing)
    checks that ``converge`` made them.
    """

    async def apply(self, topology: C) -> Outcome:
        # The converge may be answered what this plan has just seen, while nothing changed (observations.py).
        with recent_observations() as recent:
            changes = await self.plan(topology)
            if not changes:
                return Outcome.noop()
            recent.recording = False
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

    @property
    def identity(self) -> str:
        """Stable, hierarchical identity: the name given with :meth:`named`, else :attr:`name`.

        Derived only from what the user wrote, so it is the same in every run
        and process. Inside a composite the Maestro prefixes it with the
        composite's (``shop`` + ``db`` -> ``shop.db``). Refs, reports, labels
        and secret names use it.
        """
        given = given_identity(self)
        return given if given is not None else self.name

    def with_unknown_inputs(self) -> Self | None:
        """A stand-in to plan with while some of this score's inputs are not known yet.

        The Maestro calls it, in a plan, on the score with its known inputs
        resolved and a Ref left wherever a value is known only after apply.
        Return a copy with placeholders in those places whose plan says what
        apply will do (e.g. "start 2 replicas", a masked variable to set), or
        None (the default) when nothing true can be said before the values
        exist; the plan then lists only the unknown inputs.
        """
        return None

    def named(self, identity: str) -> Self:
        """This score under the identity ``identity`` (dotted segments of letters, digits, ``_`` and ``-``)."""
        check_identity(identity)
        return with_identity(self, identity)

    @classmethod
    def required_capability(cls) -> object:
        """The capability named in the class's ``Score[...]`` base."""
        cached = Score._capability_cache.get(cls)
        if cached is None:
            cached = _declared_capability(cls)
            Score._capability_cache[cls] = cached
        return cached


class CompositeScore(Score[C]):
    """A score made of other scores (its parts), e.g. an application and its database.

    The Maestro applies the parts, not the composite: each part's identity is
    prefixed with the composite's (``shop.db``), a Ref made from a part
    resolves within the composite, and parts are ordered only by their Refs
    (independent otherwise) unless ``in_order`` is True, when they form a
    sequence like the scores of one ``Maestro.add()`` call.
    """

    in_order: ClassVar[bool] = False

    @abstractmethod
    def parts(self) -> Sequence[Score[C]]:
        """The scores this one is made of, in the order a person reads them."""

    def interpret(self) -> Interpret[C]:
        raise HarmonyError(
            f"{self.identity} is a composite score: a Maestro applies its parts; it has no interpret of its own"
        )


_IDENTITY_ATTRIBUTE = "_harmony_identity"
_IDENTITY_RULE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


def given_identity(score: object) -> str | None:
    """The identity given to ``score`` with ``named()``, if any."""
    given = getattr(score, _IDENTITY_ATTRIBUTE, None)
    return given if isinstance(given, str) else None


S = TypeVar("S")


def with_identity(score: S, identity: str) -> S:
    """A shallow copy of ``score`` under ``identity`` (unchecked: the Maestro qualifies parts with it)."""
    copied = copy.copy(score)
    object.__setattr__(copied, _IDENTITY_ATTRIBUTE, identity)
    return copied


def keep_identity(source: object, copy_: object) -> None:
    """Carry a given identity over to a copy made by ``dataclasses.replace``."""
    given = given_identity(source)
    if given is not None:
        object.__setattr__(copy_, _IDENTITY_ATTRIBUTE, given)


def check_identity(identity: object) -> str:
    if not isinstance(identity, str) or not _IDENTITY_RULE.match(identity):
        raise ScoreValueError(
            f"a score identity is dot-separated names of letters, digits, '_' and '-' (e.g. 'shop.db'), got {identity!r}"
        )
    return identity


def _declared_capability(cls: type) -> object:
    # Read through generic subclasses: in ``IntSetting(Setting[int])`` with
    # ``Setting(Score[CommandRunner], Produces[V])`` the capability is CommandRunner, not int.
    declared = type_argument(cls, Score)
    if isinstance(declared, (str, ForwardRef)):
        return _resolved_name(cls, declared)
    if declared is not None and not isinstance(declared, TypeVar):
        return declared
    raise TypeError(
        f"{cls.__name__} does not declare the capability it needs; "
        f"subclass Score[SomeCapability]"
    )


def _resolved_name(cls: type, declared: str | ForwardRef) -> object:
    """``Score["CommandRunner"]``: the name looked up where the score class is defined, as mypy reads it."""
    text = declared if isinstance(declared, str) else declared.__forward_arg__
    module = sys.modules.get(cls.__module__)
    try:
        # The text is the score author's own annotation, evaluated as typing.get_type_hints does.
        return eval(text, dict(vars(module)) if module is not None else {})  # noqa: S307
    except Exception as exc:
        raise TypeError(
            f"{cls.__name__} declares Score[{text!r}], but {text!r} cannot be found in module {cls.__module__} "
            f"at run time ({type(exc).__name__}: {exc}); import the capability outside `if TYPE_CHECKING:`"
        ) from None
