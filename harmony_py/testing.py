"""A recording fake of the CommandRunner capability: specify what a score plans and does, without a host.

:class:`FakeHost` is a topology whose ``command_runner()`` answers from a
state you give it (files with content, mode and owner; users and groups;
what commands print) and records every call. A test then states, as pyinfra
specifies its operations, "given this observed state, the plan has these
changes" and "apply issues these calls"::

    host = FakeHost(
        files={"/etc/app.conf": FakeFile("port = 80\\n", owner="root")},
        users=[FakeUser("shop", 1000, 1000)], groups=[FakeGroup("shop", 1000)],
    )
    score = FileScore("/etc/app.conf", "port = 80\\n", owner="shop")
    changes = await score.interpret().plan(host)
    assert [c.summary for c in changes] == ["owner of /etc/app.conf root -> shop"]
    assert host.changes() == []              # a plan only observes
    await score.interpret().apply(host)
    assert host.changes() == ["chown -h 1000 -- /etc/app.conf"]

What the fake knows by itself, from its state: the file primitives
(``stat``, ``read_file``, ``write_file``, ``set_mode``, ``make_directory``,
``resolve``, ``digest``, which change the state as a host would), and the
commands the host scores use to observe names and ownership: ``getent
passwd|group [key]``, ``stat -c FORMAT -- PATH...`` (``%u``, ``%g``),
``readlink -- PATH``, ``sha256sum -- PATH``, ``find PATH -mindepth 1
-maxdepth 1 -print -quit``; and, changing the state as they would, ``chown -h
SPEC -- PATH``, ``rm -f|-rf -- PATH...``, ``ln -sfn -- TARGET LINK`` and ``mv
-f -- FROM TO``. Every other command is
answered from ``answers`` (keyed by the exact argv; a list is answered in
order, its last answer repeating), which count as observations: what the host
says when asked; or else by ``default``, which counts as a change. Without a
default, an unexpected command fails the test, naming it.

The fake never runs anything; it promises the shape of the
:class:`~capabilities.command_runner.CommandRunnerService` Protocol (mypy and
:func:`harmony_py.provides` check it), not a real host's behaviour. Keep the
tests against real hosts; these are the fast tier beside them.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from capabilities.command_runner import CommandResult, FileKind, FileStat
from capabilities.errors import FileAccessError

from .topology import TopologyReport

__all__ = [
    "Answer",
    "Call",
    "FakeCommandRunner",
    "FakeDirectory",
    "FakeFile",
    "FakeGroup",
    "FakeHost",
    "FakeLink",
    "FakeSpecial",
    "FakeUser",
    "UnexpectedCommandError",
]

_GETENT_NOT_FOUND = 2
_MAX_LINKS = 40


class UnexpectedCommandError(AssertionError):
    """A score ran a command the fake has no answer for (and no ``default``): the test fails, naming it."""


@dataclass(frozen=True)
class Answer:
    """What a command prints and how it exits."""

    stdout: str | bytes = b""
    exit_status: int = 0
    stderr: str | bytes = b""

    def result(self, argv: tuple[str, ...]) -> CommandResult:
        return CommandResult(argv, self.exit_status, _bytes(self.stdout), _bytes(self.stderr))


AnswerLike = Answer | str | int
"""An :class:`Answer`, or just its stdout (exit status 0), or just its exit status (no output)."""


@dataclass(frozen=True)
class FakeUser:
    """A line of ``getent passwd``."""

    name: str
    uid: int
    gid: int
    home: str = ""
    shell: str = "/bin/sh"
    comment: str = ""

    def line(self) -> str:
        return f"{self.name}:x:{self.uid}:{self.gid}:{self.comment}:{self.home or '/home/' + self.name}:{self.shell}"


@dataclass(frozen=True)
class FakeGroup:
    """A line of ``getent group``; ``members`` hold it as a supplementary group."""

    name: str
    gid: int
    members: tuple[str, ...] = ()

    def line(self) -> str:
        return f"{self.name}:x:{self.gid}:{','.join(self.members)}"


Owner = int | str
"""A uid/gid, or a name the host's users/groups resolve."""


@dataclass(frozen=True)
class FakeFile:
    """A regular file."""

    content: str | bytes = b""
    mode: int = 0o644
    owner: Owner = 0
    group: Owner = 0


@dataclass(frozen=True)
class FakeDirectory:
    """A directory (the parents of every path given are directories too: 0755, root's)."""

    mode: int = 0o755
    owner: Owner = 0
    group: Owner = 0


