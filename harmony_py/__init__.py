"""harmony_py: infrastructure as type-checked Python.

Scores (desired state) are applied to topologies (where they run) by a
:class:`Maestro`. A score names the capability it needs; mypy proves the
topology has it, and the maestro checks it again at run time.

From Python code (ops tooling)::

    async with Maestro(LocalhostTopology()).add(FileScore("/etc/motd", "hi\n")) as maestro:
        plan = await maestro.plan()          # a RunReport; nothing changed
        if plan.pending:
            applied = await maestro.apply()

or, with no event loop running, ``run_plan(maestro)`` and ``run_apply(maestro)``.
The report types (:class:`RunReport`, :class:`ScoreReport`, :class:`ScoreState`,
:class:`Change`, :class:`ChangeAction`, :class:`Phase`) are public API: fields
are only ever added, with defaults (see the README, "Stability").

The distribution on the package index is ``harmony-infra``; the import name is
``harmony_py``. This module stays light: it imports no SSH, Docker or
Kubernetes library.
"""

from typing import TYPE_CHECKING

# Eager, unlike the names below: ``apply_lock`` is also the name of its module, and importing
# ``harmony_py.apply_lock`` (the CLI does) would otherwise leave the module where the function belongs.
from .apply_lock import apply_lock
from .lazy_exports import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from .blocking import run_apply, run_plan
    from .capability_check import capability_gaps, provides
    from .errors import (
        ApplyLockedError,
        CommandFailedError,
        HarmonyError,
        MemberError,
        MembersFailedError,
        MissingCapabilityError,
        NoProjectRootError,
        OutputTypeError,
        ScoreFileError,
        ScoreValueError,
        TopologyNotReadyError,
        describe,
    )
    from .events import Event, EventHandler
    from .group import TopologyGroup
    from .maestro import Maestro
    from .outcome import InterpretStatus, Outcome
    from .outputs import (
        KNOWN_AFTER_APPLY,
        Produces,
        ProducingInterpret,
        Ref,
        UnresolvedRefError,
        resolved,
    )
    from .project import set_project_root
    from .report import Phase, RunReport, ScoreReport, ScoreState
    from .score import CompositeScore, ConvergingInterpret, Interpret, Score
    from .topology import Topology, TopologyReport
    from .values import Change, ChangeAction, Secret

# Each other public name is imported from its module on first use (PEP 562), so that
# ``import harmony_py`` and ``python -m harmony_py --help`` load no event loop, Maestro or
# capability check until a command needs them (adr/0106).
_LAZY = {
    "run_apply": ".blocking",
    "run_plan": ".blocking",
    "capability_gaps": ".capability_check",
    "provides": ".capability_check",
    "ApplyLockedError": ".errors",
    "CommandFailedError": ".errors",
    "HarmonyError": ".errors",
    "MemberError": ".errors",
    "MembersFailedError": ".errors",
    "MissingCapabilityError": ".errors",
    "NoProjectRootError": ".errors",
    "OutputTypeError": ".errors",
    "ScoreFileError": ".errors",
    "ScoreValueError": ".errors",
    "TopologyNotReadyError": ".errors",
    "describe": ".errors",
    "Event": ".events",
    "EventHandler": ".events",
    "TopologyGroup": ".group",
    "Maestro": ".maestro",
    "InterpretStatus": ".outcome",
    "Outcome": ".outcome",
    "KNOWN_AFTER_APPLY": ".outputs",
    "Produces": ".outputs",
    "ProducingInterpret": ".outputs",
    "Ref": ".outputs",
    "UnresolvedRefError": ".outputs",
    "resolved": ".outputs",
    "set_project_root": ".project",
    "Phase": ".report",
    "RunReport": ".report",
    "ScoreReport": ".report",
    "ScoreState": ".report",
    "CompositeScore": ".score",
    "ConvergingInterpret": ".score",
    "Interpret": ".score",
    "Score": ".score",
    "Topology": ".topology",
    "TopologyReport": ".topology",
    "Change": ".values",
    "ChangeAction": ".values",
    "Secret": ".values",
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = _lazy_exports(globals(), _LAZY)

__version__ = "0.1.0"
"""This release's version; the one place it is written (pyproject.toml reads it from here)."""

DISTRIBUTION = "harmony-infra"
"""The name to install from the package index (``pip install harmony-infra``); not ``harmony-py``, another project."""

__all__ = [
    "KNOWN_AFTER_APPLY",
    "ApplyLockedError",
    "Change",
    "ChangeAction",
    "CommandFailedError",
    "CompositeScore",
    "ConvergingInterpret",
    "Event",
    "EventHandler",
    "HarmonyError",
    "Interpret",
    "InterpretStatus",
    "Maestro",
    "MemberError",
    "MembersFailedError",
    "MissingCapabilityError",
    "NoProjectRootError",
    "Outcome",
    "OutputTypeError",
    "Phase",
    "Produces",
    "ProducingInterpret",
    "Ref",
    "RunReport",
    "Score",
    "ScoreFileError",
    "ScoreReport",
    "ScoreState",
    "ScoreValueError",
    "Secret",
    "Topology",
    "TopologyGroup",
    "TopologyNotReadyError",
    "TopologyReport",
    "UnresolvedRefError",
    "DISTRIBUTION",
    "__version__",
    "apply_lock",
    "capability_gaps",
    "describe",
    "provides",
    "resolved",
    "run_apply",
    "run_plan",
    "set_project_root",
]
