"""The TLS Pod scripts of PostgreSQL on Kubernetes (adr/0103), run for real on this machine.

The emulator runs no containers, so the scripts the StatefulSet's containers run
are run here, as tests/k8s/test_postgres_exec.py does, with pass-through shims
for what the image provides (gosu; docker-entrypoint.sh on initialised data) and a
directory standing for each Pod's mounted Secret, holding what the kubelet would
put there: the member's certificates from the cluster's authority. A primary
serves TLS only; a replica is cloned by pg_basebackup and streams, verifying the
primary (verify-full) and authenticated by the replication role's certificate,
which ``pg_stat_ssl`` shows on the primary; a rotated Secret is loaded by the
rotation's reload without a restart.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capabilities.postgresql import PgCertificates, PgConfig
from harmony_py.scores.k8s_postgres_manifests import (
    TLS_FILES,
    PodPaths,
    prepare_script,
    server_script,
    tls_certificates_sha256,
    tls_reload_script,
)
from topologies.postgres.text import replication_role_sql, scram_verifier
from topologies.postgres.tls import ClusterAuthority, new_authority
from topologies.secret_store import SecretStore

from tests.ports import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORT = free_port()
CONFIG = PgConfig("orders", port=PORT, tls=True)
NAMES = ("127.0.0.1", "localhost")
"""The names the test's primary is reached at (a Pod's would be its Service's DNS names)."""


@dataclass
class Pod:
    """One member's "Pod": its data volume, its mounted Secret and its socket directory."""

    paths: PodPaths
    sockets: Path
    server: subprocess.Popen[bytes] | None = None

    def mount(self, certificates: PgCertificates) -> None:
        """What the kubelet does with the member's TLS Secret (mode 0600, root)."""
        values = {
            "root.crt": certificates.authority, "server.crt": certificates.server_certificate,
            "server.key": certificates.server_key.reveal(), "replication.crt": certificates.client_certificate,
            "replication.key": certificates.client_key.reveal(),
        }  # fmt: skip
        mount = Path(self.paths.tls_mount)
        mount.mkdir(exist_ok=True)
        for name in TLS_FILES:
            (mount / name).write_text(values[name])
            (mount / name).chmod(0o600)


def as_postgres(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=120)


def psql(conninfo: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PG_BIN / "psql"), "-XAtq", "-d", conninfo, "-c", sql], capture_output=True, text=True, timeout=60, check=False)


def local(pod: Pod, sql: str) -> str:
    ran = psql(f"host={pod.sockets} port={PORT} user=postgres dbname=postgres", sql)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()


def poll(check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline, delay = time.monotonic() + timeout_s, 0.05
    while not check():
        assert time.monotonic() < deadline, f"still not true after {timeout_s} s"
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


@pytest.fixture
def root() -> Iterator[Path]:
    if not (PG_BIN / "pg_ctl").exists():
        pytest.fail("PostgreSQL 15 is not installed (Debian package postgresql-15)")
    made = Path(tempfile.mkdtemp(prefix="harmony-k8s-tls-"))
    made.chmod(0o755)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def shims(root: Path) -> Path:
    """gosu and docker-entrypoint.sh as pass-throughs; the entrypoint keeps the server where the test says
    (``LISTEN``: 127.0.0.1 for the primary, none for the replica; ``SOCKETS``: its socket directory)."""
    made = root / "shims"
    made.mkdir()
    as_user = 'exec setpriv --reuid="$u" --regid="$u" --init-groups'
    (made / "gosu").write_text(f'#!/bin/sh\nu=$1; shift; {as_user} "$@"\n')
    (made / "docker-entrypoint.sh").write_text(
        f'#!/bin/sh\nu=postgres; {as_user} "$@" -c "listen_addresses=$LISTEN" -c "unix_socket_directories=$SOCKETS"\n'
    )
    for shim in made.iterdir():
        shim.chmod(0o755)
    return made


@pytest.fixture
def pods(root: Path) -> Iterator[dict[str, Pod]]:
    made = {}
    for name in ("primary", "replica"):
        sockets = root / f"{name}-run"
        sockets.mkdir()
        subprocess.run(["chown", "postgres:postgres", str(sockets)], check=True)
        made[name] = Pod(PodPaths(str(root / f"{name}-data"), tls_mount=str(root / f"{name}-secret")), sockets)
        Path(made[name].paths.data).mkdir()
    try:
        yield made
    finally:
        for pod in made.values():
            if pod.server is not None and pod.server.poll() is None:
                os.killpg(pod.server.pid, signal.SIGKILL)
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "stop", "-D", pod.paths.pgdata, "-m", "immediate", "-w"],
                           capture_output=True, check=False, timeout=60)  # fmt: skip


def fingerprint(certificate: str) -> str:
    ran = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=certificate, capture_output=True, text=True, check=True)
    return ran.stdout.strip()


def presented_fingerprint() -> str:
    """The fingerprint of the certificate the primary presents to a new connection."""
    script = f"openssl s_client -starttls postgres -connect 127.0.0.1:{PORT} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, check=False).stdout.strip()