@dataclass(frozen=True)
class FakeLink:
    """A symbolic link to ``target`` (absolute, or relative to the link's directory)."""

    target: str
    owner: Owner = 0
    group: Owner = 0


@dataclass(frozen=True)
class FakeSpecial:
    """A FIFO, socket or device: there, but not to be read or replaced."""

    kind: FileKind = FileKind.FIFO
    mode: int = 0o644


FakeEntry = FakeFile | FakeDirectory | FakeLink | FakeSpecial


@dataclass(frozen=True)
class Call:
    """One call a score made; ``str(call)`` reads as the command line or file operation."""

    operation: str
    """``run`` or the file primitive's name (``stat``, ``write_file`` ...)."""
    text: str
    """The argv joined as a shell would read it, or the operation's path and details."""
    observation: bool
    """True for what only looks (file reads, commands answered from the observed state)."""
    argv: tuple[str, ...] = ()
    # Not in repr: what a command gets on stdin or in its environment may be a revealed Secret.
    stdin: bytes | None = field(default=None, repr=False)
    env: Mapping[str, str] | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.text


@dataclass
class _Node:
    kind: FileKind
    mode: int
    uid: int
    gid: int
    content: bytes = b""
    target: str = ""


@dataclass
class _Answers:
    queue: list[AnswerLike] = field(default_factory=list)

    def next(self) -> AnswerLike:
        return self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]


