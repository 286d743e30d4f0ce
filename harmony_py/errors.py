"""The short hierarchy of errors harmony_py raises on purpose, and how any error is described.

Each carries a message written for the person running the tool: it names the
thing that is wrong and, where there is one, what to do about it.

    HarmonyError
    ├── ScoreValueError          a score built with a value it cannot work with
    │   └── ManifestError          Kubernetes manifests that are not valid objects
    ├── ScoreFileError           a score file that could not be loaded
    ├── MissingCapabilityError   scores whose capability the topology lacks
    ├── TopologyNotReadyError    a topology that could not be prepared or reached
    ├── CommandFailedError       a command that exited non-zero
    ├── OutputMissingError       a producing score that applied but gave no output
    ├── OutputTypeError          ... or gave an output of another type than it declares
    ├── UpdateFailedError        a rolling update that could not be completed
    │   └── UpdateRolledBackError  ... and the previous version was put back
    ├── MemberError              what failed on one member of a replicated topology
    ├── MembersFailedError       several members failed at once: one line each
    ├── NoProjectRootError       no project root to keep state in, and none given
    ├── UnsafeStateError         project state others could read or change
    ├── ApplyLockedError         another apply of the same project is running
    ├── OpenFilesLimitError      more hosts at once than the open-files limit allows
    └── CannotRenderError        a score with no form in the format ``render`` writes

The capabilities' errors (``capabilities/errors.py``) and the adapters'
(``topologies/errors.py``) continue this tree. A leaf module: it imports
nothing else of the project, so every layer can raise these.

:func:`describe` turns any exception into that one readable line (a line per
cause when several things failed concurrently); the engine, the fan-out and
the CLI all use it, so an ``ExceptionGroup``'s "unhandled errors in a
TaskGroup" never reaches a person.
"""

from __future__ import annotations

from collections.abc import Sequence


class HarmonyError(Exception):
    """Base of every error harmony_py raises deliberately."""


class ScoreValueError(HarmonyError, ValueError):
    """A score was built with a value it cannot work with."""


class MissingCapabilityError(HarmonyError):
    """One or more scores need a capability the topology does not provide."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class TopologyNotReadyError(HarmonyError):
    """The topology could not be prepared or reached."""


class CommandFailedError(HarmonyError):
    """A command run on a topology exited non-zero where success was needed."""

    def __init__(self, argv: Sequence[str], exit_status: int, stderr: str, *, shown: str | None = None) -> None:
        """``shown``: the command as its user wrote it (secrets masked), named instead of ``argv[0]``."""
        self.argv = tuple(argv)
        self.exit_status = exit_status
        self.stderr = stderr
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
        super().__init__(f"command {shown if shown is not None else self.argv[0]!r} exited {exit_status}: {detail}")


class ManifestError(ScoreValueError):
    """One or more manifests are not valid Kubernetes objects; nothing was sent."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid manifests:\n  " + "\n  ".join(self.problems))


class ScoreFileError(HarmonyError):
    """A score file could not be loaded into a maestro."""


class OutputMissingError(HarmonyError):
    """A producing score applied but could not say what its output is."""


class OutputTypeError(HarmonyError):
    """A producing score's interpret gave an output that is not of the type the score declares."""


class UpdateFailedError(HarmonyError):
    """A rolling update could not be completed."""


class UpdateRolledBackError(UpdateFailedError):
    """A rolling update failed and the previous version was put back."""


class MemberError(HarmonyError):
    """``cause`` happened on the member labelled ``label`` (``primary``, ``site[0]``, a host).

    Every line of the cause's description is prefixed with the label, so
    nested members read ``database: primary: ...``.
    """

    def __init__(self, label: str, cause: BaseException) -> None:
        self.label = label
        self.cause = cause
        self.__cause__ = cause
        super().__init__(prefixed(label, describe(cause)))


class MembersFailedError(HarmonyError):
    """Several members failed in one concurrent step; the message has one line per member."""

    def __init__(self, errors: Sequence[MemberError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


class NoProjectRootError(HarmonyError):
    """harmony_py needs a place for project state and was not told where the project is."""


class UnsafeStateError(HarmonyError):
    """harmony_py's state is somewhere others could read or change it; nothing was read from it."""


class ApplyLockedError(HarmonyError):
    """Another apply of the same project is running; nothing was planned or applied by this one."""


class OpenFilesLimitError(HarmonyError):
    """More hosts were asked to run at once than the process's open-files limit (RLIMIT_NOFILE) allows."""


class CannotRenderError(HarmonyError):
    """A score has no form in the format ``render`` writes; the message says why."""


def one_error(errors: Sequence[MemberError]) -> HarmonyError:
    """The error to raise for the members that failed: the one, or all of them together."""
    return errors[0] if len(errors) == 1 else MembersFailedError(errors)


def describe(exc: BaseException) -> str:
    """``exc`` as a person reads it: one line per cause, no traceback.

    An exception group (tasks that failed concurrently) is unwrapped
    recursively into its leaves, each described on its own line, repeated
    lines once. A deliberate error is its message; anything else is prefixed
    with its type, since its message alone is often a bare value.
    """
    if isinstance(exc, BaseExceptionGroup):
        lines: list[str] = []
        for leaf in exc.exceptions:
            for line in describe(leaf).splitlines():
                if line not in lines:
                    lines.append(line)
        return "\n".join(lines) or type(exc).__name__
    text = str(exc).strip()
    if isinstance(exc, HarmonyError):
        return text or type(exc).__name__
    if isinstance(exc, TimeoutError) and not text:
        return "timed out"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_deliberate(exc: BaseException) -> bool:
    """Whether every cause in ``exc`` is a :class:`HarmonyError` (else some part is an internal error)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_deliberate(leaf) for leaf in exc.exceptions)
    return isinstance(exc, HarmonyError)


def prefixed(label: str, text: str) -> str:
    """``text`` with ``label: `` in front of each of its lines."""
    return "\n".join(f"{label}: {line}" for line in text.splitlines() or [""])
