"""Files rendered from Jinja2 templates on the controller, then converged like FileScore.

The environment is strict and closed (adr/0018): ``StrictUndefined`` (a
missing variable is an error, not an empty string), no autoescaping (these are
configuration files, not HTML), a sandbox (no access to Python internals from
the template), and no loader, hence no ``include`` or ``extends``, unless a
``loader_root`` directory on the controller is given.

A :class:`Secret` anywhere in the context is rendered twice: with its value
for the file, and as ``********`` for the plan's diff. Lines of the file on
the host that hold a secret are masked the same way before diffing (and, in a
file others cannot read, lines the template would not write are hidden), so
the diff shows which lines change without showing any secret.
"""

from __future__ import annotations

import functools

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import jinja2
import jinja2.sandbox

from capabilities.command_runner import CommandRunner, FileKind
from harmony_py.diff import unified_diff
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.observations import observed_digest
from harmony_py.refs import find_refs
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import MASK, Change, ChangeAction, Secret

from .host_names import WantedOwner, optional_account_name, ownership
from .validate import absolute_path, octal, permission_mode

DEFAULT_MODE = 0o644
DEFAULT_SECRET_MODE = 0o600
_OTHERS_READ = 0o004


@dataclass(frozen=True)
class TemplateScore(Score[CommandRunner]):
    """A file whose content is ``template`` (Jinja2 source text) rendered with ``context``.

    Rendered on the controller; the file is then converged exactly as
    :class:`FileScore` does (atomic write, ``mode``), plus ``owner``/``group``
    (names resolved on the host). A template that does not compile, or uses a
    variable the context lacks, is refused when the score is made. With any
    :class:`Secret` in the context the mode defaults to 0600 and the plan's
    diff shows ``********`` in its place. ``loader_root`` lets the template
    ``include``/``extend`` files under that controller directory.

    Example::

        TemplateScore("/etc/shop/app.ini", "port = {{ port }}\\npassword = {{ password }}\\n",
                      {"port": 8080, "password": Secret("s3cr3t")}, owner="root", group="shop")
    """

    path: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    loader_root: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("TemplateScore", "path", self.path))
        where = f"TemplateScore({self.path})"
        if not isinstance(self.template, str):
            raise ScoreValueError(f"{where}.template must be the template's text (str), got {type(self.template).__name__}")
        if not isinstance(self.context, Mapping) or not all(isinstance(key, str) for key in self.context):
            raise ScoreValueError(f"{where}.context must be a mapping of variable names to values")
        object.__setattr__(self, "context", MappingProxyType(dict(self.context)))
        if self.mode is not None:
            permission_mode(where, "mode", self.mode)
        optional_account_name(where, "owner", self.owner)
        optional_account_name(where, "group", self.group)
        if self.loader_root is not None:
            object.__setattr__(self, "loader_root", absolute_path(where, "loader_root", self.loader_root))
        compiled = self._compiled()
        if not any(True for _ in find_refs(self.context)):
            # Values known after apply are checked once the Maestro has them (it builds the score again).
            _render(compiled, _revealed(self.context), where, self.secret_values())

    def __hash__(self) -> int:
        # The generated hash would cover the context mapping, which is unhashable.
        return hash((self.path, self.template))

    @property
    def name(self) -> str:
        return f"TemplateScore({self.path})"

    def observed_paths(self) -> tuple[str, ...]:
        """What its plan observes, for a batched observation (harmony_py/observations.py)."""
        return (self.path,) if isinstance(self.path, str) else ()

    @property
    def has_secrets(self) -> bool:
        return _holds_secret(self.context)

    @property
    def desired_mode(self) -> int:
        if self.mode is not None:
            return self.mode
        return DEFAULT_SECRET_MODE if self.has_secrets else DEFAULT_MODE

    def rendered(self) -> str:
        """The file's content, secrets revealed."""
        return _render(self._compiled(), _revealed(self.context), self.name, self.secret_values())

    def shown(self) -> str:
        """The file's content as plans show it: every secret ``********``."""
        return _render(self._compiled(), _masked(self.context), self.name, self.secret_values())

    def secret_values(self) -> list[str]:
        return [secret.reveal() for secret in _secrets(self.context) if secret.reveal()]

    def _compiled(self) -> jinja2.Template:
        try:
            return _compiled(self.template, self.loader_root)
        except jinja2.TemplateSyntaxError as exc:
            raise ScoreValueError(f"{self.name}.template, line {exc.lineno}: {exc.message}") from None

    def interpret(self) -> TemplateInterpret:
        return TemplateInterpret(self)


@functools.lru_cache(maxsize=128)
def _compiled(source: str, loader_root: str | None) -> jinja2.Template:
    """The template compiled once per source and loader: a fleet's hosts share it (compiling costs about 2 ms).

    A compiled template holds no context, and its environment re-reads an included file that changed.
    """
    loader = None if loader_root is None else jinja2.FileSystemLoader(loader_root)
    environment = jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True, loader=loader
    )
    return environment.from_string(source)


