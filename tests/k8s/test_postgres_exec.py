"""The exec-based PostgreSQL primitives of K8sAnywhereTopology against real PostgreSQL 15 servers.

The emulator's toy kubelet runs each exec as a local process; the "Pods"
``orders-0`` of namespaces ``pg-a`` and ``pg-b`` are mapped (through PGHOST)
to a real primary and a real streaming replica this module starts, listening
on private Unix sockets only (no TCP port). So the psql invocations, the
status query, ``ALTER SYSTEM`` (also on a standby), replication slots and
``pg_promote`` run for real; what needs the image (gosu, the containers'
scripts, pg_basebackup inside the Pod, DNS names) is the real_cluster tier's.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from capabilities.postgresql import PgConfig, PgUser, ReplicationRole
from harmony_py.scores.k8s_postgres_manifests import Declared, PodPaths, manifests, prepare_script, server_script, stop_script
from topologies.postgres.text import replication_role_sql, scram_verifier
from topologies import FailoverTopology, K8sAnywhereTopology

from tests.ports import free_port

from .harness import EmulatorThread

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORT = free_port()
"""The cluster's port: the primary also listens on 127.0.0.1:PORT, where the replica reaches it under the
Service's name (``host=orders.pg-a.svc hostaddr=127.0.0.1``), so its upstream reads as in a cluster."""
CONFIG = PgConfig("orders", port=PORT, databases=("orders",), users=(PgUser("app", databases=("orders",)),))


def as_postgres(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=120)


def start(data: Path, socket_dir: Path, *, tcp: bool = False) -> None:
    socket_dir.mkdir(mode=0o755)
    subprocess.run(["chown", "postgres:postgres", str(socket_dir)], check=True)
    listen = "127.0.0.1" if tcp else "''"
    options = f"-c listen_addresses={listen} -c unix_socket_directories={socket_dir} -c port={PORT}"
    as_postgres(str(PG_BIN / "pg_ctl"), "start", "-w", "-D", str(data), "-l", f"{data}.log", "-o", options)


def psql(socket_dir: Path, sql: str) -> str:
    result = subprocess.run(
        [str(PG_BIN / "psql"), "-XAtq", "-h", str(socket_dir), "-p", str(PORT), "-U", "postgres", "-d", "postgres", "-c", sql],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return result.stdout.strip()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Path]]:
    """A primary and a replica streaming from it as ``application_name`` "replica"; sockets only."""
    if not (PG_BIN / "pg_ctl").exists():
        pytest.fail("PostgreSQL 15 is not installed (Debian package postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="harmony-k8s-pg-"))
    root.chmod(0o755)
    subprocess.run(["chown", "postgres:postgres", str(root)], check=True)
    primary, replica = root / "primary", root / "replica"
    try:
        as_postgres(str(PG_BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "--no-sync")
        start(primary, root / "primary-run", tcp=True)
        as_postgres(str(PG_BIN / "pg_basebackup"), "-D", str(replica), "-h", str(root / "primary-run"), "-p", str(PORT),
                    "-U", "postgres", "-X", "stream", "-c", "fast", "--no-sync")  # fmt: skip
        conninfo = f"host=orders.pg-a.svc hostaddr=127.0.0.1 port={PORT} user=postgres application_name=replica"
        as_postgres("sh", "-c", f"echo \"primary_conninfo = '{conninfo}'\" >> {replica}/postgresql.auto.conf && touch {replica}/standby.signal")
        start(replica, root / "replica-run")
        yield {"primary": root / "primary-run", "replica": root / "replica-run"}
    finally:
        for data in (replica, primary):
            if (data / "postmaster.pid").exists():
                subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w"],
                               capture_output=True, check=False, timeout=60)  # fmt: skip
        subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.fixture
async def pair(server: EmulatorThread, kubeconfig: Path, servers: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FailoverTopology[K8sAnywhereTopology]:
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(tmp_path / "secrets"))
    members = {
        ns: K8sAnywhereTopology(kubeconfig=str(kubeconfig), namespace=ns, request_timeout_s=5.0, retries=0, postgres_ready_timeout_s=5.0)
        for ns in ("pg-a", "pg-b")
    }

    def kubelet() -> None:
        api = server.api
        api.exec_locally = True
        for ns, role in (("pg-a", "primary"), ("pg-b", "replica")):
            api.put_object("", "v1", "namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orders-0", "namespace": ns}, "status": {"phase": "Running"}}
            api.put_object("", "v1", "pods", ns, pod)
            api.exec_env[(ns, "orders-0")] = {"PGHOST": str(servers[role]), "PATH": f"{PG_BIN}:/usr/bin:/bin"}

    server.call(kubelet)
    return FailoverTopology(members["pg-a"], members["pg-b"])


