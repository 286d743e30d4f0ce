"""An apt repository: a deb822 sources file and the key that signs it, under /etc/apt/keyrings/."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from capabilities.command_runner import CommandRunner, CommandRunnerService
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction

from .files import FileScore

SOURCES_DIRECTORY = "/etc/apt/sources.list.d"
KEYRINGS_DIRECTORY = "/etc/apt/keyrings"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./+~-]*")
_ARMOR = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_SCHEMES = ("http", "https", "file")
_APT_ENV: Mapping[str, str] = {"DEBIAN_FRONTEND": "noninteractive"}


@dataclass(frozen=True)
class AptRepositoryScore(Score[CommandRunner]):
    """The apt repository ``repository`` at ``uri``, trusted only with the key ``signed_by``.

    Two files: the key in ``/etc/apt/keyrings/<repository>.asc`` (an
    ASCII-armored key, as text) or ``.gpg`` (a binary keyring, as bytes), and
    ``/etc/apt/sources.list.d/<repository>.sources`` in deb822 form whose
    ``Signed-By`` names that key, so the key signs this repository and no
    other. When they change, apply refreshes the package lists of this
    repository alone (``update=True``); if apt cannot read it (unreachable,
    unsigned, wrong key) the sources file is put back as it was and the apply
    fails with apt's words. A flat repository has a ``suite`` ending in ``/``
    and no components.

    Example::

        AptRepositoryScore("nodesource", "https://deb.nodesource.com/node_20.x", "nodistro", ["main"],
                           signed_by=Path("nodesource.asc").read_text())
    """

    repository: str
    uri: str
    suite: str
    components: Sequence[str]
    signed_by: str | bytes
    architectures: Sequence[str] | None = None
    update: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.repository, str) or not _NAME.fullmatch(self.repository):
            raise ScoreValueError(f"AptRepositoryScore.repository must be a name of letters, digits, '_', '.', '-', got {self.repository!r}")
        where = f"AptRepositoryScore({self.repository})"
        if not isinstance(self.uri, str) or any(c.isspace() for c in self.uri):
            raise ScoreValueError(f"{where}.uri must be a URI without spaces, got {self.uri!r}")
        parts = urllib.parse.urlsplit(self.uri)
        if parts.scheme not in _SCHEMES or not (parts.netloc or parts.scheme == "file"):
            raise ScoreValueError(f"{where}.uri must be an http://, https:// or file: URI, got {self.uri!r}")
        if not isinstance(self.suite, str) or not _WORD.fullmatch(self.suite.rstrip("/") or "x"):
            raise ScoreValueError(f"{where}.suite must be a suite or codename (e.g. 'bookworm', or './' for a flat repository), got {self.suite!r}")
        object.__setattr__(self, "components", _words(where, "components", self.components))
        if self.suite.endswith("/") and self.components:
            raise ScoreValueError(f"{where}: a flat repository (suite {self.suite!r}) has no components")
        if not self.suite.endswith("/") and not self.components:
            raise ScoreValueError(f"{where}.components must name at least one component (e.g. ['main'])")
        if self.architectures is not None:
            object.__setattr__(self, "architectures", _words(where, "architectures", self.architectures))
        if isinstance(self.signed_by, str):
            if _ARMOR not in self.signed_by:
                raise ScoreValueError(f"{where}.signed_by: a key given as text must be ASCII-armored ({_ARMOR})")
        elif not isinstance(self.signed_by, bytes) or not self.signed_by:
            raise ScoreValueError(f"{where}.signed_by must be an armored key (str) or a binary keyring (bytes)")
        if not isinstance(self.update, bool):
            raise ScoreValueError(f"{where}.update must be True or False, got {self.update!r}")

    @property
    def name(self) -> str:
        return f"AptRepositoryScore({self.repository})"

    @property
    def key_path(self) -> str:
        suffix = "asc" if isinstance(self.signed_by, str) else "gpg"
        return f"{KEYRINGS_DIRECTORY}/{self.repository}.{suffix}"

    @property
    def sources_path(self) -> str:
        return f"{SOURCES_DIRECTORY}/{self.repository}.sources"

    def sources(self) -> str:
        fields = [("Types", "deb"), ("URIs", self.uri), ("Suites", self.suite)]
        if self.components:
            fields.append(("Components", " ".join(self.components)))
        if self.architectures:
            fields.append(("Architectures", " ".join(self.architectures)))
        fields.append(("Signed-By", self.key_path))
        return "".join(f"{key}: {value}\n" for key, value in fields)

    def files(self) -> tuple[FileScore, FileScore]:
        return FileScore(self.key_path, self.signed_by, mode=0o644), FileScore(self.sources_path, self.sources(), mode=0o644)

    def interpret(self) -> AptRepositoryInterpret:
        return AptRepositoryInterpret(self)


def _words(where: str, field: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ScoreValueError(f"{where}.{field} must be a list of names, got {value!r}")
    for word in value:
        if not isinstance(word, str) or not _WORD.fullmatch(word):
            raise ScoreValueError(f"{where}.{field}: {word!r} is not a name (letters, digits, '_', '.', '/', '+', '~', '-')")
    return tuple(value)


class AptRepositoryInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: AptRepositoryScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        topology.command_runner()
        key, sources = self.score.files()
        # A key's diff is lines of base64: the summary says enough.
        changes = [replace(change, diff=None) for change in await key.interpret().plan(topology)]
        changes += await sources.interpret().plan(topology)
        if changes and self.score.update:
            summary = f"update the package lists of {self.score.repository}"
            changes.append(Change(ChangeAction.RUN, self.score.sources_path, summary, attribute="lists"))
        return changes

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        key, sources = self.score.files()
        if await runner.stat(KEYRINGS_DIRECTORY) is None:
            await runner.make_directory(KEYRINGS_DIRECTORY, mode=0o755)
        previous = await runner.read_file(self.score.sources_path)
        for file in (key, sources):
            interpret = file.interpret()
            pending = await interpret.plan(topology)
            if pending:
                await interpret.converge(topology, pending)
        if not self.score.update:
            return
        problem = await self._update_lists(runner)
        if problem is None:
            return
        # apt cannot use the repository as written: leave the sources as they were.
        if previous is None:
            await runner.run(("rm", "-f", "--", self.score.sources_path))
        else:
            await runner.write_file(self.score.sources_path, previous, mode=0o644)
        raise HarmonyError(f"apt cannot use repository {self.score.repository} ({self.score.uri}): {problem}")

    async def _update_lists(self, runner: CommandRunnerService) -> str | None:
        """Refresh the lists of this repository only; apt's complaint, or ``None`` when it succeeded."""
        argv = (
            "apt-get", "-q", "--error-on=any",
            "-o", f"Dir::Etc::SourceList={self.score.sources_path}",
            "-o", "Dir::Etc::SourceParts=-",
            "-o", "APT::Get::List-Cleanup=0",
            "update",
        )  # fmt: skip
        result = await runner.run(argv, env=_APT_ENV, timeout_s=600)
        if result.ok:
            return None
        said = [line for line in (result.stdout_text + result.stderr_text).splitlines() if line.startswith(("E:", "W:", "Err:"))]
        return " ".join(said[:3]) or f"apt-get update exited {result.exit_status}"
