"""The run-time half of the capability rule mypy enforces statically.

``isinstance(x, SomeProtocol)`` only checks that names exist, runs property
getters, and is fooled by higher-order topologies whose methods exist for
every sub-topology. So the check walks the protocol's members itself, with
``inspect.getattr_static``, and lets higher-order topologies delegate.

For each method the protocol declares, the topology's must be there, be
``async def`` exactly when the protocol's is, and accept every call the
protocol's signature allows (parameter names, kinds, count and which are
optional; annotations are the type checker's business). An accessor (a plain
method with no parameters returning a service Protocol, ``def postgresql(self)
-> PostgreSQLService``) is also checked one level down: the class its
implementation declares it returns must have the service's members, checked
the same way.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from types import SimpleNamespace
from typing import Any, Protocol, get_args, get_origin, runtime_checkable

from typing_extensions import get_protocol_members

from .deferred_annotations import type_checking_names
from .type_args import is_union

_Parameter = inspect.Parameter
_POSITIONAL = (_Parameter.POSITIONAL_ONLY, _Parameter.POSITIONAL_OR_KEYWORD)
_NAMED = (_Parameter.POSITIONAL_OR_KEYWORD, _Parameter.KEYWORD_ONLY)
_STARS: dict[object, str] = {_Parameter.VAR_POSITIONAL: "*", _Parameter.VAR_KEYWORD: "**"}


@runtime_checkable
class DelegatesCapabilities(Protocol):
    """A higher-order topology that answers the check from its sub-topologies."""

    def capability_gaps(self, capability: type) -> list[str]:
        """What prevents providing ``capability``; empty when it is provided."""
        ...


def capability_name(capability: object) -> str:
    """How a capability reads in messages: ``PostgreSQL``, or ``Docker | K8sClient`` for a union."""
    if is_union(capability):
        return " | ".join(capability_name(option) for option in get_args(capability))
    return getattr(capability, "__name__", repr(capability))


def capability_gaps(topology: object, capability: object) -> list[str]:
    """Each reason ``topology`` cannot provide ``capability``; empty when it can.

    A union (``Score[Docker | K8sClient]``) is provided when one of its
    capabilities is; otherwise every option's reasons are given.
    """
    if is_union(capability):
        options = get_args(capability)
        answers = [capability_gaps(topology, option) for option in options]
        if any(not gaps for gaps in answers):
            return []
        # Each option's gaps already name the option (``K8sClient (missing k8s_client)``).
        return [f"none of {capability_name(capability)}: " + "; ".join(", ".join(gaps) for gaps in answers)]
    if not isinstance(capability, type):
        return [f"{capability!r} is not a capability class"]
    hook = inspect.getattr_static(topology, "capability_gaps", None)
    if hook is not None:
        gaps: list[str] = topology.capability_gaps(capability)  # type: ignore[attr-defined]
        return gaps
    return member_gaps(topology, capability)


def provides(topology: object, capability: type) -> bool:
    """Whether ``topology`` provides ``capability``: the supported test, where ``isinstance`` is not.

    ``isinstance(topology, Capability)`` only sees that names exist (a
    ``FailoverTopology`` of Docker engines "is" PostgreSQL by that test);
    this asks what the Maestro asks before running a score
    (:func:`capability_gaps` says why not).
    """
    return not capability_gaps(topology, capability)


def member_needs(capability: type, needs: Mapping[type, type]) -> list[type]:
    """What each member of a higher-order topology must provide for it to provide ``capability``.

    ``needs`` maps a capability to what its members must be instead
    (``PostgreSQL -> PostgreSQLServer``: a pair serves PostgreSQL by driving
    servers). It applies to every part of ``capability``: a Protocol extending
    PostgreSQL, or combining it with Docker, needs servers too, besides itself.
    """
    if capability in needs:
        return [needs[capability]]
    wanted = [capability]
    for part in _protocols_of(capability):
        if part in needs and needs[part] not in wanted:
            wanted.append(needs[part])
    return wanted


def delegated_gaps(
    owner: object, capability: type, parts: Iterable[tuple[str, object]], needs: Mapping[type, type]
) -> list[str]:
    """A higher-order topology's answer: its own gaps first, else each labelled part's, once each.

    ``parts`` are the sub-topologies with the label messages name them by
    (``primary``, ``shard 2``); ``needs`` is what :func:`member_needs` maps.
    """
    own = member_gaps(owner, capability)
    if own:
        return own
    gaps = [
        f"{label}: {gap}"
        for label, part in parts
        for needed in member_needs(capability, needs)
        for gap in capability_gaps(part, needed)
    ]
    return list(dict.fromkeys(gaps))  # a part named by two needs is said once


def member_gaps(obj: object, capability: type) -> list[str]:
    """What ``obj`` lacks of ``capability``: one entry per capability it is made of, named first.

    ``LoadBalancer (missing balance, balanced_service)`` for a member that is
    absent, ``K8sClient (k8s_client() returns HalfApi, lacking K8sClientService
    (apply must be async def))`` for a service member that is not ``async``,
    ``CommandRunner (run: parameters differ: ...)`` for one whose parameters
    do not match. A combined capability (``DockerWithLoadBalancer``)
    is answered per part, so the entry names the concept that is missing, not
    only methods.
    """
    return _gaps(obj, capability, accessors=True)


def _gaps(obj: object, capability: type, *, accessors: bool) -> list[str]:
    try:
        members = sorted(get_protocol_members(capability))
    except TypeError:
        return [f"{capability_name(capability)} is not a Protocol"]
    missing: dict[type, list[str]] = {}
    wrong: dict[type, list[str]] = {}
    for member in members:
        owner = next(part for part in capability.__mro__ if member in vars(part))
        try:
            found = inspect.getattr_static(obj, member)
        except AttributeError:
            missing.setdefault(owner, []).append(member)
            continue
        problem = _member_problem(obj, capability, member, found, accessors=accessors)
        if problem:
            wrong.setdefault(owner, []).append(problem)
    gaps: list[str] = []
    for part in reversed(_protocols_of(capability)):  # the most basic concept first
        problems = []
        if part in missing:
            problems.append(f"missing {', '.join(missing[part])}")
        problems += wrong.get(part, [])
        if problems:
            gaps.append(f"{capability_name(part)} ({'; '.join(problems)})")
    return gaps


def declaring_capability(capability: type, member: str) -> type:
    """The narrowest capability among ``capability`` and its bases that has ``member``."""
    having = [part for part in _protocols_of(capability) if member in get_protocol_members(part)]
    return min(having, key=lambda part: len(get_protocol_members(part)), default=capability)


def _protocols_of(capability: type) -> list[type]:
    """``capability`` and the capability Protocols it extends, in method resolution order."""
    return [
        part
        for part in capability.__mro__
        if getattr(part, "_is_protocol", False) and part is not Protocol and part.__module__ != "typing"
    ]


# -- one member -----------------------------------------------------------------------


def _member_problem(obj: object, capability: type, member: str, found: object, *, accessors: bool) -> str | None:
    """What is wrong with ``found``, the object's ``member``, against the capability's; None when nothing."""
    variants = _declared_variants(capability, member)
    if not variants:
        return None  # an attribute or a property: being there is all that can be checked
    if isinstance(found, property) or not callable(found):
        return f"{member} must be a method"
    wanted = variants[0]
    implementation = _function(found)
    if _is_async(wanted) and not _is_async(found):
        return f"{member} must be async def"
    if not _is_async(wanted) and _is_async(found) and not _returns_awaitable(wanted):
        return f"{member} must not be async def"
    found_signature = _signature(implementation, drop_self=_bound_on_use(obj, member, found)) if implementation else None
    for variant in variants:  # an overloaded method must accept the calls of every overload
        wanted_signature = _signature(variant, drop_self=True)
        if wanted_signature is None or found_signature is None:
            return None
        differences = _parameter_differences(wanted_signature, found_signature)
        if differences:
            return (
                f"{member}: parameters differ: {'; '.join(differences)} "
                f"(wants {_render(wanted_signature)}, has {_render(found_signature)})"
            )
    if accessors and implementation is not None:
        return _accessor_problem(member, wanted, implementation)
    return None


def _declared_variants(capability: type, member: str) -> list[Callable[..., Any]]:
    """The capability's function for ``member``, or each of its overloads; empty for an attribute or property."""
    declared = _function(inspect.getattr_static(capability, member))
    if declared is None:
        return []
    owner = next(part for part in capability.__mro__ if member in vars(part))
    # At run time an overloaded Protocol method is typing's stub taking (*args, **kwargs); its overloads are registered.
    where = SimpleNamespace(__module__=owner.__module__, __qualname__=f"{owner.__qualname__}.{member}")
    overloads = typing.get_overloads(where)  # type: ignore[arg-type]  # it reads only these two names
    return list(overloads) or [declared]


