"""The session's frames fed to a local ``sh -s`` (the reader, without SSH): exact bytes, and a frame cut short runs nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from topologies.host.ssh.command_line import command_line, env_header
from topologies.host.ssh.session_frame import NOTHING_TO_READ, PROBE, READY, command_frame, escape_data, hello_frame, new_token

EVERY_BYTE = bytes(range(256))


def run_reader(script: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sh", "-s"], input=script, capture_output=True, check=False, timeout=30)


def test_escaped_data_is_printable_ascii_and_printf_b_gives_back_every_byte() -> None:
    escaped = escape_data(EVERY_BYTE)
    assert all(32 <= byte < 127 for byte in escaped) and b"'" not in escaped
    printed = run_reader(b"printf '%b' '" + escaped + b"'\n")
    assert printed.stdout == EVERY_BYTE


def test_a_frame_passes_stdin_and_variables_and_ends_both_streams_with_its_token() -> None:
    token = new_token()
    line = command_line(["sh", "-c", 'cat; printf "%s" "$SECRET_VALUE" >&2; exit 4'])
    frame = command_frame(line, env_header({"SECRET_VALUE": "a\nb'c"}) + EVERY_BYTE, token)
    done = run_reader(frame)
    assert done.stdout == EVERY_BYTE + b"\n" + token + b" 4\n"
    assert done.stderr.endswith(b"a\nb'c\n" + token + b"\n")
    assert b"a\nb'c" not in frame, "the value travels escaped, not as text a log would show"


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, 0.99])
def test_a_frame_cut_short_runs_nothing(tmp_path: Path, keep: float) -> None:
    marker = tmp_path / "ran"
    frame = command_frame(command_line(["touch", str(marker)]), env_header(None), new_token())
    # Everything but the closing brace is also a cut the shell must refuse.
    for cut in (int(len(frame) * keep), len(frame) - 3):
        run_reader(frame[:cut])
        assert not marker.exists(), f"a frame cut at {cut} of {len(frame)} bytes ran its command"


def test_a_command_with_nothing_to_read_gets_its_empty_header_as_a_here_document() -> None:
    """No ``printf |`` (a forked shell) for the usual command; the wrapper still reads its header and then end of input."""
    token = new_token()
    line = command_line(["sh", "-c", 'test -z "$(cat)" && printf "%s" "${HOME+set}"; exit 3'])
    frame = command_frame(line, NOTHING_TO_READ, token)
    assert b"printf '%b'" not in frame and b"<<'" + token + b"'" in frame
    done = run_reader(frame)
    assert done.stdout == b"set\n" + token + b" 3\n"
    assert done.stderr.endswith(b"\n" + token + b"\n")


def test_the_hello_frame_prints_the_probe_and_the_readers_pid_with_builtins_only() -> None:
    token = new_token()
    done = run_reader(hello_frame(token))
    head, _, rest = done.stdout.partition(b"\n" + token)
    assert head.startswith(PROBE + READY) and head[len(PROBE + READY) :].strip().isdigit()
    assert rest == b" 0\n" and b"|" not in hello_frame(token).split(b"\n")[0]
