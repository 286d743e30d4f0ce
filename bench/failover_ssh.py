"""The members of ``bench/failover.py --over-ssh``: two LinuxHostTopology hosts, each an sshd of the benchmark's own.

Each host is an sshd on its own loopback address (127.37.0.1 and 127.37.0.2,
ports below 32768), started in its own mount namespace where
``/var/lib/postgresql`` is a private directory: PostgreSQL's default layout on
each host, as on two machines. Each host's PostgreSQL listens on the host's own
address (``postgres_listen``), the port the same on both. The hosts' login shell
reads no rc files (``SetEnv SHLVL=1``, as bench/rolling.py and bench/fanout.py):
otherwise this machine's root ``.bashrc`` (``pyenv init``) would be measured.

Everything is torn down afterwards, also on failure: the PostgreSQL servers
under each private directory and the sshd processes.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.docker.conftest import QUIET_SHELL
from tests.ssh.netns_hosts import stop_postgres_under
from tests.ssh.sshd import SshServer, make_user_key, start_server, stop_server, write_known_hosts
from topologies import FailoverTopology, LinuxHostTopology
from topologies.host.ssh import files, session_pool

ADDRESSES = ("127.37.0.1", "127.37.0.2")
NETWORK = "127.37.0.0/24"
PG_HOME = Path("/var/lib/postgresql")


@dataclass(frozen=True)
class SshMembers:
    topology: FailoverTopology[LinuxHostTopology]
    views: dict[str, Path]
    """Each member's private /var/lib/postgresql, seen from this process (by label)."""

    def data_dir(self, label: str, cluster: str) -> Path:
        return self.views[label] / "15" / cluster / "data"


@contextlib.contextmanager
def ssh_members(base: Path) -> Iterator[SshMembers]:
    """Two hosts over SSH, PostgreSQL's directory private to each; everything stopped afterwards."""
    key = make_user_key(base)
    servers: list[SshServer] = []
    try:
        for n, address in enumerate(ADDRESSES):
            servers.append(
                start_server(address, base / f"host-{n}", key, extra_config=QUIET_SHELL, mount_point=PG_HOME)
            )
        known_hosts = str(write_known_hosts(base / "known_hosts", servers))

        def host(server: SshServer) -> LinuxHostTopology:
            return LinuxHostTopology(
                server.address, port=server.port, user="root", client_keys=(str(key.private_path),), use_agent=False,
                known_hosts=known_hosts, postgres_listen=(server.address,), postgres_networks=(NETWORK,),
            )  # fmt: skip

        topology = FailoverTopology[LinuxHostTopology](host(servers[0]), host(servers[1]))
        views = {label: server.view for label, server in zip(("primary", "replica"), servers) if server.view is not None}
        yield SshMembers(topology, views)
    finally:
        for server in servers:
            if server.view is not None:
                stop_postgres_under(server.view)
            stop_server(server)


class RoundTrips:
    """Counts what the hosts were sent (session commands, exec channels, SFTP requests) while installed."""

    def __init__(self, *, trace: bool = False) -> None:
        self.counts: Counter[str] = Counter()
        self.trace = trace
        """Print every request with its start (since the last take) and duration, to profile an operation."""
        self._undo: list[tuple[object, str, Any]] = []
        self._since = time.monotonic()

    def _wrap(self, owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[label] += 1
            started = time.monotonic()
            try:
                return await original(*args, **kwargs)
            finally:
                if self.trace:
                    took = time.monotonic() - started
                    print(f"  {started - self._since:7.3f} +{took * 1000:6.1f} ms {label}: {_detail(args)}", flush=True)

        self._undo.append((owner, name, original))
        setattr(owner, name, counted)

    @contextlib.contextmanager
    def installed(self) -> Iterator[RoundTrips]:
        self._wrap(session_pool.SessionPool, "run", "command")
        self._wrap(session_pool, "run_wrapped", "exec channel")
        for name in ("stat", "read_file", "write_file", "set_mode", "make_directory", "resolve"):
            self._wrap(files, name, "sftp")
        try:
            yield self
        finally:
            for owner, name, original in reversed(self._undo):
                setattr(owner, name, original)
            self._undo.clear()

    def take(self) -> Counter[str]:
        """The counts since the last take."""
        taken, self.counts = self.counts, Counter()
        self._since = time.monotonic()
        return taken


def _detail(args: tuple[Any, ...]) -> str:
    """The program (and SQL) of a command, or the path of an SFTP request, shortened."""
    for arg in args:
        if isinstance(arg, tuple) and arg and all(isinstance(a, str) for a in arg):
            words = [a for a in arg if not a.startswith(("env", "PATH=", "LANG=", "PGPASSFILE=")) and a not in ("-i", "runuser", "-u", "postgres", "--")]
            return " ".join(w.rsplit("/", 1)[-1] if w.startswith("/usr/lib") else w for w in words)[:150]
        if isinstance(arg, str):
            return arg
    return ""