def _function(member: object) -> Callable[..., Any] | None:
    """The plain function behind a method, staticmethod or classmethod; None for anything else."""
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    return member if inspect.isfunction(member) else None


def _bound_on_use(obj: object, member: str, found: object) -> bool:
    """Whether calling ``obj.member`` passes the object itself first (a method found on the class)."""
    if isinstance(found, staticmethod):
        return False
    if isinstance(found, classmethod):
        return True
    if isinstance(obj, type):
        return True  # a class looked at as the type of its instances (a service class)
    return member not in getattr(obj, "__dict__", {})


def _is_async(member: object) -> bool:
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    return inspect.iscoroutinefunction(member)


def _returns_awaitable(function: Callable[..., Any]) -> bool:
    """Whether a plain method is declared to return an awaitable (so ``async def`` implements it)."""
    returned = function.__annotations__.get("return")
    if isinstance(returned, str):
        return any(word in returned for word in ("Awaitable", "Coroutine"))
    origin = get_origin(returned) or returned
    return isinstance(origin, type) and issubclass(origin, (Awaitable, Coroutine))


def _signature(function: Callable[..., Any], *, drop_self: bool) -> inspect.Signature | None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    parameters = list(signature.parameters.values())
    if drop_self and parameters and parameters[0].kind in _POSITIONAL:
        parameters = parameters[1:]
    return signature.replace(parameters=parameters)


