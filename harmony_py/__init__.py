"""harmony_py: infrastructure as type-checked Python.

Scores (desired state) are applied to topologies (where they run) by a
:class:`Maestro`. A score names the capability it needs; mypy proves the
topology has it, and the maestro checks it again at run time.

This module stays light: it imports no SSH, Docker or Kubernetes library.
"""

from .capability_check import capability_gaps
from .errors import (
    CommandFailedError,
    HarmonyError,
    MemberError,
    MembersFailedError,
    MissingCapabilityError,
    ScoreFileError,
    ScoreValueError,
    TopologyNotReadyError,
    describe,
)
from .events import Event, EventHandler
from .group import TopologyGroup
from .maestro import Maestro
from .outcome import Change, ChangeAction, InterpretStatus, Outcome
from .report import Phase, RunReport, ScoreReport, ScoreState
from .outputs import KNOWN_AFTER_APPLY, Produces, ProducingInterpret, Ref, UnresolvedRefError, resolved
from .score import CompositeScore, ConvergingInterpret, Interpret, Score
from .secret import Secret
from .topology import Topology, TopologyReport

__version__ = "0.1.0"

__all__ = [
    "KNOWN_AFTER_APPLY",
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
    "Outcome",
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
    "capability_gaps",
    "describe",
    "resolved",
]
