"""The short hierarchy of errors harmony_py raises on purpose.

Each carries a message written for the person running the tool: it names the
thing that is wrong and, where there is one, what to do about it.
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


class ScoreFileError(HarmonyError):
    """A score file could not be loaded into a maestro."""