def test_the_init_script_adds_the_replication_line_and_no_role(servers: dict[str, Path], tmp_path: Path) -> None:
    """Roles and databases are the converge's (adr/0060): the image's init script only opens replication."""
    config = PgConfig("orders", databases=("orders",), users=(PgUser("app", databases=("orders",)),))
    script = next(o for o in manifests(config, {"app": "a"}, Declared(), None) if o["metadata"]["name"] == "orders-init")["data"]["10-harmony.sh"]
    (tmp_path / "pg_hba.conf").write_text("")
    env = {"PATH": "/usr/bin:/bin", "PGDATA": str(tmp_path)}
    ran = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "pg_hba.conf").read_text() == "host replication replicator all scram-sha-256\n"
    assert "ROLE" not in script and "psql" not in script


def test_the_pod_scripts_clone_stream_stop_and_terminate(servers: dict[str, Path]) -> None:
    """The init container's and the server container's scripts, run here with two pass-through shims
    for what the image provides (gosu; docker-entrypoint.sh on initialised data, kept off TCP)."""
    root = servers["primary"].parent
    paths = PodPaths(str(root / "pod-data"))
    shims, sockets = root / "shims", root / "pod-run"
    shims.mkdir()
    # Like gosu, setpriv execs the program (no process in between), so signals reach the server.
    as_user = 'exec setpriv --reuid="$u" --regid="$u" --init-groups'
    (shims / "gosu").write_text(f'#!/bin/sh\nu=$1; shift; {as_user} "$@"\n')
    (shims / "docker-entrypoint.sh").write_text(
        f'#!/bin/sh\nu=postgres; {as_user} "$@" -c listen_addresses= -c unix_socket_directories={sockets}\n'
    )
    for shim in shims.iterdir():
        shim.chmod(0o755)
    (root / "pod-data").mkdir()
    sockets.mkdir()
    subprocess.run(["chown", "postgres:postgres", str(sockets)], check=True)
    # The replication role as the primary's converge makes it (the init script makes none).
    psql(servers["primary"], replication_role_sql("replicator", scram_verifier("r-Pass:1"), exists=False))
    psql(servers["primary"], "SELECT pg_create_physical_replication_slot('harmony_scripted')")
    env = {
        "PATH": f"{shims}:{PG_BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "HARMONY_PG_ROLE": "replica", "SOURCE_HOST": str(servers["primary"]),
        "SOURCE_PORT": str(PORT), "SOURCE_USER": "replicator", "SOURCE_PASSWORD": "r-Pass:1", "SOURCE_SLOT": "harmony_scripted",
        "APPLICATION_NAME": "scripted", "PGDATA": paths.pgdata,  # the container's environment
    }  # fmt: skip
    server: subprocess.Popen[bytes] | None = None
    # Settings reach the server as -c arguments; WAL kept so that pg_rewind finds the common checkpoint
    # (right after a clone and a promotion, recycled WAL would make it refuse, see postgres_server.rewind).
    config = dataclasses.replace(CONFIG, settings={"wal_keep_size": "64MB"})

    def streaming() -> None:
        def check() -> bool:
            assert server is not None and server.poll() is None, "the server script ended"
            return psql(servers["primary"], "SELECT state FROM pg_stat_replication WHERE application_name = 'scripted'") == "streaming"

        _poll(check)

    try:
        prepared = subprocess.run(["sh", "-c", prepare_script(paths)], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert prepared.returncode == 0, prepared.stderr
        assert Path(paths.pgdata, "PG_VERSION").exists()
        assert Path(paths.passfile).read_text() == "*:*:*:replicator:r-Pass\\:1\n" and Path(paths.passfile).stat().st_mode & 0o777 == 0o600
        assert Path(paths.pgdata, "standby.signal").exists()

        server = subprocess.Popen(["sh", "-c", server_script(config, paths)], env=env, start_new_session=True)
        streaming()
        # It diverges, as a replica promoted in a failover and written to does.
        psql(sockets, "SELECT pg_promote(true, 60)")
        psql(sockets, "CREATE TABLE diverged AS SELECT 1 AS v")
        # A clean stop through the stop script: the server is down, the script (the Pod) is not.
        stopped = subprocess.run(["sh", "-c", stop_script(paths)], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert stopped.returncode == 0, stopped.stderr
        assert re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", stopped.stdout.strip()), stopped.stdout
        assert server.poll() is None and not Path(paths.pgdata, "postmaster.pid").exists()
        Path(paths.stopped_marker).unlink()  # what a new Pod's init container does
        assert server.wait(timeout=30) == 0

        # The server container restarted in the same Pod (no init container, the environment still
        # says replica) keeps what the server left: the promoted primary stays a primary.
        server = subprocess.Popen(["sh", "-c", server_script(config, paths)], env=env, start_new_session=True)
        _poll(lambda: _answers(sockets, "SELECT pg_is_in_recovery()") == "f")
        assert subprocess.run(["sh", "-c", stop_script(paths)], env=env, capture_output=True, timeout=120, check=False).returncode == 0
        Path(paths.stopped_marker).unlink()
        assert server.wait(timeout=30) == 0

        # Declared to rejoin with a rewind: the init container rewinds it onto the primary's history,
        # and it starts as a replica streaming from it again.
        rewound = subprocess.run(["sh", "-c", prepare_script(paths)], env={**env, "HARMONY_PG_REWIND": "t1"},
                                 capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert rewound.returncode == 0, rewound.stderr
        assert "pg_rewind: Done!" in rewound.stderr and Path(paths.rewound_marker).read_text() == "t1\n"
        server = subprocess.Popen(["sh", "-c", server_script(config, paths)], env=env, start_new_session=True)
        streaming()
        # Readable once it replayed past where the rewind left it (WAL the idle primary is made to write).
        psql(servers["primary"], "CHECKPOINT")
        _poll(lambda: _answers(sockets, "SELECT to_regclass('diverged') IS NULL") == "t")
        # A later Pod start with the same declaration does not rewind again (it would need the source up).
        again = subprocess.run(["sh", "-c", prepare_script(paths)], env={**env, "HARMONY_PG_REWIND": "t1", "SOURCE_HOST": "/nonexistent"},
                               capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert again.returncode == 0 and "pg_rewind" not in again.stderr, again.stderr
        # The Pod is terminated: a fast shutdown, exit 0.
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0 and not Path(paths.pgdata, "postmaster.pid").exists()
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "stop", "-D", paths.pgdata, "-m", "immediate", "-w"],
                       capture_output=True, check=False, timeout=60)  # fmt: skip


def _answers(socket_dir: Path, sql: str) -> str | None:
    try:
        return psql(socket_dir, sql)
    except subprocess.CalledProcessError:
        return None  # not accepting connections yet


def _poll(check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline, delay = time.monotonic() + timeout_s, 0.05
    while not check():
        assert time.monotonic() < deadline, f"still not true after {timeout_s} s"
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


async def test_exec_primitives_on_real_servers(pair: FailoverTopology[K8sAnywhereTopology], servers: dict[str, Path], server: EmulatorThread) -> None:
    # Deploy: the primary's objects, its slot and standby set through exec; the replica's objects.
    changes = await pair.postgresql().deploy(CONFIG)
    summaries = [f"{c.target}: {c.summary}" for c in changes]
    assert any("clone primary with pg_basebackup" in s for s in summaries), summaries
    assert psql(servers["primary"], "SHOW synchronous_standby_names") == 'FIRST 1 ("replica")'
    assert psql(servers["primary"], "SELECT slot_name FROM pg_replication_slots") == "harmony_replica"

    status = await pair.postgresql().status(CONFIG)
    primary, replica = status.member("primary").state, status.member("replica").state
    assert (primary.role, primary.sync_standbys, primary.timeline) == (ReplicationRole.PRIMARY, ("replica",), 1)
    assert [(s.name, s.sync_state) for s in primary.standbys] == [("replica", "sync")]
    assert replica.role is ReplicationRole.REPLICA and replica.upstream == status.member("primary").address == f"orders.pg-a.svc:{PORT}"
    assert primary.lsn is not None and replica.lsn is not None

    # Nothing left to do: a second deploy and a plan are empty (exec'd status, declared objects).
    assert await pair.postgresql().deploy(CONFIG) == []
    assert await pair.postgresql().plan(CONFIG) == []

    await pair.primary.postgresql().checkpoint(CONFIG)
    # A commit waits for the replica, which streams it (also the probe a switchover's check commits).
    await pair.primary.postgresql().probe_write(CONFIG, 60.0)
    psql(servers["primary"], "CREATE TABLE t AS SELECT 1 AS v")
    assert psql(servers["replica"], "SELECT v FROM t") == "1"

    # Promotion: the standby set first (ALTER SYSTEM on a standby), then pg_promote; declared a primary.
    await pair.replica.postgresql().promote(CONFIG, ())
    assert (await pair.replica.postgresql().replication(CONFIG)).role is ReplicationRole.PRIMARY
    # The control file shows the new timeline after a checkpoint (why the orchestration asks for one).
    await pair.replica.postgresql().checkpoint(CONFIG)
    assert (await pair.replica.postgresql().replication(CONFIG)).timeline == 2
    declared = server.call(lambda: server.api.find("ConfigMap", "orders-replication", "pg-b"))
    assert declared is not None and declared["data"] == {"role": "primary"}