def _parameter_differences(wanted: inspect.Signature, found: inspect.Signature) -> list[str]:
    """Why a call the capability's signature allows would fail on ``found``'s (empty when none would)."""
    wants = list(wanted.parameters.values())
    if {p.kind for p in wants} >= {_Parameter.VAR_POSITIONAL, _Parameter.VAR_KEYWORD}:
        return []  # (*args, **kwargs) in the Protocol (an @overload stub at run time) says nothing to compare
    has = list(found.parameters.values())
    takes_args = any(p.kind is _Parameter.VAR_POSITIONAL for p in has)
    takes_kwargs = any(p.kind is _Parameter.VAR_KEYWORD for p in has)
    if takes_args and takes_kwargs:
        return []  # (*args, **kwargs) takes any call
    positional = [p for p in has if p.kind in _POSITIONAL]
    by_name = {p.name: p for p in has if p.kind in _NAMED}
    used: set[str] = set()
    differences: list[str] = []
    for index, want in enumerate(p for p in wants if p.kind in _POSITIONAL):
        if index < len(positional):
            got = positional[index]
            used.add(got.name)
            if want.kind is _Parameter.POSITIONAL_OR_KEYWORD and got.name != want.name:
                differences.append(f"'{want.name}' is named '{got.name}'")
            elif want.kind is _Parameter.POSITIONAL_OR_KEYWORD and got.kind is _Parameter.POSITIONAL_ONLY:
                differences.append(f"'{want.name}' must be passable by name")
            if _optional(want) and not _optional(got):
                differences.append(f"'{got.name}' must be optional")
        elif not takes_args:
            differences.append(f"no parameter '{want.name}'")
    for want in (p for p in wants if p.kind is _Parameter.KEYWORD_ONLY):
        named = by_name.get(want.name)
        if named is None:
            if not takes_kwargs:
                differences.append(f"no parameter '{want.name}'")
            continue
        used.add(named.name)
        if _optional(want) and not _optional(named):
            differences.append(f"'{want.name}' must be optional")
    if any(p.kind is _Parameter.VAR_POSITIONAL for p in wants) and not takes_args:
        differences.append("*args missing")
    if any(p.kind is _Parameter.VAR_KEYWORD for p in wants) and not takes_kwargs:
        differences.append("**kwargs missing")
    for extra in has:
        if extra.kind in (*_POSITIONAL, _Parameter.KEYWORD_ONLY) and extra.name not in used and not _optional(extra):
            differences.append(f"'{extra.name}' is required but not in the capability")
    return differences