def _render(template: jinja2.Template, context: Mapping[str, Any], where: str, secrets: Sequence[str]) -> str:
    try:
        return template.render(context)
    except jinja2.TemplateError as exc:
        # UndefinedError, TemplateNotFound, SecurityError (the sandbox): one line each.
        problem = f"{type(exc).__name__}: {exc.message or exc}"
    except TypeError as exc:
        if "no loader" not in str(exc):
            problem = f"{type(exc).__name__}: {exc}"
        else:
            problem = "it includes, imports or extends another template, which needs loader_root="
    except Exception as exc:  # an expression failed (a filter, arithmetic): the template's fault, said in one line
        problem = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        problem = problem.replace(secret, MASK)
    raise ScoreValueError(f"{where}: the template cannot be rendered ({problem})")


def _walk(value: Any, leaf: Any) -> Any:
    if isinstance(value, Secret):
        return leaf(value)
    if isinstance(value, Mapping):
        return {key: _walk(item, leaf) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(item, leaf) for item in value]
    return value


def _revealed(context: Mapping[str, Any]) -> dict[str, Any]:
    revealed: dict[str, Any] = _walk(context, lambda secret: secret.reveal())
    return revealed


def _masked(context: Mapping[str, Any]) -> dict[str, Any]:
    masked: dict[str, Any] = _walk(context, lambda _secret: MASK)
    return masked


def _secrets(value: Any) -> list[Secret]:
    found: list[Secret] = []
    _walk(value, found.append)
    return found


def _holds_secret(value: Any) -> bool:
    return bool(_secrets(value))


HIDDEN_LINE = "(line hidden: the file is not world-readable)"


def masked_current(current: str, shown_desired: str, secrets: Sequence[str], *, hide_others: bool) -> str:
    """The host's text as a plan may show it: no secret in it.

    Known secret values are masked; a line shaped like a secret line of the
    desired content (that line with ``********`` standing for any text) is
    shown as that masked line, which covers a secret changed since the file
    was written, whose old value harmony_py no longer knows. With
    ``hide_others`` (a file others cannot read), any other line that is not
    also a line of the desired content is hidden: it may be someone's secret.
    """
    for value in secrets:
        current = current.replace(value, MASK)
    wanted = shown_desired.split("\n")
    patterns = [
        (re.compile(".*".join(re.escape(part) for part in line.split(MASK)) + r"\Z", re.DOTALL), line)
        for line in dict.fromkeys(wanted)
        if MASK in line
    ]
    known = set(wanted)
    lines = current.split("\n")
    for index, line in enumerate(lines):
        if line in known:
            continue
        masked = next((masked for pattern, masked in patterns if pattern.match(line)), None)
        if masked is not None:
            lines[index] = masked
        elif hide_others:
            lines[index] = HIDDEN_LINE
    return "\n".join(lines)


class TemplateInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: TemplateScore) -> None:
        self.score = score
        self.owner = WantedOwner(score.owner, score.group)

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        path, mode = self.score.path, self.score.desired_mode
        desired = self.score.rendered().encode()
        found = await runner.stat(path)
        if found is None:
            summary = f"create file {path} ({len(desired)} bytes, mode {octal(mode)})"
            changes = [Change(ChangeAction.CREATE, path, summary, unified_diff(path, b"", self.score.shown().encode()))]
            return changes + await self.owner.plan(runner, path, None)
        if found.kind is not FileKind.FILE:
            raise HarmonyError(f"{path} is a {found.kind.value}, not a file; harmony_py will not replace it: remove or move it first")
        changes = []
        known = observed_digest(runner, path)
        unchanged = known is not None and found.size == len(desired) and known == hashlib.sha256(desired).hexdigest()
        current = desired if unchanged else await runner.read_file(path) or b""  # read back only to show a diff
        if current != desired:
            changes.append(self._content_change(current, desired, others_read=bool(found.mode & _OTHERS_READ)))
        if found.mode != mode:
            changes.append(Change(ChangeAction.UPDATE, path, f"mode of {path} {octal(found.mode)} -> {octal(mode)}", attribute="mode"))
        if self.owner.wanted:  # who owns it is asked only when the score names an owner or a group
            changes += await self.owner.plan(runner, path, await ownership(runner, path))
        return changes

    def _content_change(self, current: bytes, desired: bytes, *, others_read: bool) -> Change:
        path = self.score.path
        summary = f"update content of {path} ({len(current)} -> {len(desired)} bytes)"
        try:
            text = current.decode("utf-8")
        except UnicodeDecodeError:
            return Change(ChangeAction.UPDATE, path, f"{summary}; binary content", attribute="content")
        shown = self.score.shown()
        text = masked_current(text, shown, self.score.secret_values(), hide_others=not others_read)
        diff = unified_diff(path, text.encode(), shown.encode())
        if diff is None or not diff:
            # Only secret values differ: the masked texts are alike.
            return Change(ChangeAction.UPDATE, path, f"{summary}; only secret values change", attribute="content")
        return Change(ChangeAction.UPDATE, path, summary, diff, "content")

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        path, mode = self.score.path, self.score.desired_mode
        ids = await self.owner.resolve(runner)  # an unknown name fails before anything is written
        attributes = {change.attribute for change in changes}
        if attributes & {"", "content"}:
            await runner.write_file(path, self.score.rendered().encode(), mode=mode)
        elif "mode" in attributes:
            await runner.set_mode(path, mode)
        await self.owner.set(runner, path, ids, mode=mode)

