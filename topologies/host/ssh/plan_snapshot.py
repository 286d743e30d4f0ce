"""One round trip that observes every path a host's plan will look at: a snapshot valid for that plan only.

Before a host's scores plan, the runner sends ONE command into its command
session that, for each path, says what ``lstat`` sees (kind, mode, size),
hashes a regular file's content where it is (``sha256sum``, the file never
crosses the connection), and resolves each directory above it. Later
``stat``, ``resolve`` and ``digest`` calls of that plan are answered from
this snapshot; whatever it cannot answer exactly (a dangling link, a path
it was not asked about, a hash that failed) is observed live as before.

The snapshot lives in a context variable set around the plan: tasks the plan
starts see it, the apply and the observation after it (started later, from
outside) never do, so a stale snapshot can never make an apply or its
verification report "unchanged" (see adr/0099).
"""

from __future__ import annotations

import posixpath
import re
import stat as stat_module
from collections.abc import Iterable
from dataclasses import dataclass, field

from capabilities.command_runner import CommandResult, FileKind, FileStat

MAX_PATHS = 1000
"""More paths than this in one plan are not batched: the command line stays far below ARG_MAX."""

# Arguments come in pairs: "r DIR" (resolve a directory) or "s PATH" (lstat, and
# hash when a regular file). One NUL-terminated answer per pair, in order:
#   r: "=RESOLVED" | "-" (nothing there) | "?" (not a directory: not answered here)
#   s: "-" | "?" | "HEXMODE SIZE" and, for a regular file, a newline and the
#      output of dd | sha256sum with dd's status as "dd=N" (in either order).
# dd opens with O_NOFOLLOW|O_NONBLOCK as in files._DIGEST_SCRIPT: a link or FIFO
# swapped in after the test fails instead of being followed or waited on.
_SCRIPT = r"""
exists() { [ -e "$1" ] || [ -L "$1" ]; }
while [ "$#" -gt 1 ]; do
  q=$1 p=$2
  shift 2
  if [ "$q" = r ]; then
    if [ -d "$p" ] && r=$(realpath -- "$p" && printf x); then
      printf '=%s\0' "${r%?x}"
    elif exists "$p"; then printf '%s\0' '?'
    else printf '%s\0' '-'
    fi
    continue
  fi
  if ! m=$(stat -c '%f %s' -- "$p" 2>/dev/null); then
    if exists "$p"; then printf '%s\0' '?'; else printf '%s\0' '-'; fi
    continue
  fi
  h=
  if [ -f "$p" ] && ! [ -L "$p" ]; then
    h=$( { { dd if="$p" iflag=nofollow,nonblock bs=1048576 status=none; echo "dd=$?" >&3; } | sha256sum; } 3>&1 2>/dev/null )
  fi
  printf '%s\n%s\0' "$m" "$h"
done
"""
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class PlanSnapshot:
    """What one round trip saw; a path missing from a map is "not known here", not "missing"."""

    resolved: dict[str, str | None] = field(default_factory=dict)
    stats: dict[str, FileStat | None] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)


def queries(paths: Iterable[str]) -> tuple[tuple[str, str], ...] | None:
    """The (question, path) pairs for ``paths``: each path's lstat, and every directory above it.

    ``None`` when there are too many paths to batch.
    """
    stats = dict.fromkeys(paths)
    if not stats or len(stats) > MAX_PATHS:
        return None
    directories: dict[str, None] = {}
    for path in stats:
        directory = posixpath.dirname(path)
        while directory not in directories:
            directories[directory] = None
            if directory == "/":
                break
            directory = posixpath.dirname(directory)
    return tuple(("r", d) for d in directories) + tuple(("s", p) for p in stats)


def command(pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The one command that answers every pair on the host."""
    return ("sh", "-c", _SCRIPT, "sh", *(word for pair in pairs for word in pair))


def parse(pairs: tuple[tuple[str, str], ...], result: CommandResult) -> PlanSnapshot | None:
    """The snapshot ``result`` describes, or ``None`` when it is not exactly one answer per pair."""
    answers = result.stdout.split(b"\0")
    if not result.ok or len(answers) != len(pairs) + 1 or answers[-1]:
        return None
    snapshot = PlanSnapshot()
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
        described = _describe(path, answer, snapshot)
        if described is None:
            return None
    return snapshot


def _describe(path: str, answer: str, snapshot: PlanSnapshot) -> FileStat | None:
    head, _, hashed = answer.partition("\n")
    words = head.split()
    if len(words) != 2:
        return None
    st_mode, size = int(words[0], 16), int(words[1])
    found = FileStat(FileKind.of_mode(st_mode), stat_module.S_IMODE(st_mode), size)
    snapshot.stats[path] = found
    hashed_words = hashed.split()
    digests = [word for word in hashed_words if _HEX64.fullmatch(word)]
    if found.kind is FileKind.FILE and "dd=0" in hashed_words and len(digests) == 1:
        snapshot.digests[path] = digests[0]
    return found
