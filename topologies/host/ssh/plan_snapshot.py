"""One round trip that observes every path and guard a host's plan (or apply) will look at.

Before a host's scores plan, the runner sends ONE command into its command
session that, for each path, says what ``lstat`` sees (kind, mode, size),
hashes a regular file's content where it is (``sha256sum``, the file never
crosses the connection), reads a link's target, and resolves each directory
above it; then it runs each ``unless=`` guard as it would run alone (own
subshell, clean environment plus its variables from stdin, the same working
directory) and answers its exit status. Later ``stat``, ``resolve``,
``digest``, link and guard observations are answered from this snapshot;
whatever it cannot answer exactly (a dangling link, a path it was not asked
about, a hash that failed) is observed live as before.

The snapshot lives in a context variable set around the plan: tasks the plan
starts see it, nothing started outside does. An apply takes a fresh one of
its own, which the runner stops using at the first call that may change the
host, and the run before verifying any score that did not report "nothing to
do" (adr/0099, adr/0108).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import stat as stat_module
from collections.abc import Iterable
from dataclasses import dataclass, field

from capabilities.command_runner import CommandResult, FileKind, FileStat, GuardCheck

from .command_line import env_header, nested_words
from .files import TEMPORARY_SUFFIX

MAX_CONTENT = 65536
"""Files a score reads (``read_paths``) up to this size travel in the batch (hex: twice as many bytes)."""
STAT_ONCE_PAIRS = 150
"""Up to this many questions, one stat program answers all of them (beyond, the script's line-by-line
matching would cost more shell work than the programs it saves)."""
MAX_PATHS = 1000
"""More paths and guards than this in one plan are not batched: the command line stays far below ARG_MAX."""

# Arguments come in pairs: "r DIR" (resolve a directory), "s PATH" (lstat, and
# hash when a regular file) or "c PATH" (as "s", then what reading PATH gives, a
# link followed as read_file follows it, for a file up to MAX_CONTENT bytes).
# One NUL-terminated answer per pair, in order:
#   r: "=RESOLVED" | "-" (nothing there) | "?" (not a directory, or not known here)
#   s: "-" | "?" | "HEXMODE SIZE" and, for a regular file, a newline and the
#      output of dd | sha256sum when this login may read it (nothing otherwise:
#      the score's own read then names the error). Should dd still fail (the
#      file swapped after the test), its error message is what gets hashed: a
#      digest no content a score wants has, so the score reads the file live
#      (no "dd=N" status is needed, and so no subshell either); for a link a
#      newline, "@" and readlink's line (the target, a newline), or "@!" when
#      readlink failed (the link gone since).
#   c: as s, then always "\n#" + what proves the content whole and "\n#" + the
#      content in hex, od's lines as they come (both empty when not read). For a
#      regular file the one-sha256sum pass below hashed, that digest (it is not
#      read twice): the content is taken only when its SHA-256 is that digest, so
#      a file that changed between the two reads is read live. Otherwise (a
#      link followed, a file not hashed there) "=SIZE", its size as stat -L saw
#      it: the content is taken only when it is that long, so a read cut short or
#      a file that grew or shrank since is read live; one read, as a live
#      read_file is.
# After the answers, one more: "temporaries" and the 1-based numbers of the "s"
# and "c" pairs whose directory holds a name like a leftover temporary of theirs
# (".<base>.*.harmony-tmp", a shell glob: no program), or which this login may
# not list; a write sweeps leftovers only for those (files.write_file).
# "-" only when the nearest existing directory above is one this login may
# search: a path under a directory it may not enter, or under a file, is "?"
# (observed live, with its own error).
# dd opens with O_NOFOLLOW|O_NONBLOCK as in files._DIGEST_SCRIPT: a link or FIFO
# swapped in after the test fails instead of being followed or waited on.
# A directory is resolved by the shell itself (cd -P, then $PWD: no program or
# subshell started for it; the loop runs in one subshell of its own, so the guards
# after it run in the command's own directory); one this login may not enter
# answers "?" and is resolved live. Answers are written as they are found, not
# gathered in command substitutions (each one a forked shell: with the hashes,
# about half of the processes a batch started on the host); the few left
# ``exec`` their one program, so each is one process, not a shell and a program.
# Regular files are hashed by ONE sha256sum program too, right after that stat, and
# stat'ed again by one more after it: a file's digest is used only when that second
# look still sees a regular file of the same mode and size (a link swapped in and
# followed shows as a link). Names sha256sum would escape (a backslash, anything
# not printable in the C locale) and files either program skipped take dd |
# sha256sum of their own; so does everything when the stat pass is off. Starting
# dd and sha256sum per file was most of the programs a batch started on the host.
# A FIFO swapped in after the test would hold sha256sum until the batch's timeout;
# every observation is then made live (as for a guard that hangs).
# Every argument is lstat'ed by ONE stat program first ("MODE SIZE NAME" a line,
# in argument order, nothing for what is not there); a path takes its line when
# the next line names exactly it, and runs stat of its own otherwise (a name with
# a newline, a file that appeared since): starting a program per path was a third
# of the batch's cost on the host. A path with no line that the shell's own test
# finds missing is answered without one (every path of a first apply: a program
# per path was most of what that batch started). Above STAT_ONCE_PAIRS questions,
# stat per path.
_SCRIPT = r"""
nl='
'
S= O=
if [ "$#" -le {stat_once_args} ]; then O=1; S=$(exec stat -c '%f %s %n' -- "$@" 2>/dev/null); [ -z "$S" ] || S=$S$nl; fi
take() {
  [ -n "$S" ] || return 1
  t=${S%%"$nl"*}
  n=${t#* }; n=${n#* }
  [ "$n" = "$1" ] || return 1
  m=${t% "$n"}
  S=${S#*"$nl"}
}
exists() { [ -e "$1" ] || [ -L "$1" ]; }
absent() {
  if exists "$1"; then return 1; fi
  d=$1
  while :; do
    d=${d%/*}
    [ -n "$d" ] || d=/
    if exists "$d" || [ "$d" = / ]; then break; fi
  done
  [ -d "$d" ] && [ -x "$d" ]
}
digest_of() { dd if="$1" iflag=nofollow,nonblock bs=1048576 status=none 2>&1 | sha256sum 2>/dev/null; }
H= T=
if [ -n "$S" ]; then
  i=0 L=
  for a do
    i=$((i + 1))
    if [ $((i % 2)) -eq 1 ]; then k=$a; continue; fi
    [ "$k" != r ] || continue
    case $a in *[![:print:]]*|*\\*) continue ;; esac
    if [ -f "$a" ] && ! [ -L "$a" ] && [ -r "$a" ]; then L="$L \"\${$i}\""; fi
  done
  if [ -n "$L" ]; then
    H=$(eval "set -- $L"; exec sha256sum -- "$@" 2>/dev/null); [ -z "$H" ] || H=$H$nl
    T=$(eval "set -- $L"; exec stat -c '%f %s %n' -- "$@" 2>/dev/null); [ -z "$T" ] || T=$T$nl
  fi
fi
hashed() {
  h= u=
  t=${H%%"$nl"*}
  if [ -n "$H" ] && [ "${t#*  }" = "$1" ]; then h=${t%%  *}; H=${H#*"$nl"}; fi
  t=${T%%"$nl"*}
  n=${t#* }; n=${n#* }
  if [ -n "$T" ] && [ "$n" = "$1" ]; then u=${t% "$n"}; T=${T#*"$nl"}; fi
  [ -n "$h" ] && [ "$u" = "$2" ]
}
(
j=0 X=
while [ "$#" -gt 1 ]; do
  q=$1 p=$2
  shift 2
  j=$((j + 1))
  if [ "$q" != r ]; then
    d=${p%/*}; [ -n "$d" ] || d=/
    if [ -d "$d" ] && ! [ -r "$d" ]; then X="$X $j"
    else
      for f in "$d/.${p##*/}".*{suffix}; do if [ -e "$f" ] || [ -L "$f" ]; then X="$X $j"; fi; break; done
    fi
  fi
  take "$q" || :
  if [ "$q" = r ]; then
    take "$p" || :
    if [ -d "$p" ] && cd -P -- "$p" 2>/dev/null; then
      printf '=%s\0' "$PWD"
    elif absent "$p"; then printf '%s\0' '-'
    else printf '%s\0' '?'
    fi
    continue
  fi
  y=
  if ! take "$p" && { { [ -n "$O" ] && ! exists "$p"; } || ! m=$(stat -c '%f %s' -- "$p" 2>/dev/null); }; then
    if absent "$p"; then printf '%s\0' '-'; else printf '%s\0' '?'; fi
    continue
  fi
  printf '%s\n' "$m"
  if [ -L "$p" ]; then
    printf @; readlink -- "$p" 2>/dev/null || printf '!'
  elif [ -f "$p" ] && [ -r "$p" ]; then
    if hashed "$p" "$m"; then printf '%s\n' "$h"; y=$h; else digest_of "$p"; fi
  fi
  if [ "$q" = c ]; then
    printf '\n#'
    n=
    if [ -n "$y" ]; then n=${m#* }; elif [ -f "$p" ]; then n=$(stat -L -c %s -- "$p" 2>/dev/null) || n=; fi
    if [ -n "$n" ] && [ "$n" -le {max_content} ]; then
      if [ -n "$y" ]; then printf '%s\n' "$y"; else printf '=%s\n' "$n"; fi
      printf '\n#'
      dd if="$p" iflag=nonblock bs=1048576 status=none 2>/dev/null | od -An -v -tx1
    else
      printf '\n#'
    fi
  fi
  printf '\0'
done
printf 'temporaries%s\0' "$X"
)
"""
# A guard: its variables arrive on this command's stdin as the wrapper's header
# lines (command_line.env_header), ended by an empty line; it runs in a pipeline
# (a subshell of its own) with exactly that header and then end of input on its
# stdin, as it would alone. Its exit status is the answer; "?" when the header
# was cut short (nothing is run then).
_GUARD = r"""
guard() {
  h=
  while :; do
    if ! IFS= read -r l; then printf '%s\0' '?'; return; fi
    [ -n "$l" ] || break
    h="$h$l
"
  done
  printf '%s\n' "$h" | "$@" >/dev/null 2>&1
  printf '%s\0' "$?"
}
"""
_SCRIPT = (
    _SCRIPT.replace("{max_content}", str(MAX_CONTENT))
    .replace("{stat_once_args}", str(2 * STAT_ONCE_PAIRS))
    .replace("{suffix}", TEMPORARY_SUFFIX)
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class PlanSnapshot:
    """What one round trip saw; a path missing from a map is "not known here", not "missing".

    ``until_changed``: an apply's snapshot, which the runner stops answering
    from (``valid`` false) at the first call that may change the host.
    """

    resolved: dict[str, str | None] = field(default_factory=dict)
    stats: dict[str, FileStat | None] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)
    """Guard exit statuses by :meth:`GuardCheck.key` (no revealed variable is kept)."""
    without_temporaries: set[str] = field(default_factory=set)
    """Paths whose directory held no leftover temporary of theirs (an interrupted write's) when seen."""
    until_changed: bool = False
    valid: bool = True


@dataclass(frozen=True)
class Batch:
    """The questions of one round trip: (question, path) pairs, then guards."""

    pairs: tuple[tuple[str, str], ...]
    guards: tuple[GuardCheck, ...]
    timeout_s: float | None = None
    """Each guard's own ``timeout`` backstop, as it would have alone."""

    def command(self) -> tuple[str, ...]:
        """The one command that answers every question on the host (its argv; the guards' variables go on stdin)."""
        script = _SCRIPT
        if self.guards:
            calls = "".join(f"guard {nested_words(guard.argv, timeout_s=self.timeout_s)}\n" for guard in self.guards)
            script += _GUARD + calls
        return ("sh", "-c", script, "sh", *(word for pair in self.pairs for word in pair))

    def stdin(self) -> bytes:
        """Each guard's variables as the header its wrapper reads, in order."""
        return b"".join(env_header(guard.env) for guard in self.guards)


def batch(
    paths: Iterable[str], guards: Iterable[GuardCheck] = (), *, read: Iterable[str] = (), timeout_s: float | None = None
) -> Batch | None:
    """The questions for ``paths`` (each one's lstat, every directory above it), ``read`` (also the content) and ``guards``.

    ``None`` when there is nothing to ask, or too much for one command line.
    """
    contents = dict.fromkeys(read)
    stats = {**dict.fromkeys(paths), **contents}
    unique = tuple({guard.key(): guard for guard in guards}.values())
    if (not stats and not unique) or len(stats) + len(unique) > MAX_PATHS:
        return None
    directories: dict[str, None] = {}
    for path in stats:
        directory = posixpath.dirname(path)
        while directory not in directories:
            directories[directory] = None
            if directory == "/":
                break
            directory = posixpath.dirname(directory)
    pairs = tuple(("r", d) for d in directories) + tuple(("c" if p in contents else "s", p) for p in stats)
    return Batch(pairs, unique, timeout_s)


def parse(questions: Batch, result: CommandResult) -> PlanSnapshot | None:
    """The snapshot ``result`` describes, or ``None`` when it is not exactly one answer per question."""
    pairs = questions.pairs
    answers = result.stdout.split(b"\0")
    if not result.ok or len(answers) != len(pairs) + 1 + len(questions.guards) + 1 or answers[-1]:
        return None
    temporaries = answers[len(pairs)].split()
    if temporaries[:1] != [b"temporaries"] or not all(word.isdigit() for word in temporaries[1:]):
        return None
    snapshot = PlanSnapshot()
    leftovers = {int(word) - 1 for word in temporaries[1:]}
    snapshot.without_temporaries = {path for index, (question, path) in enumerate(pairs) if question != "r" and index not in leftovers}
    for (question, path), raw in zip(pairs, answers):
        answer = raw.decode("utf-8", "surrogateescape")
        if answer == "?":
            continue
        if question == "r":
            snapshot.resolved[path] = None if answer == "-" else answer.removeprefix("=")
            continue
        if answer == "-":
            snapshot.stats[path] = None
            continue
        if question == "c":
            answer, content = _content(answer)
            if content is not None:
                snapshot.contents[path] = content
        described = _describe(path, answer, snapshot)
        if described is None:
            return None
    for guard, raw in zip(questions.guards, answers[len(pairs) + 1 :]):
        if raw.isdigit():
            snapshot.exits[guard.key()] = int(raw)
    return snapshot


def _content(answer: str) -> tuple[str, bytes | None]:
    """The "s" part of a "c" answer, and the content read when its hash (or its size, "=N") proves it whole."""
    rest, hashed, content = answer.rsplit("\n#", 2) if answer.count("\n#") >= 2 else (answer, "", "")
    read = _bytes(content)
    if read is None:
        return rest, None
    size = hashed.strip()
    if size.startswith("=") and size[1:].isdigit():
        return rest, read if len(read) == int(size[1:]) else None
    digests = [word for word in hashed.split() if _HEX64.fullmatch(word)]
    if len(digests) != 1 or hashlib.sha256(read).hexdigest() != digests[0]:
        return rest, None
    return rest, read


def _describe(path: str, answer: str, snapshot: PlanSnapshot) -> FileStat | None:
    head, _, hashed = answer.partition("\n")
    words = head.split()
    if len(words) != 2:
        return None
    st_mode, size = int(words[0], 16), int(words[1])
    found = FileStat(FileKind.of_mode(st_mode), stat_module.S_IMODE(st_mode), size)
    snapshot.stats[path] = found
    if found.kind is FileKind.SYMLINK:
        # "@", then readlink's line (the target and a newline), or "!" when it could not read it.
        if hashed.startswith("@") and hashed.endswith("\n"):
            snapshot.links[path] = hashed[1:-1]
        return found
    hashed_words = hashed.split()
    digests = [word for word in hashed_words if _HEX64.fullmatch(word)]
    if found.kind is FileKind.FILE and len(digests) == 1:
        snapshot.digests[path] = digests[0]
    return found


def _bytes(hexadecimal: str) -> bytes | None:
    try:
        return bytes.fromhex(hexadecimal)
    except ValueError:
        return None
