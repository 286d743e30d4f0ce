"""PostgreSQL on Kubernetes over TLS (adr/0103), against the emulator: the objects each member gets.

The emulator runs no containers, so what is shown here is the API side: the
member's Secret with the cluster's certificates, the StatefulSet mounting it,
the server's TLS settings and hostssl-only pg_hba, a replica declared to clone
and stream over TLS by certificate, the endpoint verifying the server, no key
in any plan, NOOP on re-apply, and a rotation updating the Secret and reloading
the server through exec. The scripts these objects run are run for real in
tests/k8s/test_postgres_tls_scripts.py.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from capabilities.application import AppSpec, database_url
from capabilities.postgresql import PgConfig, PgUser
from harmony_py.scores.k8s_application_manifests import application_manifests
from harmony_py.scores.k8s_postgres_manifests import Declared, manifests, tls_certificates_sha256, tls_reload_script
from harmony_py.values import Change, ChangeAction, Secret
from topologies import FailoverTopology, K8sAnywhereTopology
from topologies.postgres.tls import ClusterAuthority, names_of, signed_by
from topologies.secret_store import SecretStore

from .harness import EmulatorThread
from .real_postgres import RealPostgreSQL

CONFIG = PgConfig("orders", databases=("orders",), users=(PgUser("app", databases=("orders",)),), tls=True)
TLS_KEYS = {"root.crt", "server.crt", "server.key", "replication.crt", "replication.key"}


@pytest.fixture(autouse=True)
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "secrets"
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(path))
    yield path


@pytest.fixture
async def pair(kubeconfig: Path) -> FailoverTopology[K8sAnywhereTopology]:
    members = [
        K8sAnywhereTopology(kubeconfig=str(kubeconfig), namespace=ns, request_timeout_s=2.0, retries=0, watch_idle_s=2.0,
                            postgres_ready_timeout_s=2.0)  # fmt: skip
        for ns in ("pg-a", "pg-b")
    ]
    for namespace in ("pg-a", "pg-b"):
        namespace_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        await members[0].k8s_client().apply(namespace_object, field_manager="test")
    return FailoverTopology(members[0], members[1])


@pytest.fixture
def pods(server: EmulatorThread, pods_postgres: RealPostgreSQL, tmp_path: Path) -> Path:
    """Pods ``orders-0`` answering psql (a real server, for the primary's roles) and ``sh`` (a shim
    logging the script it was given, for the rotation's reload); returns that log."""
    bin_dir, log = tmp_path / "pod-bin", tmp_path / "pod-sh.log"
    bin_dir.mkdir()
    (bin_dir / "psql").symlink_to(pods_postgres.bin_dir / "psql")
    (bin_dir / "sh").write_text(f'#!/bin/sh\nprintf "%s\\n" "$2" >> {log}\n')
    (bin_dir / "sh").chmod(0o755)
    env = {"PGHOST": str(pods_postgres.socket_dir), "PATH": str(bin_dir)}

    def kubelet() -> None:
        server.api.exec_locally = True
        for namespace in ("pg-a", "pg-b"):
            server.api.exec_env[(namespace, "orders-0")] = dict(env)

    server.call(kubelet)
    return log


def find(server: EmulatorThread, kind: str, name: str, namespace: str) -> dict[str, Any]:
    found = server.call(lambda: server.api.find(kind, name, namespace))
    assert found is not None, f"{kind} {namespace}/{name} is missing"
    return found


def tls_files(server: EmulatorThread, namespace: str) -> dict[str, str]:
    secret = find(server, "Secret", "orders-tls", namespace)
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def keys_in_store(secrets_dir: Path) -> list[str]:
    """Every private key the secret store holds (PEM), for checking that none is shown."""
    found = []
    for path in (secrets_dir / "postgresql" / "orders" / "tls").iterdir():
        text = path.read_text()
        found.append(text[: text.index("-----BEGIN CERTIFICATE-----")].strip())
    return found


def assert_no_key(changes: list[Change], secrets_dir: Path) -> None:
    shown = " ".join(f"{c.target} {c.summary} {c.diff or ''}" for c in changes)
    assert "PRIVATE KEY" not in shown
    for key in keys_in_store(secrets_dir):
        body = "".join(key.splitlines()[1:-1])
        assert key not in shown and body[:40] not in shown
        assert base64.b64encode((key + "\n").encode()).decode()[:40] not in shown


def pod_spec(server: EmulatorThread, namespace: str) -> dict[str, Any]:
    spec: dict[str, Any] = find(server, "StatefulSet", "orders", namespace)["spec"]["template"]["spec"]
    return spec


async def test_a_tls_primary_gets_its_certificates_in_a_mounted_secret_and_serves_hostssl_only(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, pods: Path, secrets_dir: Path
) -> None:
    primary = pair.primary.postgresql()
    planned = await primary.plan(CONFIG)
    assert ("Secret pg-a/orders-tls", ChangeAction.CREATE) in [(c.target, c.action) for c in planned]
    assert not secrets_dir.exists(), "a plan stored a certificate"
    changes = await primary.deploy(CONFIG)
    assert sorted(c.target for c in changes) == sorted(c.target for c in planned)
    assert_no_key(planned + changes, secrets_dir)

    # The Secret: the cluster's CA, a server certificate for the names clients use, the replication client's.
    files = tls_files(server, "pg-a")
    assert set(files) == TLS_KEYS
    authority = x509.load_pem_x509_certificate(files["root.crt"].encode())
    certificate = x509.load_pem_x509_certificate(files["server.crt"].encode())
    assert signed_by(certificate, authority)
    assert set(names_of(certificate)) == {
        "orders.pg-a.svc", "orders.pg-a.svc.cluster.local", "orders-0.orders.pg-a.svc", "orders-0.orders.pg-a.svc.cluster.local",
    }  # fmt: skip
    key = serialization.load_pem_private_key(files["server.key"].encode(), password=None)
    assert key.public_key().public_numbers() == certificate.public_key().public_numbers()  # type: ignore[union-attr]
    client = x509.load_pem_x509_certificate(files["replication.crt"].encode())
    assert client.subject.rfc4514_string() == "CN=replicator" and signed_by(client, authority)

    # The Pod: the Secret mounted 0600 in both containers, installed for postgres, TLS only.
    spec = pod_spec(server, "pg-a")
    assert {"name": "tls", "secret": {"secretName": "orders-tls", "defaultMode": 0o600}} in spec["volumes"]
    [prepare], [container] = spec["initContainers"], spec["containers"]
    for mounted in (prepare, container):
        assert {"name": "tls", "mountPath": "/etc/harmony/tls", "readOnly": True} in mounted["volumeMounts"]
    script = prepare["command"][2]
    assert "install -o postgres -g postgres -m 600 /etc/harmony/tls/server.key /var/lib/postgresql/data/tls/server.key" in script
    assert "hostssl replication replicator all cert" in script and "hostssl all all all scram-sha-256" in script
    assert "\nhost " not in script
    command = container["command"][2]
    for setting in ("-cssl=on", "-cssl_cert_file=/var/lib/postgresql/data/tls/server.crt",
                    "-cssl_key_file=/var/lib/postgresql/data/tls/server.key", "-cssl_ca_file=/var/lib/postgresql/data/tls/root.crt",
                    "-chba_file=/var/lib/postgresql/data/tls/pg_hba.conf"):  # fmt: skip
        assert setting in command

    # Clients verify the server: verify-full against the cluster's CA.
    endpoint = await primary.endpoint(CONFIG, "orders")
    assert (endpoint.sslmode, endpoint.ca_certificate) == ("verify-full", files["root.crt"])
    assert database_url(endpoint).reveal().endswith("?sslmode=verify-full&sslrootcert=/etc/harmony/tls/root.crt")
    assert await primary.certificates(CONFIG) is not None

    version = find(server, "Secret", "orders-tls", "pg-a")["metadata"]["resourceVersion"]
    assert await primary.deploy(CONFIG) == []
    assert await primary.plan(CONFIG) == []
    assert find(server, "Secret", "orders-tls", "pg-a")["metadata"]["resourceVersion"] == version
    assert not pods.exists(), "nothing was to be reloaded"


async def test_a_tls_replica_in_another_namespace_clones_and_streams_by_certificate(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, pods: Path, secrets_dir: Path
) -> None:
    await pair.primary.postgresql().deploy(CONFIG)
    source = await pair.primary.postgresql().replication_source(CONFIG, "replica")
    await pair.replica.postgresql().follow(CONFIG, source)
    primary, replica = tls_files(server, "pg-a"), tls_files(server, "pg-b")
    # One authority and one replication client per cluster; a server certificate per member, for its own names.
    assert replica["root.crt"] == primary["root.crt"] and replica["replication.crt"] == primary["replication.crt"]
    certificate = x509.load_pem_x509_certificate(replica["server.crt"].encode())
    assert "orders.pg-b.svc" in names_of(certificate) and "orders.pg-a.svc" not in names_of(certificate)

    spec = pod_spec(server, "pg-b")
    tls = "sslmode=verify-full sslrootcert=/var/lib/postgresql/data/tls/root.crt sslcert=/var/lib/postgresql/data/tls/replication.crt sslkey=/var/lib/postgresql/data/tls/replication.key"
    clone = spec["initContainers"][0]["command"][2]
    assert f'pg_basebackup -D /var/lib/postgresql/data/pgdata -d "host=$SOURCE_HOST port=$SOURCE_PORT user=$SOURCE_USER {tls}"' in clone
    assert f'--source-server="host=$SOURCE_HOST port=$SOURCE_PORT user=$SOURCE_USER {tls} dbname=postgres"' in clone
    assert "$SOURCE_PASSWORD" not in clone  # by certificate: the replication password is in no file
    assert f"primary_conninfo=host=$SOURCE_HOST port=$SOURCE_PORT user=$SOURCE_USER {tls} application_name=$APPLICATION_NAME" in spec["containers"][0]["command"][2]
    assert "passfile" not in spec["containers"][0]["command"][2]
    assert await pair.replica.postgresql().plan(CONFIG) == []


async def test_the_failover_plan_shows_the_tls_secrets_without_any_key(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, pods: Path, secrets_dir: Path
) -> None:
    planned = await pair.postgresql().plan(CONFIG)
    assert not secrets_dir.exists()
    shown = [f"{c.target}: {c.summary} {c.diff or ''}" for c in planned]
    assert any("Secret pg-a/orders-tls" in line for line in shown), shown
    assert not any("PRIVATE KEY" in line or "LS0tLS1CRUdJTi" in line for line in shown)  # PEM, or its base64


async def test_a_rotation_updates_the_secret_and_reloads_the_running_server(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, pods: Path, secrets_dir: Path
) -> None:
    primary = pair.primary.postgresql()
    await primary.deploy(CONFIG)
    before = tls_files(server, "pg-a")
    # Every certificate of one year expires within 400 days: the member's are re-issued (the CA's 10 years are not).
    rotating = dataclasses.replace(CONFIG, tls_rotate_before=datetime.timedelta(days=400))
    planned = await primary.plan(rotating)
    summaries = [(c.target, c.action, c.summary) for c in planned]
    assert ("Secret pg-a/orders-tls", ChangeAction.UPDATE, "TLS: re-issue the server certificate of k8s-pg-a-orders: "
            f"it expires on {x509.load_pem_x509_certificate(before['server.crt'].encode()).not_valid_after_utc:%Y-%m-%d}, within 400 days") in summaries
    assert ("Pod orders-0", ChangeAction.RUN, "reload PostgreSQL to load the new certificates") in summaries
    assert tls_files(server, "pg-a") == before, "a plan changed the Secret"
    assert_no_key(planned, secrets_dir)

    changes = await primary.deploy(rotating)
    assert [(c.target, c.summary) for c in changes] == [(c.target, c.summary) for c in planned]
    after = tls_files(server, "pg-a")
    assert after["root.crt"] == before["root.crt"]
    assert after["server.crt"] != before["server.crt"] and after["server.key"] != before["server.key"]
    assert after["replication.crt"] != before["replication.crt"]
    # The reload ran in the Pod, waiting for the kubelet to show these certificates in the mounted Secret.
    [script] = [s for s in pods.read_text().split("set -eu\n") if s.strip()]
    wanted = hashlib.sha256((after["root.crt"] + after["server.crt"] + after["replication.crt"]).encode()).hexdigest()
    assert wanted in script and "pg_ctl reload" in script
    certificates = await primary.certificates(CONFIG)
    assert certificates is not None and tls_certificates_sha256(certificates) == wanted
    assert_no_key(changes, secrets_dir)
    assert await primary.deploy(CONFIG) == [] and await primary.plan(CONFIG) == []


async def test_tls_false_keeps_the_server_without_certificates(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, pods: Path
) -> None:
    config = dataclasses.replace(CONFIG, tls=False)
    await pair.primary.postgresql().deploy(config)
    assert server.call(lambda: server.api.find("Secret", "orders-tls", "pg-a")) is None
    spec = pod_spec(server, "pg-a")
    assert [v["name"] for v in spec["volumes"]] == ["init"] and "ssl" not in spec["containers"][0]["command"][2]
    endpoint = await pair.primary.postgresql().endpoint(config, "orders")
    assert (endpoint.sslmode, endpoint.ca_certificate) == ("prefer", None)
    assert await pair.primary.postgresql().certificates(config) is None


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_tls_pod_scripts_are_valid_shell(shell: str, secrets_dir: Path) -> None:
    certificates = ClusterAuthority(SecretStore(secrets_dir), CONFIG).certificates("m", ("orders.pg-a.svc",))
    for declared in (Declared(), Declared(role="replica", source_host="orders.pg-a.svc", source_port=5432)):
        objects = manifests(CONFIG, {"postgres": "p"}, declared, "s", certificates)
        pod = next(o for o in objects if o["kind"] == "StatefulSet")["spec"]["template"]["spec"]
        scripts = [c["command"][2] for c in (*pod["initContainers"], *pod["containers"])]
        for script in [*scripts, tls_reload_script(CONFIG, "0" * 64)]:
            checked = subprocess.run([shell, "-n"], input=script, capture_output=True, text=True, check=False)
            assert checked.returncode == 0, f"{shell} -n: {checked.stderr}\n{script}"


# -- an application on Kubernetes verifying such a server -------------------------------------------


async def test_an_application_gets_the_ca_mounted_and_its_database_url_verifies_with_it(
    pair: FailoverTopology[K8sAnywhereTopology], kubeconfig: Path, server: EmulatorThread, pods: Path, secrets_dir: Path
) -> None:
    await pair.primary.postgresql().deploy(CONFIG)
    endpoint = await pair.primary.postgresql().endpoint(CONFIG, "orders")
    assert endpoint.ca_certificate is not None
    url = database_url(endpoint)
    spec = AppSpec("shop-web", "harmony-example/shop:1", ("python3", "server.py"), 1, 8080, "/health",
                   env={"DATABASE_URL": url, "SHOP_CURRENCY": "EUR"}, authorities={"DATABASE_URL": endpoint.ca_certificate})  # fmt: skip
    shop = K8sAnywhereTopology(kubeconfig=str(kubeconfig), namespace="shop", request_timeout_s=2.0, retries=0, watch_idle_s=2.0)
    await shop.k8s_client().apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}, field_manager="test")
    runtime = shop.application_runtime()

    planned = await runtime.plan(spec)
    assert [c.target for c in planned] == ["ConfigMap shop-web-authorities", "Secret shop-web-env", "Deployment shop-web", "Service shop-web"]
    changes = await runtime.deploy(spec)
    assert sorted(c.target for c in changes) == sorted(c.target for c in planned)

    # The CA (public) in a ConfigMap of the application's namespace, mounted into its Pods.
    authorities = find(server, "ConfigMap", "shop-web-authorities", "shop")
    assert authorities["data"] == {"DATABASE_URL.root.crt": endpoint.ca_certificate}
    pod = find(server, "Deployment", "shop-web", "shop")["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "authorities", "configMap": {"name": "shop-web-authorities"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "authorities", "mountPath": "/etc/harmony/authorities", "readOnly": True}]
    # DATABASE_URL verifies the server with that copy, not with the path in the database's Pod.
    secret = find(server, "Secret", "shop-web-env", "shop")
    placed = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
    assert placed == url.reveal().split("?")[0] + "?sslmode=verify-full&sslrootcert=/etc/harmony/authorities/DATABASE_URL.root.crt"

    password = endpoint.password.reveal()
    shown = " ".join(f"{c.target} {c.summary} {c.diff or ''}" for c in planned + changes)
    assert password not in shown and "PRIVATE KEY" not in shown
    assert await runtime.deploy(spec) == [] and await runtime.plan(spec) == []


def test_an_application_without_an_authority_gets_no_configmap() -> None:
    url = "postgresql://app:pw@orders.pg-a.svc:5432/orders"
    spec = AppSpec("shop-web", "harmony-example/shop:1", (), 1, 8080, "/health", env={"DATABASE_URL": Secret(url)}, authorities={"DATABASE_URL": ""})
    objects = application_manifests(spec, None)
    assert [o["kind"] for o in objects] == ["Secret", "Deployment", "Service"]
    assert base64.b64decode(objects[0]["data"]["DATABASE_URL"]).decode() == url
    assert "volumes" not in objects[1]["spec"]["template"]["spec"]


async def test_a_rotation_on_a_streaming_replica_updates_its_secret_and_reloads_it(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, pods: Path, secrets_dir: Path
) -> None:
    await pair.primary.postgresql().deploy(CONFIG)
    source = await pair.primary.postgresql().replication_source(CONFIG, "replica")
    await pair.replica.postgresql().follow(CONFIG, source)
    before = tls_files(server, "pg-b")
    rotating = dataclasses.replace(CONFIG, tls_rotate_before=datetime.timedelta(days=400))
    planned = [(c.target, c.summary) for c in await pair.replica.postgresql().plan(rotating)]
    assert ("Pod orders-0", "reload PostgreSQL to load the new certificates") in planned
    # What the orchestration does with a healthy replica: follow the same source again.
    await pair.replica.postgresql().follow(rotating, source)
    after = tls_files(server, "pg-b")
    assert after["server.crt"] != before["server.crt"] and after["root.crt"] == before["root.crt"]
    [script] = [s for s in pods.read_text().split("set -eu\n") if s.strip()]
    assert hashlib.sha256((after["root.crt"] + after["server.crt"] + after["replication.crt"]).encode()).hexdigest() in script
    assert "pg_ctl reload" in script