def _optional(parameter: inspect.Parameter) -> bool:
    return parameter.default is not _Parameter.empty


def _render(signature: inspect.Signature) -> str:
    """A signature without annotations: ``(config, *, rewind=...)``."""
    parts: list[str] = []
    keyword_marked = False
    for parameter in signature.parameters.values():
        if parameter.kind is _Parameter.KEYWORD_ONLY and not keyword_marked:
            parts.append("*")
            keyword_marked = True
        prefix = _STARS.get(parameter.kind, "")
        keyword_marked |= parameter.kind is _Parameter.VAR_POSITIONAL
        parts.append(f"{prefix}{parameter.name}{'=...' if _optional(parameter) else ''}")
    return f"({', '.join(parts)})"


# -- accessors: a capability's method that hands out a service -------------------------


def _accessor_problem(member: str, wanted: Callable[..., Any], implementation: Callable[..., Any]) -> str | None:
    """For an accessor, what the service its implementation declares it returns lacks; None when nothing."""
    if _is_async(wanted):
        return None
    service = _declared_return(wanted)
    if not _is_protocol_class(service):
        return None
    returned = _declared_return(implementation)
    if not isinstance(returned, type):
        return None  # undeclared, Any or not resolvable here: nothing to check before it is called
    lacks = _service_gaps(returned, service)
    if not lacks:
        return None
    return f"{member}() returns {returned.__qualname__}, lacking {', '.join(lacks)}"


@functools.lru_cache(maxsize=512)
def _service_gaps(returned: type, service: type) -> tuple[str, ...]:
    """The service's members the class lacks or mismatches, checked one level deep (no accessors of accessors)."""
    return tuple(_gaps(returned, service, accessors=False))


_UNRESOLVED = object()
_RETURNS: dict[Callable[..., Any], object] = {}
"""Resolved return annotations by function. Only answers are kept: a failure to resolve may pass (a module
the annotation names was being imported by another thread), and a kept None would skip the check for good."""


def _declared_return(function: Callable[..., Any]) -> object:
    """The resolved return annotation of ``function``, or None when it has none or it cannot be resolved."""
    if function in _RETURNS:
        return _RETURNS[function]
    found = _resolve_return(function)
    if found is _UNRESOLVED:
        return None
    _RETURNS[function] = found
    return found


def _resolve_return(function: Callable[..., Any]) -> object:
    if _has_parameters(function):
        return None
    try:
        hints = typing.get_type_hints(function)
    except NameError:  # a name the module imports only for type checkers (adr/0110)
        try:
            hints = typing.get_type_hints(function, localns=type_checking_names(function.__module__))
        except Exception:  # noqa: BLE001 - not resolvable here either: nothing to check before it is called
            return _UNRESOLVED
    except Exception:  # noqa: BLE001 - not resolvable at run time: nothing to check before it is called
        return _UNRESOLVED
    return hints.get("return")


def _has_parameters(function: Callable[..., Any]) -> bool:
    signature = _signature(function, drop_self=True)
    return signature is None or any(not _optional(p) for p in signature.parameters.values())


def _is_protocol_class(value: object) -> bool:
    return isinstance(value, type) and bool(getattr(value, "_is_protocol", False))


def describe_gap(score_name: str, capability: object, topology_name: str, gaps: list[str]) -> str:
    return (
        f"Score {score_name} requires capability {capability_name(capability)}, "
        f"but topology {topology_name} does not provide it: {', '.join(gaps)}"
    )