class FakeCommandRunner:
    """The :class:`~capabilities.command_runner.CommandRunnerService` of a :class:`FakeHost`: answers from state, records calls."""

    def __init__(
        self,
        *,
        files: Mapping[str, FakeEntry] | None = None,
        users: Iterable[FakeUser] = (),
        groups: Iterable[FakeGroup] = (),
        answers: Mapping[tuple[str, ...], AnswerLike | Sequence[AnswerLike]] | None = None,
        default: AnswerLike | None = None,
        login: tuple[int, int] = (0, 0),
    ) -> None:
        self.users = [FakeUser("root", 0, 0, "/root", "/bin/bash"), *users]
        self.groups = [FakeGroup("root", 0), *groups]
        self.default = default
        self.login = login
        self.calls: list[Call] = []
        self._answers = {
            tuple(argv): _Answers([answer] if isinstance(answer, (Answer, str, int)) else list(answer))
            for argv, answer in (answers or {}).items()
        }
        empty = [shlex.join(argv) for argv, given in self._answers.items() if not given.queue]
        if empty:
            raise ValueError(f"fake host: no answer in the list for {', '.join(empty)}")
        self._tree: dict[str, _Node] = {"/": _Node(FileKind.DIRECTORY, 0o755, 0, 0)}
        for path, entry in sorted((files or {}).items()):
            self._add(path, entry)

    def __repr__(self) -> str:
        return f"FakeCommandRunner({len(self._tree)} paths, {len(self.calls)} calls)"

    # -- what a test reads back ---------------------------------------------------

    def changes(self) -> list[str]:
        """The calls that change the host, as text (commands as a shell reads them)."""
        return [call.text for call in self.calls if not call.observation]

    def commands(self) -> list[tuple[str, ...]]:
        """The argv of every command run, in order."""
        return [call.argv for call in self.calls if call.operation == "run"]

    def content(self, path: str) -> bytes | None:
        """The content of the regular file at ``path`` now (after writes), or ``None``."""
        node = self._tree.get(self._at(path))
        return node.content if node is not None and node.kind is FileKind.FILE else None

    def describe(self, path: str) -> tuple[FileKind, int, int, int] | None:
        """``(kind, mode, uid, gid)`` of ``path`` now, or ``None`` when nothing is there."""
        node = self._tree.get(self._at(path))
        return None if node is None else (node.kind, node.mode, node.uid, node.gid)

    # -- the CommandRunnerService Protocol ------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        args = tuple(argv)
        text = shlex.join(args) + (f" <<< ({len(stdin)} bytes)" if stdin else "")
        given = self._answers.get(args)
        if given is not None:
            self._record("run", text, True, args, stdin, env)
            return _answer(given.next()).result(args)
        builtin = self._builtin(args)
        if builtin is not None:
            result, observation = builtin
            self._record("run", text, observation, args, stdin, env)
            return result
        if self.default is None:
            known = "\n  ".join(shlex.join(argv) for argv in self._answers) or "(none)"
            raise UnexpectedCommandError(f"the fake host has no answer for: {shlex.join(args)}\n answers given:\n  {known}")
        self._record("run", text, False, args, stdin, env)
        return _answer(self.default).result(args)

    async def stat(self, path: str) -> FileStat | None:
        self._record("stat", f"stat {path}", True)
        node = self._tree.get(self._at(path))
        return None if node is None else FileStat(node.kind, node.mode, len(node.content) if node.kind is FileKind.FILE else 0)

    async def read_file(self, path: str) -> bytes | None:
        self._record("read_file", f"read {path}", True)
        node = self._tree.get(self._realpath(path))
        if node is None:
            return None
        if node.kind is not FileKind.FILE:
            raise FileAccessError(f"fake host: cannot read {path}: it is a {node.kind.value}")
        return node.content

    async def write_file(self, path: str, content: bytes, *, mode: int, follow_parent_symlinks: bool = True) -> None:
        self._record("write_file", f"write {path} ({len(content)} bytes, mode {mode:04o})", False)
        path = _normal(path)
        directory = posixpath.dirname(path)
        where = self._realpath(directory)
        if where != directory and not follow_parent_symlinks:
            raise FileAccessError(f"fake host: cannot write {path}: {directory} leads through a symbolic link to {where}")
        parent = self._tree.get(where)
        if parent is None or parent.kind is not FileKind.DIRECTORY:
            raise FileAccessError(f"fake host: cannot write {path}: {directory} is not a directory")
        at = posixpath.join(where, posixpath.basename(path))
        existing = self._tree.get(at)
        if existing is not None and existing.kind is FileKind.DIRECTORY:
            raise FileAccessError(f"fake host: cannot write {path}: it is a directory")
        self._tree[at] = _Node(FileKind.FILE, mode, *self.login, content=bytes(content))

    async def set_mode(self, path: str, mode: int) -> None:
        self._record("set_mode", f"chmod {mode:04o} {path}", False)
        node = self._tree.get(self._realpath(path))
        if node is None:
            raise FileAccessError(f"fake host: cannot set the mode of {path}: nothing is there")
        node.mode = mode

    async def make_directory(self, path: str, *, mode: int) -> None:
        self._record("make_directory", f"mkdir {path} (mode {mode:04o})", False)
        path = self._realpath(path)
        for parent in _ancestors(path):
            self._tree.setdefault(parent, _Node(FileKind.DIRECTORY, 0o755, *self.login))
        node = self._tree.setdefault(path, _Node(FileKind.DIRECTORY, mode, *self.login))
        if node.kind is not FileKind.DIRECTORY:
            raise FileAccessError(f"fake host: cannot make directory {path}: a {node.kind.value} is there")
        node.mode = mode

    async def resolve(self, path: str) -> str | None:
        self._record("resolve", f"resolve {path}", True)
        return self._resolved(path)

    async def digest(self, path: str) -> str | None:
        self._record("digest", f"sha256 {path}", True)
        node = self._tree.get(self._at(path))
        if node is None:
            return None
        if node.kind is not FileKind.FILE:
            raise FileAccessError(f"fake host: {path} is a {node.kind.value}, not a regular file")
        return hashlib.sha256(node.content).hexdigest()

    # -- state ------------------------------------------------------------------------

    def _add(self, path: str, entry: FakeEntry) -> None:
        path = _normal(path)
        for parent in _ancestors(path):
            self._tree.setdefault(parent, _Node(FileKind.DIRECTORY, 0o755, 0, 0))
        if isinstance(entry, FakeSpecial):
            self._tree[path] = _Node(entry.kind, entry.mode, 0, 0)
            return
        uid, gid = self._uid(entry.owner), self._gid(entry.group)
        if isinstance(entry, FakeFile):
            self._tree[path] = _Node(FileKind.FILE, entry.mode, uid, gid, content=_bytes(entry.content))
        elif isinstance(entry, FakeDirectory):
            self._tree[path] = _Node(FileKind.DIRECTORY, entry.mode, uid, gid)
        else:
            self._tree[path] = _Node(FileKind.SYMLINK, 0o777, uid, gid, target=entry.target)

    def _uid(self, owner: Owner) -> int:
        if isinstance(owner, int):
            return owner
        found = next((user for user in self.users if user.name == owner), None)
        if found is None:
            raise ValueError(f"fake host: owner {owner!r} is not among its users")
        return found.uid

    def _gid(self, group: Owner) -> int:
        if isinstance(group, int):
            return group
        found = next((entry for entry in self.groups if entry.name == group), None)
        if found is None:
            raise ValueError(f"fake host: group {group!r} is not among its groups")
        return found.gid

    def _resolved(self, path: str) -> str | None:
        """``path`` with every link along it followed (realpath), or ``None`` when nothing (not even a link) is there."""
        return self._realpath(path) if self._at(path) in self._tree else None

    def _at(self, path: str) -> str:
        """Where ``path`` itself is: its directory part resolved, a final link not followed (as lstat sees it)."""
        path = _normal(path)
        if path == "/":
            return path
        return posixpath.join(self._realpath(posixpath.dirname(path)), posixpath.basename(path))

    def _realpath(self, path: str) -> str:
        parts = [part for part in _normal(path).split("/") if part]
        current, hops = "/", 0
        while parts:
            candidate = posixpath.join(current, parts.pop(0))
            node = self._tree.get(candidate)
            if node is not None and node.kind is FileKind.SYMLINK:
                hops += 1
                if hops > _MAX_LINKS:
                    raise FileAccessError(f"fake host: too many levels of symbolic links in {path}")
                target = posixpath.normpath(posixpath.join(current, node.target))
                parts = [part for part in target.split("/") if part] + parts
                current = "/"
                continue
            current = candidate
        return current

    def _record(
        self,
        operation: str,
        text: str,
        observation: bool,
        argv: tuple[str, ...] = (),
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.calls.append(Call(operation, text, observation, argv, stdin, None if env is None else dict(env)))

    # -- the commands the fake answers from its state ---------------------------------

    def _builtin(self, argv: tuple[str, ...]) -> tuple[CommandResult, bool] | None:
        program, arguments = argv[0], argv[1:]
        if program == "getent" and arguments and arguments[0] in ("passwd", "group"):
            return self._getent(argv), True
        if program == "stat" and arguments[:1] == ("-c",) and arguments[2:3] == ("--",):
            return self._stat_command(argv, arguments[1], arguments[3:]), True
        if program == "readlink" and len(arguments) == 2 and arguments[0] == "--":
            node = self._tree.get(self._at(arguments[1]))
            if node is None or node.kind is not FileKind.SYMLINK:
                return CommandResult(argv, 1, b"", b""), True
            return CommandResult(argv, 0, f"{node.target}\n".encode(), b""), True
        if program == "find" and arguments[1:] == ("-mindepth", "1", "-maxdepth", "1", "-print", "-quit"):
            prefix = self._realpath(arguments[0]).rstrip("/") + "/"
            child = next((path for path in sorted(self._tree) if path.startswith(prefix) and "/" not in path[len(prefix):]), None)
            return CommandResult(argv, 0, b"" if child is None else f"{child}\n".encode(), b""), True
        if program == "sha256sum" and len(arguments) == 2 and arguments[0] == "--":
            node = self._tree.get(self._at(arguments[1]))
            if node is None or node.kind is not FileKind.FILE:
                return CommandResult(argv, 1, b"", f"sha256sum: {arguments[1]}: No such file\n".encode()), True
            return CommandResult(argv, 0, f"{hashlib.sha256(node.content).hexdigest()}  {arguments[1]}\n".encode(), b""), True
        if program in ("rm", "ln", "mv"):
            return self._file_command(argv)
        if program == "chown" and len(arguments) == 4 and arguments[0] == "-h" and arguments[2] == "--":
            return self._chown(argv, arguments[1], arguments[3]), False
        return None

    def _getent(self, argv: tuple[str, ...]) -> CommandResult:
        database, keys = argv[1], argv[2:]
        entries: list[tuple[str, int, str]] = (
            [(user.name, user.uid, user.line()) for user in self.users]
            if database == "passwd"
            else [(group.name, group.gid, group.line()) for group in self.groups]
        )
        lines = [line for name, number, line in entries if not keys or any(key in (name, str(number)) for key in keys)]
        if not lines:
            return CommandResult(argv, _GETENT_NOT_FOUND, b"", b"")
        return CommandResult(argv, 0, "".join(f"{line}\n" for line in lines).encode(), b"")

    def _stat_command(self, argv: tuple[str, ...], format_: str, paths: tuple[str, ...]) -> CommandResult:
        out: list[str] = []
        for path in paths:
            node = self._tree.get(self._at(path))
            if node is None:
                message = f"stat: cannot statx '{path}': No such file or directory\n"
                return CommandResult(argv, 1, "".join(out).encode(), message.encode())
            out.append(format_.replace("%u", str(node.uid)).replace("%g", str(node.gid)) + "\n")
        return CommandResult(argv, 0, "".join(out).encode(), b"")

    def _file_command(self, argv: tuple[str, ...]) -> tuple[CommandResult, bool] | None:
        """``rm -f|-rf -- PATH...``, ``ln -sfn -- TARGET LINK``, ``mv -f|-Tf -- FROM TO``: done on the state."""
        options, separator, paths = argv[1:2], argv[2:3], argv[3:]
        if separator != ("--",):
            return None
        if argv[0] == "rm" and options in (("-f",), ("-rf",)):
            for path in paths:
                at = self._at(path)
                for known in [known for known in self._tree if known == at or known.startswith(at.rstrip("/") + "/")]:
                    del self._tree[known]
            return CommandResult(argv, 0, b"", b""), False
        if argv[0] == "ln" and options == ("-sfn",) and len(paths) == 2:
            self._tree[self._at(paths[1])] = _Node(FileKind.SYMLINK, 0o777, *self.login, target=paths[0])
            return CommandResult(argv, 0, b"", b""), False
        if argv[0] == "mv" and options in (("-f",), ("-Tf",)) and len(paths) == 2:
            node = self._tree.pop(self._at(paths[0]), None)
            if node is None:
                return CommandResult(argv, 1, b"", f"mv: cannot stat '{paths[0]}': No such file or directory\n".encode()), False
            self._tree[self._at(paths[1])] = node
            return CommandResult(argv, 0, b"", b""), False
        return None

    def _chown(self, argv: tuple[str, ...], spec: str, path: str) -> CommandResult:
        node = self._tree.get(self._at(path))
        if node is None:
            return CommandResult(argv, 1, b"", f"chown: cannot access '{path}': No such file or directory\n".encode())
        owner, _, group = spec.partition(":")
        if owner:
            node.uid = self._uid(int(owner) if owner.isdigit() else owner)
        if group:
            node.gid = self._gid(int(group) if group.isdigit() else group)
        return CommandResult(argv, 0, b"", b"")


class FakeHost:
    """A topology providing CommandRunner through a :class:`FakeCommandRunner` built from the state given.

    The keyword arguments are :class:`FakeCommandRunner`'s. ``calls`` and
    :meth:`changes` read what scores did, ``content`` what a file holds now.
    """

    def __init__(
        self,
        *,
        name: str = "fake-host",
        facts: Mapping[str, str] | None = None,
        files: Mapping[str, FakeEntry] | None = None,
        users: Iterable[FakeUser] = (),
        groups: Iterable[FakeGroup] = (),
        answers: Mapping[tuple[str, ...], AnswerLike | Sequence[AnswerLike]] | None = None,
        default: AnswerLike | None = None,
        login: tuple[int, int] = (0, 0),
    ) -> None:
        self._name = name
        self._facts = dict(facts or {"os_id": "debian", "user": "root"})
        self._runner = FakeCommandRunner(files=files, users=users, groups=groups, answers=answers, default=default, login=login)

    def __repr__(self) -> str:
        return f"FakeHost({self._name!r})"

    @property
    def name(self) -> str:
        return self._name

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self._name, self._facts)

    def command_runner(self) -> FakeCommandRunner:
        """The fake's runner: the same object on every call, holding the state and the calls."""
        return self._runner

    @property
    def calls(self) -> list[Call]:
        return self._runner.calls

    def changes(self) -> list[str]:
        """See :meth:`FakeCommandRunner.changes`."""
        return self._runner.changes()

    def forget_calls(self) -> None:
        """Start recording afresh (e.g. between the plan and the apply of a test)."""
        self._runner.calls.clear()

    def content(self, path: str) -> bytes | None:
        return self._runner.content(path)

    def describe(self, path: str) -> tuple[FileKind, int, int, int] | None:
        return self._runner.describe(path)


def _answer(value: AnswerLike) -> Answer:
    if isinstance(value, Answer):
        return value
    if isinstance(value, int):
        return Answer(exit_status=value)
    return Answer(stdout=value)


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _normal(path: str) -> str:
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/") if normal.startswith("/") else normal


def _ancestors(path: str) -> list[str]:
    found, current = [], posixpath.dirname(path)
    while current not in ("/", ""):
        found.append(current)
        current = posixpath.dirname(current)
    return list(reversed(found))
