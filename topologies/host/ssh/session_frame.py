"""What a long-lived command session sends and recognises: the reader, one frame per command, and end markers.

The session is one exec channel running ``sh -s`` on the host (adr/0088): a
POSIX shell reading its script from the channel's stdin, so it needs nothing on
the host but ``sh`` and ``printf``. Each command is one *frame*, a brace group the
shell parses whole before it runs any of it (a frame cut short by a lost link is
a syntax error, never a shortened command)::

    { printf '%b' '<stdin, escaped>' | <command_line(...)>
    printf '\\n%s %s\\n' <token> "$?"; printf '\\n%s\\n' <token> >&2; }

- the command line is :func:`~topologies.host.ssh.command_line.command_line`'s,
  the same wrapper an exec channel runs (clean environment, variables read from
  the first lines of stdin, its process group reported first on stderr), so both
  paths give a command the same environment; the pipeline runs it in a subshell
  of its own, in the login's home directory where the reader started;
- its stdin (the variables' header, then the caller's input) travels inside the
  frame as ``printf %b`` octal escapes: any byte, NUL included, and never in an
  argv (``printf`` is a shell builtin, the shell's own argv is the fixed reader);
  a command with no variables and no input (its stdin only the header's empty
  line, the usual case) gets that line as a here-document instead, which starts
  no shell for a ``printf``;
- a fresh random token ends the command's stdout (followed by the exit status)
  and its stderr, each after a newline that is not part of the output, so output
  of any bytes and any length streams through unchanged.
"""

from __future__ import annotations

import secrets

from .command_line import PGID_MARKER, SUDO_PREFIX

READER = "sh -s"
"""The session's program: a shell that reads the frames from stdin."""

READY = b"harmony-session "
"""Starts the stdout of the hello frame; the reader's process id follows."""

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:,@+=- ")
_ESCAPED = [bytes([byte]) if byte in _SAFE else b"\\0%03o" % byte for byte in range(256)]
"""Each byte as it goes inside the frame's single quotes: itself, or a ``printf %b`` octal escape
(backslash, quote and newline included, so the quoted word holds printable ASCII only)."""


def reader_line(*, sudo: bool) -> bytes:
    """The exec request that starts the reader, as root through ``sudo -n`` when ``sudo``."""
    prefix = " ".join(SUDO_PREFIX) + " " if sudo else ""
    return (prefix + READER).encode("ascii")


def new_token() -> bytes:
    """A marker no command's output contains by chance (128 random bits)."""
    return b"harmony-end-" + secrets.token_hex(16).encode("ascii")


def escape_data(data: bytes) -> bytes:
    """``data`` as the body of a single-quoted ``printf %b`` argument that prints exactly ``data``."""
    return b"".join([_ESCAPED[byte] for byte in data])


def command_frame(line: bytes, stdin: bytes, token: bytes) -> bytes:
    """The frame that runs ``line`` (a shell command line) with ``stdin``, ended by ``token`` on both streams."""
    if stdin == NOTHING_TO_READ:
        # A here-document costs the reader no process (the shell writes it into the command's
        # stdin itself) where ``printf | command`` forks a shell for the printf. Only for the
        # empty header: no variable or input (which may be secret) goes where a shell that
        # keeps here-documents in temporary files (bash before 5.1) would write it to disk.
        return _framed(line + b" <<'" + token + b"'\n" + stdin + token + b"\n", token)
    return _framed(b"printf '%b' '" + escape_data(stdin) + b"' | " + line + b"\n", token)


NOTHING_TO_READ = b"\n"
"""The stdin of a command given no variables and no input: the wrapper's empty header, one empty line."""


def _framed(command: bytes, token: bytes) -> bytes:
    """``command`` (one line or a here-document, newline-ended) in a brace group that ends both streams with ``token``."""
    return (
        b"{ " + command + b"printf '\\n%s %s\\n' " + token + b' "$?"; printf \'\\n%s\\n\' ' + token + b" >&2; }\n"
    )


PROBE = b"\0\n'\\\x7f\xff harmony"
"""Bytes the hello frame sends through ``printf %b`` and expects back: NUL, newline, quote, backslash, high bytes."""


def hello_frame(token: bytes) -> bytes:
    """A frame that prints :data:`PROBE` through ``printf %b``, then :data:`READY` and the reader's pid: frames work on this host.

    Builtins only: the reader starts no process to say it is ready.
    """
    return _framed(b"printf '%b' '" + escape_data(PROBE) + b"'; printf '" + READY + b"%s\\n' \"$$\"\n", token)


def parse_status(rest: bytes) -> int | None:
    """The exit status that follows the token on stdout (`` 0``), or ``None`` when it is not one."""
    text = rest.strip()
    return int(text) if text.isdigit() else None


def parse_group(line: bytes) -> int | None:
    """The process group in a wrapper's first stderr line (ending in a newline), or ``None``."""
    if line.startswith(PGID_MARKER) and line.endswith(b"\n"):
        text = line[len(PGID_MARKER) : -1]
        if text.isdigit():
            return int(text)
    return None
