"""Typed outputs: a score says what it produces; another takes it by reference.

A producing score mixes in :class:`Produces` (``class PostgreSQLScore(Score[PostgreSQL],
Produces[PgEndpoint])``); ``score.output()`` is then a :class:`Ref` to that value,
usable in another score's fields when the file is written, before anything exists.
A consuming score types such a field ``X | Ref[X]``, so mypy rejects a reference
of the wrong type. The Maestro orders the consumer after its producer and, before
calling ``interpret()``, replaces every Ref by the producer's value: interprets
see concrete values only (``resolved`` says so in one place).

Three rules keep the value's type true from producer to consumer (ADR 0052):

- a Ref comes only from a producer (``score.output()``) or from another Ref
  (``ref.map(fn)``): ``Ref("db")`` is a type error and a run-time error;
- ``Produces[V]`` declares ``interpret()`` as returning a
  ``ProducingInterpret[..., V]``, so an interpret giving another type is a type
  error; the Maestro also checks each output against ``V`` when it reads it;
- a Ref remembers the type its producer declared; building the graph checks it
  against the score its name resolves to there.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast, final

from .errors import HarmonyError, OutputTypeError
from .score import C, Interpret, Score
from .type_args import runtime_classes, type_argument
from .validation import Deferred
from .values import Secret

V_co = TypeVar("V_co", covariant=True)
W = TypeVar("W")
X = TypeVar("X")

KNOWN_AFTER_APPLY = "(known after apply)"


class UnresolvedRefError(HarmonyError):
    """A Ref reached code that needs its value before the Maestro resolved it."""


@final
@dataclass(frozen=True)
class _Origin:
    """Where a Ref comes from: made only by :meth:`Produces.output`, the proof a Ref has a producer."""

    source: str
    """The producing score's identity when the Ref was made."""
    producer: str
    """The producing score's class name, for errors."""
    value_type: object
    """The ``V`` of the producer's ``Produces[V]`` (``object`` when it cannot be read)."""



def framework_origin(source: str, kind: str, value_type: object) -> _Origin:
    """The origin of a Ref the framework derives from any score, not from a producer's output.

    Only for the framework's own Ref kinds (``triggers.ChangeRef``: whether a score changed),
    which the graph and the run resolve themselves; users make Refs with ``score.output()``.
    """
    return _Origin(source, kind, value_type)


@dataclass(frozen=True)
class Ref(Deferred, Generic[V_co]):
    """A value a score produces when applied: "known after apply" until then.

    Made only by a producing score (``score.output()``) or derived from another
    Ref (:meth:`map`, e.g. an endpoint into a URL); there is no public
    constructor, so a Ref always names a producer and the type it declared.
    Field validators skip a Ref (a :class:`~harmony_py.validation.Deferred`)
    and check the value it is resolved to.
    Inside a composite the source is looked up from the composite outwards (a
    part's Ref to its sibling ``db`` means ``shop.db``).
    """

    origin: _Origin
    transforms: tuple[Callable[[Any], Any], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.origin, _Origin):
            raise TypeError(
                "a Ref comes from a producing score: use score.output(), or ref.map(...) of such a Ref; "
                "it cannot be written by hand"
            )

    @property
    def source(self) -> str:
        """The producing score's identity (resolved within the consumer's composites)."""
        return self.origin.source

    def map(self, fn: Callable[[V_co], W]) -> Ref[W]:
        """A Ref to ``fn(value)``: computed once the value is known."""
        return Ref(self.origin, (*self.transforms, fn))

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
    interpret must then be a :class:`ProducingInterpret` giving that value:
    mypy checks the return type of ``interpret()`` against this declaration.

    A base class that leaves ``interpret()`` to its subclasses lists Produces
    first (``class Setting(Produces[V], Score[CommandRunner])``): written the
    other way round, mypy reports Score's ``interpret`` as incompatible with
    this one, since a plain Interpret gives no output.
    """

    @abstractmethod
    def interpret(self) -> ProducingInterpret[Any, V_co]:
        """The interpret, whose :meth:`~ProducingInterpret.output` gives a ``V``."""

    def output(self) -> Ref[V_co]:
        """A Ref to this score's output, usable before anything exists."""
        if not isinstance(self, Score):
            raise TypeError(f"Produces is a mixin for scores; {type(self).__name__} is not a Score")
        return Ref(_Origin(self.identity, type(self).__name__, produced_type(type(self))))


class ProducingInterpret(Interpret[C], Generic[C, V_co]):
    """The interpret of a producing score also says what its output is."""

    @abstractmethod
    async def output(self, topology: C) -> V_co | None:
        """Observe the live value; never mutate.

        The Maestro calls it after a successful apply (``None`` then is an
        error naming the score) and, in a plan, when the score has nothing to
        change (``None``: its consumers' inputs are "known after apply").
        """


def produced_type(producer: type) -> object:
    """The ``V`` a producing score class declares with ``Produces[V]``; ``object`` when it declares none."""
    declared = type_argument(producer, Produces)
    return object if declared is None or isinstance(declared, TypeVar) else declared


def type_name(annotation: object) -> str:
    """A type as a person writes it: ``PgEndpoint``, ``list[int]``, ``str | None``."""
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


def check_output(identity: str, producer: type, value: object) -> None:
    """Raise :class:`OutputTypeError` unless ``value`` is of the type ``producer`` declares.

    The message names the score, the declared type and the value's type, never
    the value (it may be a secret). A declared type that cannot be checked with
    ``isinstance`` (a TypeVar, a plain Protocol) is not checked.
    """
    declared = produced_type(producer)
    classes = runtime_classes(declared)
    if classes is None or isinstance(value, classes):
        return
    raise OutputTypeError(
        f"{identity} ({producer.__name__}) declares Produces[{type_name(declared)}], "
        f"but its interpret's output is a {type(value).__qualname__}"
    )


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
