"""The Kubernetes objects of one PostgreSQL server (one member of a replicated cluster).

Built here, beside the scores, so that ``topologies.k8s.postgres`` (apply) and
``harmony_py.render`` (files) send the same objects.

A server ``config.name`` in a namespace is:

- Secret ``<name>-credentials``: every password it needs (superuser, users, the
  replication user, and the source's replication password when it follows one);
- ConfigMap ``<name>-init``: the replication ``pg_hba`` line, run by the image
  on the first start of an empty primary (roles, grants and databases are made
  by the primary's converge through exec, adr/0060);
- ConfigMap ``<name>-replication``: its declared role and upstream, read by its
  containers at each start (so a promotion needs no restart, and a re-point is
  one Pod restart);
- Service ``<name>`` and StatefulSet ``<name>`` (one Pod ``<name>-0``, data on a
  PersistentVolumeClaim from a volume claim template);
- with TLS (adr/0103), Secret ``<name>-tls``: the cluster's CA certificate, this
  member's server certificate and key, and the replication role's client
  certificate and key, mounted (mode 0600) where the init container copies them
  beside PGDATA, owned by postgres, 0600, with the ``pg_hba.conf`` the server
  reads (``hostssl`` only: replication by certificate, clients by password).

The Pod template is the same for a primary and a replica: what differs is in
the ConfigMap and Secret, read by each new Pod. Its init container clones an empty
replica with ``pg_basebackup`` (or rewinds a former primary with ``pg_rewind``);
the server runs as a child of a small shell so that a clean stop (switchover)
leaves the Pod up, serving nothing, until it is restarted.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from capabilities.postgresql import PgCertificates, PgConfig

from .pg_server_settings import server_tls_settings

SUPERUSER = "postgres"
SOURCE_PASSWORD_KEY = "replication-source"
FENCED_ANNOTATION = "harmony.dev/postgres-fenced"
STOPPED_ANNOTATION = "harmony.dev/postgres-stopped"
CONTAINER = "postgres"
DATA = "/var/lib/postgresql/data"
PGDATA = f"{DATA}/pgdata"
POSTGRES_GID = 999
"""The postgres group of the official Debian-based image (the Pod's fsGroup)."""
TLS_MOUNT = "/etc/harmony/tls"
"""Where the TLS Secret is mounted in the Pod's containers."""
TLS_FILES = ("root.crt", "server.crt", "server.key", "replication.crt", "replication.key")
"""The keys of the TLS Secret, which are also the names of the files the server reads."""


@dataclass(frozen=True)
class Declared:
    """What a server is declared to be: its role, whom it follows, and whether it is held down."""

    role: str = "primary"
    source_host: str = ""
    source_port: int = 0
    source_user: str = ""
    slot: str = ""
    application_name: str = ""
    rewind: str = ""
    """A token asking the init container to rewind the data onto the source once (empty: never)."""
    fenced: bool = False
    stopped: bool = False

    @property
    def upstream(self) -> str | None:
        return f"{self.source_host}:{self.source_port}" if self.role == "replica" and self.source_host else None


def secret_name(config: PgConfig) -> str:
    return f"{config.name}-credentials"


def secret_keys(config: PgConfig) -> list[str]:
    """The users whose passwords the server's Secret holds: the superuser, the replication user, the users."""
    return [SUPERUSER, config.replication_user, *(user.name for user in config.users)]


def tls_on_kubernetes(config: PgConfig) -> bool:
    """Whether a server on Kubernetes runs TLS: ``tls`` when the score sets it, else on, since a Pod's
    server always listens beyond loopback for its Service (the cluster rule of adr/0100; adr/0103)."""
    return config.tls is not False


def tls_secret_name(config: PgConfig) -> str:
    return f"{config.name}-tls"


def tls_secret_data(certificates: PgCertificates) -> dict[str, str]:
    """The TLS Secret's ``data`` (base64): one key per file the server and its replication client read."""
    values = {
        "root.crt": certificates.authority,
        "server.crt": certificates.server_certificate,
        "server.key": certificates.server_key.reveal(),
        "replication.crt": certificates.client_certificate,
        "replication.key": certificates.client_key.reveal(),
    }
    return {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}


def replication_name(config: PgConfig) -> str:
    return f"{config.name}-replication"


def pod_name(config: PgConfig) -> str:
    return f"{config.name}-0"


def labels_of(config: PgConfig) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "postgresql",
        "app.kubernetes.io/instance": config.name,
        "app.kubernetes.io/managed-by": "harmony",
    }


