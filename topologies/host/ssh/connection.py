"""Opening one verified SSH connection to a host, with retries inside one deadline.

Host keys are checked against a known_hosts file. An unknown key is refused
unless the caller opted in to accepting new keys (OpenSSH's
``StrictHostKeyChecking=accept-new``); a changed key is always refused.
Transient failures (refused, reset, dropped during the handshake, timed out)
are retried with jittered exponential backoff, but every attempt together stays
inside ``connect_timeout_s``: an unreachable host fails within it, never hangs.
An authentication failure, a host key refused, a name that does not resolve or
a server with no algorithm in common is final at the first attempt. Handshakes
wait for a slot of the connect gate first (connect_gate.py: a bound for the
process and an adaptive window per server, so that sshd's ``MaxStartups``
does not drop a fleet's connections); that wait is not part of the timeout,
nor, up to ``MAX_SHED_ATTEMPTS``, are attempts that a server which let other
handshakes through dropped (it is up and shedding load, as ``MaxStartups``
does: the wait is the queue's, not the host's).
"""

from __future__ import annotations

import functools
import os
import random
import socket
import time
from dataclasses import dataclass

import anyio
import asyncssh

from harmony_py.errors import TopologyNotReadyError
from harmony_py.values import Secret
from topologies.errors import AuthenticationError, HostKeyError

from .connect_gate import Attempt, connect_gate
from .ignore_packets import omit_ignore_packets
from .packet_logging import skip_packet_logging_when_off

FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0
KEEPALIVE_INTERVAL_S = 15.0
MAX_SHED_ATTEMPTS = 12
"""Attempts, shed by a server that accepts others, not counted against a host's connect timeout: a bound, so that a
server that drops this one connection for another reason still fails within a known time."""
CIPHER_PREFERENCE: tuple[str, ...] = (
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
"""Ciphers offered, best first: AES-GCM ahead of asyncssh's default ChaCha20-Poly1305 (adr/0089).

asyncssh seals a ChaCha20-Poly1305 packet with a new cipher context and a separate
Poly1305 pass (measured here: 56 us per 112-byte packet); AES-GCM is one AEAD call
(7-8 us). A host that offers no GCM cipher still gets the usual ones."""


def is_connection_loss(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection itself is gone (not one request refused)."""
    return isinstance(
        exc,
        (asyncssh.ConnectionLost, asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection, ConnectionResetError, BrokenPipeError),
    )


@dataclass(frozen=True)
class ConnectOptions:
    host: str
    port: int
    user: str | None
    client_keys: tuple[str, ...] | None
    password: Secret | None
    use_agent: bool
    known_hosts: str
    accept_new_host_key: bool
    connect_timeout_s: float

    @property
    def target(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.port}"

    @property
    def known_hosts_path(self) -> str:
        return os.path.expanduser(self.known_hosts)


def known_hosts_problem(known_hosts: str) -> str | None:
    """What makes ``known_hosts`` unusable as a file of keys (it is a directory), naming it; a missing file is fine."""
    path = os.path.expanduser(known_hosts)
    if os.path.isdir(path):
        return f"known_hosts {path} is a directory; give the path of a known_hosts file (e.g. ~/.ssh/known_hosts)"
    return None


async def connect(options: ConnectOptions) -> asyncssh.SSHClientConnection:
    """A connection whose host key has been verified; raises TopologyNotReadyError otherwise."""
    # Checked before any attempt: a bad path is no reason to retry until the deadline.
    problem = known_hosts_problem(options.known_hosts)
    if problem is not None:
        raise TopologyNotReadyError(f"{options.target}: {problem}")
    skip_packet_logging_when_off()
    accept_new = options.accept_new_host_key and not _has_recorded_key(options)
    gate = connect_gate()
    spent = 0.0  # seconds of attempts and pauses: the wait for a slot of the gate is not the host's
    backoff = FIRST_BACKOFF_S
    attempts = shed = 0
    last_error = "no attempt was made"
    while (remaining := options.connect_timeout_s - spent) > 0:
        attempts += 1
        async with gate.handshake(options.host, options.port) as slot:
            started = time.monotonic()
            result = await _attempt(options, accept_new, remaining, slot)
            took = time.monotonic() - started
        uncounted = slot.shed and shed < MAX_SHED_ATTEMPTS
        shed += uncounted
        spent += 0.0 if uncounted else took
        if isinstance(result, asyncssh.SSHClientConnection):
            if accept_new:
                _record_host_key(options, result)
            omit_ignore_packets(result)
            return result
        last_error = result
        # Jitter spreads the retries of many hosts failing at once.
        pause = min(backoff * (1 + random.random()), max(0.0, options.connect_timeout_s - spent))
        await anyio.sleep(pause)
        spent += 0.0 if uncounted else pause
        backoff = min(backoff * 2, MAX_BACKOFF_S)
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if shed:
        tries += f", {shed} of them dropped by the busy server and not counted"
    raise TopologyNotReadyError(
        f"{options.target}: could not connect within {options.connect_timeout_s:g} s ({tries}, the last: {last_error})"
    )


async def _attempt(
    options: ConnectOptions, accept_new: bool, timeout_s: float, slot: Attempt
) -> asyncssh.SSHClientConnection | str:
    """One handshake: the connection, or why it failed when trying again may help. A final failure raises."""
    try:
        with anyio.fail_after(timeout_s):
            return await asyncssh.connect(**_connect_kwargs(options, accept_new, timeout_s))
    except asyncssh.HostKeyNotVerifiable as exc:
        raise _host_key_error(options, exc) from None
    except asyncssh.PermissionDenied as exc:
        raise AuthenticationError(f"{options.target}: authentication failed ({exc.reason}); check the user and key") from None
    except TimeoutError:
        return "timed out"
    except (OSError, asyncssh.Error) as exc:
        if not is_transient(exc):
            raise TopologyNotReadyError(f"{options.target}: could not connect: {_describe(exc)}") from None
        slot.dropped = is_dropped_handshake(exc)
        return _describe(exc)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed connection attempt may succeed when tried again (the server busy, restarting, dropping)."""
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN  # a name that does not resolve stays so; a resolver that failed may not
    if isinstance(exc, OSError):
        return True  # refused, reset, unreachable: the host or the network may come back
    # The server closed the connection during the handshake (sshd past MaxStartups, or restarting).
    return isinstance(exc, (asyncssh.ConnectionLost, asyncssh.ServiceNotAvailable))


def is_dropped_handshake(exc: BaseException) -> bool:
    """Whether a server that answered dropped the handshake: the sign of too many at once (its MaxStartups)."""
    return isinstance(exc, (asyncssh.ConnectionLost, ConnectionResetError, BrokenPipeError, ConnectionRefusedError))


def _connect_kwargs(options: ConnectOptions, accept_new: bool, timeout_s: float) -> dict[str, object]:
    kwargs: dict[str, object] = {
        "host": options.host,
        "port": options.port,
        # None switches verification off: only for a host with no key on record
        # whose new key the caller chose to accept, and that key is recorded next.
        "known_hosts": None if accept_new else _known_hosts(options),
        "connect_timeout": timeout_s,
        "keepalive_interval": KEEPALIVE_INTERVAL_S,
        # Never prompt on a terminal: a run over many hosts must not stop to ask.
        "kbdint_auth": False,
        # Nothing of the operator's environment goes to the host, whatever
        # ~/.ssh/config's SendEnv or SetEnv say (Debian's sends LANG LC_*).
        "env": {},
        "send_env": [],
        "encryption_algs": list(CIPHER_PREFERENCE),
    }
    if options.user is not None:
        kwargs["username"] = options.user
    if options.client_keys is not None:
        kwargs["client_keys"] = list(options.client_keys)
    if not options.use_agent:
        kwargs["agent_path"] = None
    if options.password is not None:
        kwargs["password"] = options.password.reveal()
    return kwargs


def _known_hosts(options: ConnectOptions) -> asyncssh.SSHKnownHosts:
    # A missing file means no key is trusted: every host is then unknown,
    # which is reported as such rather than as a file error.
    return _read_known_hosts(options.known_hosts_path) or asyncssh.import_known_hosts("")


def _read_known_hosts(path: str) -> asyncssh.SSHKnownHosts | None:
    """The file as it is now, parsed once per content: asyncssh would parse it again for every connection
    (a fleet's file has a line per host, so N hosts cost N x N lines, about 0.5 s at 100 hosts). Keyed
    by the content, not the modification time, which two writes within a clock tick share."""
    try:
        with open(path, "rb") as handle:
            content = handle.read()
    except OSError:
        return None
    return _parsed_known_hosts(content)


@functools.lru_cache(maxsize=16)
def _parsed_known_hosts(content: bytes) -> asyncssh.SSHKnownHosts:
    return asyncssh.import_known_hosts(content.decode("utf-8", "surrogateescape"))


def _recorded_keys(options: ConnectOptions) -> list[asyncssh.SSHKey]:
    known = _read_known_hosts(options.known_hosts_path)
    if known is None:
        return []
    trusted, _ca, _revoked, _x509, _x509_ca, _x509_revoked, _subjects = known.match(
        options.host, options.host, options.port
    )
    return list(trusted)


def _has_recorded_key(options: ConnectOptions) -> bool:
    return bool(_recorded_keys(options))


def _host_key_error(options: ConnectOptions, exc: asyncssh.HostKeyNotVerifiable) -> HostKeyError:
    if _has_recorded_key(options):
        return HostKeyError(
            f"{options.target}: host key CHANGED: the key the host offered does not match the one in "
            f"{options.known_hosts_path}; refusing to connect (this can be a man-in-the-middle). "
            "If the host was really re-installed, remove its old line from known_hosts."
        )
    return HostKeyError(
        f"{options.target}: host key unknown: {options.known_hosts_path} has no key for this host; "
        f"add it (e.g. ssh-keyscan -p {options.port} {options.host} >> {options.known_hosts}) "
        "after checking its fingerprint, or pass accept_new_host_key=True to trust it on first use"
    )


def _record_host_key(options: ConnectOptions, conn: asyncssh.SSHClientConnection) -> None:
    key = conn.get_server_host_key()
    if key is None:
        return
    name = options.host if options.port == 22 else f"[{options.host}]:{options.port}"
    line = f"{name} {key.export_public_key('openssh').decode('ascii').strip()}\n"
    path = options.known_hosts_path
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a", encoding="ascii") as handle:
        handle.write(line)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.ConnectionLost):
        return "the server closed the connection during the handshake (too many at once for its MaxStartups, or restarting)"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"disconnected: {exc.reason}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
