"""A file fetched from a URL and verified against its SHA-256 before it replaces anything."""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import anyio.to_thread

from capabilities.command_runner import CommandRunner, CommandRunnerService, FileKind
from harmony_py.errors import CommandFailedError, HarmonyError, ScoreValueError
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction, Secret

from .validate import absolute_path, octal, permission_mode

Fetcher = Literal["host", "controller"]
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SCHEMES = ("http", "https")
_FIND_TOOL = "command -v curl || command -v wget"


@dataclass(frozen=True)
class DownloadScore(Score[CommandRunner]):
    """The file at ``path`` is the one at ``url`` whose SHA-256 is ``sha256``.

    The plan compares the digest of what is at ``path`` (``sha256sum`` on the
    host), so nothing is downloaded while the file is right. Apply fetches
    into a temporary file beside ``path`` and checks the digest before
    renaming it over ``path``: a mismatch fails, naming both digests, and
    leaves the old file as it was. ``fetch="host"`` downloads on the host with
    curl or wget, whichever it has (the URL reaches them on standard input,
    never on a command line); ``fetch="controller"`` downloads here and
    uploads. ``url`` may be a :class:`Secret` (a token in it): plans then say
    ``(secret URL)``.

    Example::

        DownloadScore("https://example.org/tool-1.2.tar.gz", "/opt/tool-1.2.tar.gz",
                      sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    """

    url: str | Secret
    path: str
    sha256: str
    mode: int = 0o644
    fetch: Fetcher = "host"
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("DownloadScore", "path", self.path))
        where = f"DownloadScore({self.path})"
        if not isinstance(self.url, (str, Secret)):
            raise ScoreValueError(f"{where}.url must be a str or Secret, got {type(self.url).__name__}")
        _check_url(where, self.url)
        if not isinstance(self.sha256, str) or not _SHA256.fullmatch(self.sha256.lower()):
            raise ScoreValueError(f"{where}.sha256 must be 64 hexadecimal digits, got {self.sha256!r}")
        object.__setattr__(self, "sha256", self.sha256.lower())
        permission_mode(where, "mode", self.mode)
        if self.fetch not in ("host", "controller"):
            raise ScoreValueError(f"{where}.fetch must be 'host' or 'controller', got {self.fetch!r}")
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)) or self.timeout_s <= 0:
            raise ScoreValueError(f"{where}.timeout_s must be a positive number of seconds, got {self.timeout_s!r}")

    @property
    def name(self) -> str:
        return f"DownloadScore({self.path})"

    @property
    def shown_url(self) -> str:
        return "(secret URL)" if isinstance(self.url, Secret) else self.url

    @property
    def real_url(self) -> str:
        return self.url.reveal() if isinstance(self.url, Secret) else self.url

    def interpret(self) -> DownloadInterpret:
        return DownloadInterpret(self)


def _check_url(where: str, url: str | Secret) -> None:
    text = url.reveal() if isinstance(url, Secret) else url
    shown = "the secret URL" if isinstance(url, Secret) else repr(text)
    if any(character.isspace() or ord(character) < 0x20 for character in text):
        raise ScoreValueError(f"{where}.url: {shown} contains white space or a control character")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in _SCHEMES or not parts.netloc:
        raise ScoreValueError(f"{where}.url: {shown} is not an http:// or https:// URL")


class DownloadInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: DownloadScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        path, wanted = self.score.path, self.score.sha256
        found = await runner.stat(path)
        what = f"download {self.score.shown_url} (sha256 {wanted[:12]}…)"
        if found is None:
            return [Change(ChangeAction.CREATE, path, f"{what} to {path}, mode {octal(self.score.mode)}")]
        if found.kind is not FileKind.FILE:
            raise HarmonyError(f"{path} is a {found.kind.value}, not a file; harmony_py will not replace it: remove or move it first")
        current = await sha256_on_host(runner, path)
        if current != wanted:
            summary = f"replace {path} (sha256 {current[:12]}… -> {wanted[:12]}…): {what}"
            return [Change(ChangeAction.UPDATE, path, summary, attribute="content")]
        if found.mode != self.score.mode:
            summary = f"mode of {path} {octal(found.mode)} -> {octal(self.score.mode)}"
            return [Change(ChangeAction.UPDATE, path, summary, attribute="mode")]
        return []

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        if all(change.attribute == "mode" for change in changes):
            await runner.set_mode(self.score.path, self.score.mode)
        elif self.score.fetch == "controller":
            await self._from_controller(runner)
        else:
            await self._on_host(runner)

    async def _from_controller(self, runner: CommandRunnerService) -> None:
        content = await anyio.to_thread.run_sync(self._fetch_here, abandon_on_cancel=True)
        got = hashlib.sha256(content).hexdigest()
        if got != self.score.sha256:
            raise self._mismatch(got)
        await runner.write_file(self.score.path, content, mode=self.score.mode)

    def _fetch_here(self) -> bytes:
        try:
            with urllib.request.urlopen(self.score.real_url, timeout=self.score.timeout_s) as answer:
                content: bytes = answer.read()
                return content
        except (urllib.error.URLError, OSError) as exc:
            raise HarmonyError(f"could not download {self.score.shown_url} on the controller: {_reason(exc)}") from None

    async def _on_host(self, runner: CommandRunnerService) -> None:
        tool = await _download_tool(runner)
        temporary = await _temporary_beside(runner, self.score.path)
        try:
            await self._download(runner, tool, temporary)
            got = await sha256_on_host(runner, temporary)
            if got != self.score.sha256:
                raise self._mismatch(got)
            await runner.set_mode(temporary, self.score.mode)
            await _checked(runner, ("mv", "-f", "--", temporary, self.score.path))
        finally:
            await runner.run(("rm", "-f", "--", temporary))

    async def _download(self, runner: CommandRunnerService, tool: str, temporary: str) -> None:
        url = self.score.real_url
        if tool.endswith("curl"):
            # curl reads its options from standard input (-K -), so the URL is on no command line.
            quoted = url.replace("\\", "\\\\").replace('"', '\\"')
            argv: tuple[str, ...] = (tool, "-fsSL", "--proto", "=http,https", "-o", temporary, "-K", "-")
            stdin = f'url = "{quoted}"\n'.encode()
        else:
            argv, stdin = (tool, "-q", "-O", temporary, "-i", "-"), f"{url}\n".encode()
        result = await runner.run(argv, stdin=stdin, timeout_s=self.score.timeout_s)
        if not result.ok:
            said = result.stderr_text.strip().replace(url, self.score.shown_url) or f"exit status {result.exit_status}"
            raise HarmonyError(f"could not download {self.score.shown_url} on the host with {tool}: {said}")

    def _mismatch(self, got: str) -> HarmonyError:
        return HarmonyError(
            f"{self.score.shown_url}: sha256 mismatch, expected {self.score.sha256}, got {got}; "
            f"{self.score.path} was left as it was"
        )


async def sha256_on_host(runner: CommandRunnerService, path: str) -> str:
    result = await _checked(runner, ("sha256sum", "--", path))
    return result.partition(" ")[0].lstrip("\\")


async def _download_tool(runner: CommandRunnerService) -> str:
    result = await runner.run(("sh", "-c", _FIND_TOOL))
    tool = result.stdout_text.strip().splitlines()
    if not result.ok or not tool:
        raise HarmonyError("the host has neither curl nor wget; install one, or use DownloadScore(fetch='controller')")
    return tool[0]


async def _temporary_beside(runner: CommandRunnerService, path: str) -> str:
    directory, _, base = path.rpartition("/")
    template = f"{directory or ''}/.{base}.XXXXXX.harmony-download"
    return (await _checked(runner, ("mktemp", "--", template))).strip()


async def _checked(runner: CommandRunnerService, argv: Sequence[str]) -> str:
    result = await runner.run(argv)
    if not result.ok:
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
    return result.stdout_text


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__