def manifests(
    config: PgConfig,
    passwords: Mapping[str, str],
    declared: Declared,
    source_password: str | None,
    tls: PgCertificates | None = None,
) -> list[dict[str, Any]]:
    """Secret(s), ConfigMaps, Service and StatefulSet, in the order they are applied.

    With ``tls`` (this member's certificates) the server runs TLS only (adr/0103)."""
    labels = labels_of(config)
    secret_data = dict(passwords)
    if declared.role == "replica" and source_password is not None:
        secret_data[SOURCE_PASSWORD_KEY] = source_password
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(config), "labels": labels},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in sorted(secret_data.items())},
    }
    replication = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": replication_name(config), "labels": labels},
        "data": _replication_data(declared),
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": config.name, "labels": labels},
        "spec": {"selector": labels, "ports": [{"name": "postgres", "port": config.port, "targetPort": "postgres"}]},
    }
    annotations = {}
    if declared.fenced:
        annotations[FENCED_ANNOTATION] = "true"
    if declared.stopped:
        annotations[STOPPED_ANNOTATION] = "true"
    metadata: dict[str, Any] = {"name": config.name, "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata,
        "spec": {
            "serviceName": config.name,
            "replicas": 0 if declared.fenced else 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"fsGroup": POSTGRES_GID},
                    "terminationGracePeriodSeconds": 60,
                    "initContainers": [_prepare_container(config, tls=tls is not None)],
                    "containers": [_server_container(config, tls=tls is not None)],
                    # No password per user in the template (adding a user must not restart the server):
                    # the converge sets them as verifiers through exec (adr/0060).
                    "volumes": [
                        {"name": "init", "configMap": {"name": f"{config.name}-init", "optional": True}},
                        *([_tls_volume(config)] if tls is not None else []),
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    objects = [secret, _init_scripts(config), replication, service, statefulset]
    if tls is not None:
        tls_secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": tls_secret_name(config), "labels": labels},
            "type": "Opaque",
            "data": tls_secret_data(tls),
        }
        objects.insert(1, tls_secret)  # before the StatefulSet whose Pods mount it
    return objects


def declared_from(replication: Mapping[str, Any] | None, statefulset: Mapping[str, Any] | None) -> Declared:
    """Read back what :func:`manifests` declared (a primary when nothing is there)."""
    data = (replication or {}).get("data") or {}
    annotations = ((statefulset or {}).get("metadata") or {}).get("annotations") or {}
    port = str(data.get("source_port") or "0")
    return Declared(
        role=str(data.get("role") or "primary"),
        source_host=str(data.get("source_host") or ""),
        source_port=int(port) if port.isdigit() else 0,
        source_user=str(data.get("source_user") or ""),
        slot=str(data.get("slot") or ""),
        application_name=str(data.get("application_name") or ""),
        rewind=str(data.get("rewind") or ""),
        fenced=annotations.get(FENCED_ANNOTATION) == "true",
        stopped=annotations.get(STOPPED_ANNOTATION) == "true",
    )


def _replication_data(declared: Declared) -> dict[str, str]:
    if declared.role != "replica":
        return {"role": "primary"}
    return {
        "role": "replica",
        "source_host": declared.source_host,
        "source_port": str(declared.source_port),
        "source_user": declared.source_user,
        "slot": declared.slot,
        "application_name": declared.application_name,
        "rewind": declared.rewind,
    }


def _replication_env(config: PgConfig) -> list[dict[str, Any]]:
    def from_map(variable: str, key: str) -> dict[str, Any]:
        return {
            "name": variable,
            "valueFrom": {"configMapKeyRef": {"name": replication_name(config), "key": key, "optional": True}},
        }

    return [
        from_map("HARMONY_PG_ROLE", "role"),
        from_map("SOURCE_HOST", "source_host"),
        from_map("SOURCE_PORT", "source_port"),
        from_map("SOURCE_USER", "source_user"),
        from_map("SOURCE_SLOT", "slot"),
        from_map("APPLICATION_NAME", "application_name"),
        from_map("HARMONY_PG_REWIND", "rewind"),
    ]


@dataclass(frozen=True)
class PodPaths:
    """Where a server's files are in its Pod (the data volume); tests run the scripts elsewhere."""

    data: str = DATA
    tls_mount: str = TLS_MOUNT
    """Where the TLS Secret is mounted (read as root by the init container and the rotation)."""

    @property
    def pgdata(self) -> str:
        return f"{self.data}/pgdata"

    @property
    def tls(self) -> str:
        """The certificates as the server reads them: beside PGDATA (pg_basebackup copies none), postgres, 0600."""
        return f"{self.data}/tls"

    def tls_file(self, name: str) -> str:
        return f"{self.tls}/{name}"

    @property
    def passfile(self) -> str:
        return f"{self.data}/pgpass"

    @property
    def stopped_marker(self) -> str:
        return f"{self.data}/harmony.stopped"

    @property
    def rewound_marker(self) -> str:
        """The rewind token last carried out: a restart must not rewind again (nor need the source up)."""
        return f"{self.data}/harmony.rewound"


def prepare_script(paths: PodPaths = PodPaths(), tls: PgConfig | None = None) -> str:
    """Runs as root before the server, at each new Pod (where the declaration in the environment is
    fresh): owns the volume, forgets a stop of the previous Pod, makes a replica's data (clone when
    empty, rewind when declared) and sets the role with ``standby.signal``. Only here: a server
    container restarted in the same Pod keeps what the server left, so a promoted primary stays one
    even though that Pod's environment still says replica.

    With ``tls`` (the cluster, when it runs TLS: adr/0103) the certificates and ``pg_hba.conf`` are
    installed from the mounted Secret first, and a replica clones and rewinds over TLS, verifying
    its source and authenticated by the replication role's certificate (no password)."""
    data, pgdata, passfile, rewound = (
        shlex.quote(p) for p in (paths.data, paths.pgdata, paths.passfile, paths.rewound_marker)
    )
    source = _source_conninfo(paths, tls=tls is not None)
    install = tls_install_script(tls, paths) if tls is not None else ""
    if tls is not None:
        # The replica logs in by certificate: no password in any file (one left from before goes).
        password = f"rm -f {passfile}\n"
    else:
        password = (
            """escaped=$(printf '%s' "$SOURCE_PASSWORD" | sed 's/\\\\/\\\\\\\\/g; s/:/\\\\:/g')\n"""
            f"printf '*:*:*:%s:%s\\n' \"$SOURCE_USER\" \"$escaped\" > {passfile}\n"
            f"chown postgres:postgres {passfile}\n"
        )
    return f"""set -eu
mkdir -p {pgdata}
chown postgres:postgres {data} {pgdata}
chmod 700 {pgdata}
rm -f {shlex.quote(paths.stopped_marker)}
{install}if [ "${{HARMONY_PG_ROLE:-primary}}" != replica ]; then
  rm -f {pgdata}/standby.signal
  exit 0
fi
umask 077
{password}if [ ! -s {pgdata}/PG_VERSION ]; then
  gosu postgres pg_basebackup -D {pgdata} -d "{source}" -X stream -S "$SOURCE_SLOT" -c fast --no-password
elif [ -n "${{HARMONY_PG_REWIND:-}}" ] && [ "$(cat {rewound} 2>/dev/null || true)" != "$HARMONY_PG_REWIND" ]; then
  rm -f {pgdata}/standby.signal
  gosu postgres pg_rewind --target-pgdata={pgdata} --source-server="{source} dbname=postgres"
  printf '%s\\n' "$HARMONY_PG_REWIND" > {rewound}
fi
gosu postgres touch {pgdata}/standby.signal
"""


def _source_conninfo(paths: PodPaths, *, tls: bool) -> str:
    """How the replica's programs reach its source (shell text inside double quotes: ``$SOURCE_*`` expand).

    Without TLS by password (the passfile); with TLS verifying the source's certificate and name
    against the cluster's authority, authenticated by the replication role's client certificate."""
    where = "host=$SOURCE_HOST port=$SOURCE_PORT user=$SOURCE_USER"
    if not tls:
        return f"{where} passfile={paths.passfile}"
    return (
        f"{where} sslmode=verify-full sslrootcert={paths.tls_file('root.crt')} "
        f"sslcert={paths.tls_file('replication.crt')} sslkey={paths.tls_file('replication.key')}"
    )


def pg_hba(config: PgConfig) -> str:
    """The server's ``pg_hba.conf`` with TLS: only over TLS, the replication role by its certificate
    (``pg_rewind`` connects to a database, hence its second row), every other role by password.
    Local connections are the image's (trust): only processes inside the Pod reach its socket, and
    the converge's ``psql`` runs there as root."""
    user = config.replication_user
    return (
        "# Managed by harmony_py: edits are reverted.\n"
        "local all all trust\n"
        f"hostssl replication {user} all cert\n"
        f"hostssl all {user} all cert\n"
        "hostssl all all all scram-sha-256\n"
    )


def tls_install_script(config: PgConfig, paths: PodPaths = PodPaths()) -> str:
    """Shell text (run as root) copying the mounted Secret's files beside PGDATA, owned by postgres,
    0600 (PostgreSQL refuses a key others can read), and writing the ``pg_hba.conf`` the server reads."""
    tls = shlex.quote(paths.tls)
    copies = "\n".join(
        f"install -o postgres -g postgres -m 600 {shlex.quote(f'{paths.tls_mount}/{name}')} {shlex.quote(paths.tls_file(name))}"
        for name in TLS_FILES
    )
    hba = shlex.quote(paths.tls_file("pg_hba.conf"))
    return f"""mkdir -p {tls}
chown postgres:postgres {tls}
chmod 700 {tls}
{copies}
printf '%s' {shlex.quote(pg_hba(config))} > {hba}
chown postgres:postgres {hba}
chmod 600 {hba}
"""


def tls_reload_script(config: PgConfig, certificates_sha256: str, paths: PodPaths = PodPaths(), wait_s: int = 150) -> str:
    """Exec'd in the server container after the TLS Secret changed (a rotation): wait until the kubelet
    has updated the mounted Secret (its certificates' SHA-256 is ``certificates_sha256``, see
    :func:`tls_certificates_sha256`), install the files, and reload: PostgreSQL re-reads its
    certificates on SIGHUP, no restart (adr/0096)."""
    mounted = " ".join(shlex.quote(f"{paths.tls_mount}/{name}") for name in TLS_FILES if name.endswith(".crt"))
    return f"""set -eu
waited=0
until [ "$(cat {mounted} | sha256sum | cut -d' ' -f1)" = {shlex.quote(certificates_sha256)} ]; do
  if [ "$waited" -ge {wait_s} ]; then
    echo "the mounted TLS Secret still holds other certificates after {wait_s} s" >&2
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done
{tls_install_script(config, paths)}gosu postgres pg_ctl reload -D {shlex.quote(paths.pgdata)} >/dev/null
"""


def tls_certificates_sha256(certificates: PgCertificates) -> str:
    """What :func:`tls_reload_script` waits to read from the mounted Secret: its certificates (public), in file order."""
    by_name = {"root.crt": certificates.authority, "server.crt": certificates.server_certificate,
               "replication.crt": certificates.client_certificate}  # fmt: skip
    text = "".join(by_name[name] for name in TLS_FILES if name.endswith(".crt"))
    return hashlib.sha256(text.encode()).hexdigest()


def server_script(config: PgConfig, paths: PodPaths = PodPaths(), *, tls: bool = False) -> str:
    """The server container's command. The server is a child of this shell, not PID 1: a clean stop
    (:func:`stop_script`) leaves a marker, and the Pod then stays up (not ready) so that its last
    checkpoint can be read; Pod termination (SIGTERM) stops it fast.

    With ``tls`` the server reads the certificates and ``pg_hba.conf`` the init container installed
    (all reloadable settings: a rotation needs no restart), and a replica streams over TLS."""
    settings = {
        "port": str(config.port),
        "listen_addresses": "*",
        "wal_level": "replica",
        "wal_log_hints": "on",
        "hot_standby": "on",
        "max_wal_senders": "10",
        "max_replication_slots": "10",
    }
    if tls:
        settings |= server_tls_settings(paths.tls_file("server.crt"), paths.tls_file("server.key"), paths.tls_file("root.crt"))
        settings["hba_file"] = paths.tls_file("pg_hba.conf")
    settings |= {key: value for key, value in sorted(config.settings.items())}
    arguments = " ".join(shlex.quote(f"-c{key}={value}") for key, value in settings.items())
    conninfo = f"{_source_conninfo(paths, tls=tls)} application_name=$APPLICATION_NAME"
    return f"""set -u
set -- docker-entrypoint.sh postgres {arguments}
if [ "${{HARMONY_PG_ROLE:-primary}}" = replica ]; then
  set -- "$@" -c "primary_conninfo={conninfo}" -c "primary_slot_name=$SOURCE_SLOT"
fi
"$@" &
server=$!
trap 'kill -INT "$server" 2>/dev/null; wait "$server"; exit 0' TERM INT
wait "$server"
status=$?
while [ -e {shlex.quote(paths.stopped_marker)} ]; do sleep 0.2 & wait $!; done
exit "$status"
"""


def stop_script(paths: PodPaths = PodPaths()) -> str:
    """Exec'd in the server container: a clean stop that keeps the Pod; prints the last checkpoint's LSN."""
    pgdata = shlex.quote(paths.pgdata)
    return (
        f"touch {shlex.quote(paths.stopped_marker)} && "
        f"gosu postgres pg_ctl stop -D {pgdata} -m fast -w -t 60 >/dev/null && "
        f"gosu postgres pg_controldata -D {pgdata} | sed -n 's/^Latest checkpoint location: *//p'"
    )


def fence_script(paths: PodPaths = PodPaths()) -> str:
    """Exec'd in the server container: stop at once, and keep the Pod from starting it again."""
    return f"touch {shlex.quote(paths.stopped_marker)}; gosu postgres pg_ctl stop -D {shlex.quote(paths.pgdata)} -m immediate"


def _prepare_container(config: PgConfig, *, tls: bool = False) -> dict[str, Any]:
    return {
        "name": "prepare",
        "image": f"postgres:{config.version}",
        "command": ["sh", "-c", prepare_script(tls=config if tls else None)],
        "env": [
            *_replication_env(config),
            _secret_env("SOURCE_PASSWORD", config, SOURCE_PASSWORD_KEY, optional=True),
        ],
        "volumeMounts": [{"name": "data", "mountPath": DATA}, *([_TLS_VOLUME_MOUNT] if tls else [])],
    }


_TLS_VOLUME_MOUNT = {"name": "tls", "mountPath": TLS_MOUNT, "readOnly": True}


def _tls_volume(config: PgConfig) -> dict[str, Any]:
    # 0600: only root (the init container, the rotation's exec) reads the mounted keys; the server
    # reads the copies the init container makes, owned by postgres.
    return {"name": "tls", "secret": {"secretName": tls_secret_name(config), "defaultMode": 0o600}}


def _server_container(config: PgConfig, *, tls: bool = False) -> dict[str, Any]:
    env = [
        {"name": "PGDATA", "value": PGDATA},
        {"name": "PGPORT", "value": str(config.port)},
        _secret_env("POSTGRES_PASSWORD", config, SUPERUSER),
        *_replication_env(config),
    ]
    return {
        "name": CONTAINER,
        "image": f"postgres:{config.version}",
        "command": ["sh", "-c", server_script(config, tls=tls)],
        "ports": [{"name": "postgres", "containerPort": config.port}],
        "env": env,
        "readinessProbe": {
            # Over TCP: the image's temporary server (initialising an empty primary) listens on the
            # Unix socket only, and must not count as ready (the converge then makes roles, adr/0060).
            "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", SUPERUSER, "-p", str(config.port)]},
            "periodSeconds": 5,
        },
        "volumeMounts": [
            {"name": "data", "mountPath": DATA},
            {"name": "init", "mountPath": "/docker-entrypoint-initdb.d"},
            # A rotation re-installs the certificates from here (tls_reload_script).
            *([_TLS_VOLUME_MOUNT] if tls else []),
        ],
    }


def _init_scripts(config: PgConfig) -> dict[str, Any]:
    """What the image runs on the first start of an empty primary: the replication ``pg_hba`` line.

    Roles, grants and databases are not made here but by the primary's converge through
    exec (adr/0060), on the first deploy as on every later one: one path, which also
    makes those added to the score later, and no race between the two.
    """
    line = f"host replication {config.replication_user} all scram-sha-256"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{config.name}-init", "labels": labels_of(config)},
        "data": {"10-harmony.sh": f"set -e\necho {shlex.quote(line)} >> \"$PGDATA/pg_hba.conf\"\n"},
    }


def _secret_env(variable: str, config: PgConfig, key: str, *, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret_name(config), "key": key}
    if optional:
        ref["optional"] = True
    return {"name": variable, "valueFrom": {"secretKeyRef": ref}}