def run_script(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_replica_clones_and_streams_over_tls_by_certificate_and_a_rotation_reloads(
    root: Path, shims: Path, pods: dict[str, Pod]
) -> None:
    authority = ClusterAuthority(SecretStore(root / "secrets"), CONFIG)
    primary, replica = pods["primary"], pods["replica"]
    first = authority.certificates("primary", NAMES)
    primary.mount(first)
    replica.mount(authority.certificates("replica", ("replica.invalid",)))
    path = f"{shims}:{PG_BIN}:/usr/sbin:/usr/bin:/sbin:/bin"

    # The primary's Pod: the init container installs the certificates and pg_hba; the server runs TLS only.
    env = {"PATH": path, "HARMONY_PG_ROLE": "primary", "PGDATA": primary.paths.pgdata, "LISTEN": "127.0.0.1", "SOCKETS": str(primary.sockets)}
    prepared = run_script(prepare_script(primary.paths, tls=CONFIG), env)
    assert prepared.returncode == 0, prepared.stderr
    for name in (*TLS_FILES, "pg_hba.conf"):
        installed = Path(primary.paths.tls_file(name)).stat()
        assert (installed.st_mode & 0o777, installed.st_uid) == (0o600, int(subprocess.check_output(["id", "-u", "postgres"])))
    as_postgres(str(PG_BIN / "initdb"), "-D", primary.paths.pgdata, "-U", "postgres", "--auth=trust", "--no-sync")
    primary.server = subprocess.Popen(["sh", "-c", server_script(CONFIG, primary.paths, tls=True)], env=env, start_new_session=True)
    poll(lambda: psql(f"host={primary.sockets} port={PORT} user=postgres dbname=postgres", "SELECT 1").returncode == 0)
    # What the primary's converge makes (adr/0060): the replication role, a user, the replica's slot.
    local(primary, replication_role_sql("replicator", scram_verifier("unused-Pass"), exists=False))
    local(primary, f"CREATE ROLE app LOGIN PASSWORD '{scram_verifier('app-Pass')}'")
    local(primary, "SELECT pg_create_physical_replication_slot('harmony_replica')")

    # The replica's Pod: cloned over TLS with the replication role's certificate (no password), then streaming.
    env_replica = {
        "PATH": path, "HARMONY_PG_ROLE": "replica", "PGDATA": replica.paths.pgdata, "LISTEN": "", "SOCKETS": str(replica.sockets),
        "SOURCE_HOST": "127.0.0.1", "SOURCE_PORT": str(PORT), "SOURCE_USER": "replicator", "SOURCE_PASSWORD": "",
        "SOURCE_SLOT": "harmony_replica", "APPLICATION_NAME": "replica",
    }  # fmt: skip
    cloned = run_script(prepare_script(replica.paths, tls=CONFIG), env_replica)
    assert cloned.returncode == 0, cloned.stderr
    assert not Path(replica.paths.passfile).exists()  # by certificate: no password in any file
    replica.server = subprocess.Popen(["sh", "-c", server_script(CONFIG, replica.paths, tls=True)], env=env_replica, start_new_session=True)
    streaming = "SELECT r.state, s.ssl, s.client_dn FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = 'replica'"
    poll(lambda: local(primary, streaming) == "streaming|t|/CN=replicator")

    # Clients: verify-full against the cluster's CA with a password; refused without TLS or with another CA.
    ca = root / "client-root.crt"
    ca.write_text(authority.authority().certificate)
    client = f"host=127.0.0.1 port={PORT} user=app password=app-Pass dbname=postgres sslrootcert={ca}"
    verified = psql(f"{client} sslmode=verify-full", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert (verified.returncode, verified.stdout.strip()) == (0, "t"), verified.stderr
    plain = psql(f"{client} sslmode=disable", "SELECT 1")
    assert plain.returncode != 0 and "no pg_hba.conf entry" in plain.stderr and "no encryption" in plain.stderr
    other = root / "other-root.crt"
    other.write_text(new_authority("other").certificate)
    assert "certificate verify failed" in psql(f"{client.replace(str(ca), str(other))} sslmode=verify-full", "SELECT 1").stderr
    # The replication role has no password: without its certificate it is refused.
    without = psql(f"host=127.0.0.1 port={PORT} user=replicator dbname=postgres sslmode=verify-full sslrootcert={ca}", "SELECT 1")
    assert without.returncode != 0 and "certificate" in without.stderr, without.stderr

    # A rotation: the kubelet shows the re-issued certificates in the mounted Secret; the reload installs
    # them and the server presents the new one to the next connection, without a restart.
    started = local(primary, "SELECT pg_postmaster_start_time()")
    assert presented_fingerprint() == fingerprint(first.server_certificate)
    rotated = ClusterAuthority(SecretStore(root / "secrets"), dataclasses.replace(CONFIG, tls_rotate_before=datetime.timedelta(days=400)))
    fresh = rotated.certificates("primary", NAMES)
    primary.mount(fresh)
    reloaded = run_script(tls_reload_script(CONFIG, tls_certificates_sha256(fresh), primary.paths, wait_s=5), env)
    assert reloaded.returncode == 0, reloaded.stderr
    wanted = fingerprint(fresh.server_certificate)
    assert wanted != fingerprint(first.server_certificate)
    poll(lambda: presented_fingerprint() == wanted, timeout_s=10)
    assert local(primary, "SELECT pg_postmaster_start_time()") == started
    assert local(primary, streaming) == "streaming|t|/CN=replicator"
    # A reload that never sees the new certificates mounted fails, naming why (and changes nothing).
    stale = run_script(tls_reload_script(CONFIG, "0" * 64, primary.paths, wait_s=1), env)
    assert stale.returncode == 1 and "still holds other certificates after 1 s" in stale.stderr
