"""``render``: the deployment a score file describes, as files, without contacting anything.

Run as users run it (``python -m harmony_py render`` in a subprocess) for the
shop example and small score files; the library entry point for what the
files hold. Docker compose's own check of the compose file is in
tests/test_render_compose.py, the Kubernetes files against the emulated API
server in tests/k8s/test_render_emulator.py.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from capabilities.docker import ContainerSpec, HealthCheck, Mount, Port
from capabilities.postgresql import PgUser
from harmony_py import Secret
from harmony_py.errors import HarmonyError
from harmony_py.graph import build_graph
from harmony_py.render import FORMATS, RenderFormat, render
from harmony_py.render.rendering import apply_order, check_no_secret_written, written_forms
from harmony_py.scores import (
    ApplicationScore,
    ContainerScore,
    FileScore,
    K8sResourceScore,
    NamespaceScore,
    PostgreSQLDatabase,
    PostgreSQLScore,
)

ROOT = Path(__file__).parent.parent
SHOP = ROOT / "examples" / "shop.py"
API_KEY = "render-api-key-do-not-print"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harmony_py", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=ROOT,
        timeout=120,
    )


def read_dir(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def score_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "score.py"
    header = """
        from harmony_py import Maestro, Secret
        from harmony_py.scores import ApplicationScore, CommandScore, FileScore
        from topologies import LocalhostTopology
    """
    path.write_text(textwrap.dedent(header) + textwrap.dedent(body))
    return path


def shop(**overrides: Any) -> ApplicationScore:
    fields: dict[str, Any] = {
        "image": "registry.example.org/shop:1.4",
        "command": ("python3", "server.py"),
        "replicas": 2,
        "port": 8080,
        "database": PostgreSQLDatabase(version=15, port=25433),
        "secrets": {"SHOP_API_KEY": Secret(API_KEY)},
        "env": {"SHOP_CURRENCY": "EUR"},
    }
    return ApplicationScore("shop", **{**fields, **overrides})


@pytest.mark.parametrize("format", FORMATS)
def test_rendering_the_shop_twice_gives_identical_bytes(format: str, tmp_path: Path) -> None:
    env = {"SHOP_API_KEY": API_KEY}
    first = run_cli("render", str(SHOP), "--out", str(tmp_path / "a"), "--format", format, env=env)
    second = run_cli("render", str(SHOP), "--out", str(tmp_path / "b"), "--format", format, env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    rendered = read_dir(tmp_path / "a")
    assert rendered and rendered == read_dir(tmp_path / "b")
    # Re-rendering into the same directory changes no byte either.
    again = run_cli("render", str(SHOP), "--out", str(tmp_path / "a"), "--format", format, env=env)
    assert again.returncode == 0 and read_dir(tmp_path / "a") == rendered


def test_the_shop_renders_to_compose_with_replicas_health_checks_and_healthy_dependencies(tmp_path: Path) -> None:
    done = run_cli("render", str(SHOP), "--out", str(tmp_path), env={"SHOP_API_KEY": API_KEY})
    assert done.returncode == 0, done.stderr
    assert "rendered 2 files (compose)" in done.stdout
    services = yaml.safe_load((tmp_path / "compose.yaml").read_text())["services"]
    assert sorted(services) == ["shop-db", "shop-web"]
    web, db = services["shop-web"], services["shop-db"]
    assert web["deploy"] == {"replicas": 2}
    assert web["healthcheck"]["test"][:2] == ["CMD", "wget"] and db["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert web["depends_on"] == {"shop-db": {"condition": "service_healthy"}}
    assert web["environment"]["SHOP_CURRENCY"] == "EUR" and web["environment"]["PORT"] == "8080"
    assert web["environment"]["SHOP_API_KEY"].startswith("${SHOP_WEB_SHOP_API_KEY:?")
    assert web["environment"]["DATABASE_URL"].startswith("${SHOP_WEB_DATABASE_URL:?")
    assert db["environment"]["POSTGRES_PASSWORD"].startswith("${SHOP_DB_PASSWORD:?")
    example = (tmp_path / "compose.env.example").read_text()
    assert "# DATABASE_URL of shop-web: postgresql://shop:<SHOP_DB_PASSWORD, percent-encoded>@shop-db:25433/shop\n" in example
    assert [line for line in example.splitlines() if not line.startswith("#")] == [
        "SHOP_DB_PASSWORD=", "SHOP_WEB_DATABASE_URL=", "SHOP_WEB_SHOP_API_KEY="
    ]  # fmt: skip


def test_the_shop_renders_to_kubernetes_one_file_per_object_in_apply_order(tmp_path: Path) -> None:
    done = run_cli("render", str(SHOP), "--out", str(tmp_path), "--format", "kubernetes", env={"SHOP_API_KEY": API_KEY})
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "001-secret-shop-credentials.yaml",
        "002-secret-shop-tls.yaml",
        "003-configmap-shop-init.yaml",
        "004-configmap-shop-replication.yaml",
        "005-service-shop.yaml",
        "006-statefulset-shop.yaml",
        "007-secret-shop-web-env.yaml",
        "008-deployment-shop-web.yaml",
        "009-service-shop-web.yaml",
    ]
    secret = yaml.safe_load((tmp_path / "007-secret-shop-web-env.yaml").read_text())
    assert "data" not in secret and "stringData" not in secret
    assert "must hold DATABASE_URL, SHOP_API_KEY" in (tmp_path / "007-secret-shop-web-env.yaml").read_text()
    tls = (tmp_path / "002-secret-shop-tls.yaml").read_text()  # TLS on by default on Kubernetes; keys only
    assert "must hold replication.crt, replication.key, root.crt, server.crt, server.key" in tls
    assert "data" not in yaml.safe_load(tls)


@pytest.mark.parametrize("format", FORMATS)
def test_rendering_contacts_no_topology(format: str, tmp_path: Path) -> None:
    # A cluster whose API server does not exist, and an SSH host on a documentation address:
    # apply would fail to reach either; render never tries.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "none", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    for topology in ("k8s", "linux"):
        env = {"SHOP_TOPOLOGY": topology, "KUBECONFIG": str(kubeconfig), "SHOP_SSH_HOST": "192.0.2.10"}
        done = run_cli("render", str(SHOP), "--out", str(tmp_path / topology), "--format", format, env=env)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("format", FORMATS)
def test_no_secret_value_appears_in_any_rendered_file(format: RenderFormat) -> None:
    secrets = {
        "SHOP_API_KEY": Secret(API_KEY),
        "PAYMENT_TOKEN": Secret("tok_$live${HOME}'\"\n2"),
    }
    database = PostgreSQLScore(
        "ledger", databases=["ledger"], users=[PgUser("ledger", password=Secret("ledger-password-9f3"), databases=("ledger",))]
    )
    rendering = render(build_graph([(shop(secrets=secrets), database)]), format)
    assert rendering.complete and rendering.files
    values = [API_KEY, "tok_$live${HOME}'\"\n2", "ledger-password-9f3"]
    for path, content in rendering.files.items():
        for value in values:
            assert value.encode() not in content, f"{path} holds a secret value"
            for line in value.splitlines():
                assert line.encode() not in content or len(line) < 4, f"{path} holds part of a secret value"


def test_a_render_that_would_write_a_secret_value_is_refused() -> None:
    # The same text as a plain variable and as a secret: the files would show the secret's value.
    leaky = shop(env={"SHOP_CURRENCY": API_KEY})
    with pytest.raises(HarmonyError, match=r"compose.yaml would hold a secret value of shop.web \(also when .*; nothing was written"):
        render(build_graph([(leaky,)]), "compose")


def test_a_secret_value_base64_or_percent_encoded_in_a_file_is_refused_too() -> None:
    password = "p@ss:w/rd-long"
    leaky = shop(database=None, secrets={"DATABASE_PASSWORD": Secret(password)})
    nodes = apply_order(build_graph([(leaky,)]))
    in_a_secret = b"data:\n  DATABASE_PASSWORD: " + base64.b64encode(password.encode()) + b"\n"
    in_a_url = f"DATABASE_URL: postgresql://shop:{quote(password, safe='')}@shop-db:5432/shop\n".encode()
    for content in (in_a_secret, in_a_url):
        with pytest.raises(HarmonyError, match="would hold a secret value of shop.web"):
            check_no_secret_written({"rendered.yaml": content}, nodes)


@pytest.mark.parametrize("partial", [False, True])
def test_a_score_that_cannot_be_rendered_is_listed_and_fails_unless_partial(partial: bool, tmp_path: Path) -> None:
    path = score_file(
        tmp_path,
        f"""
        maestro = Maestro(LocalhostTopology()).add(
            FileScore("{tmp_path}/motd", "hello\\n"),
            CommandScore("touch {tmp_path}/done", creates="{tmp_path}/done"),
            ApplicationScore("shop", image="registry.example.org/shop:1.4", database=None,
                             secrets={{"SHOP_API_KEY": Secret("k3y-value")}}),
        )
        """,
    )
    out = tmp_path / "out"
    done = run_cli("render", str(path), "--out", str(out), *(["--partial"] if partial else []))
    listed = [line for line in done.stderr.splitlines() if line.startswith("not rendered: ")]
    assert len(listed) == 2, done.stderr
    assert listed[0].startswith(f"not rendered: FileScore({tmp_path}/motd): FileScore needs ")
    assert "which no compose service describes" in listed[1]
    assert not (tmp_path / ".harmony").exists()  # nothing stored: no password generated, no lock taken
    if partial:
        assert done.returncode == 0, done.stderr
        assert sorted(path.name for path in out.iterdir()) == ["compose.env.example", "compose.yaml"]
    else:
        assert done.returncode == 1
        assert "error: 2 scores cannot be rendered as compose; nothing was written (--partial writes the others)" in done.stderr
        assert not out.exists()


def test_kubernetes_scores_render_their_objects_with_their_applyset_label() -> None:
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {currency: EUR}\n"
    scores = (
        NamespaceScore("shop", {"team": "web"}, quota={"pods": "20"}),
        K8sResourceScore(config, applyset="shop", prune=True),
        FileScore("/etc/motd", "hello\n"),
    )
    rendering = render(build_graph([scores]), "kubernetes")
    assert list(rendering.files) == ["001-namespace-shop.yaml", "002-resourcequota-shop-quota.yaml", "003-configmap-settings.yaml"]
    configmap = yaml.safe_load(rendering.files["003-configmap-settings.yaml"])
    assert configmap["metadata"] == {"name": "settings", "namespace": "shop", "labels": {"harmony.dev/applyset": "shop"}}
    assert [str(left) for left in rendering.not_rendered] == [
        "FileScore(/etc/motd): FileScore needs CommandRunner, which no Kubernetes object describes"
    ]
    compose = render(build_graph([scores]), "compose")
    assert compose.files == {} and len(compose.not_rendered) == 3


def test_an_application_contract_the_files_cannot_honour_is_not_rendered() -> None:
    rendering = render(build_graph([(shop(contract=2, database=None),)]), "kubernetes")
    assert [left.identity for left in rendering.not_rendered] == ["shop.contract"]
    assert "cannot honour application contract version 2" in rendering.not_rendered[0].reason


def test_files_an_earlier_render_wrote_and_this_one_does_not_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "999-configmap-gone.yaml").write_text("# Rendered by harmony_py from gone; apply in file-name order.\n")
    (out / "kustomization.yaml").write_text("resources: []\n")  # the user's own: kept
    done = run_cli("render", str(SHOP), "--out", str(out), "--format", "kubernetes")
    assert done.returncode == 0, done.stderr
    names = sorted(path.name for path in out.iterdir())
    assert "999-configmap-gone.yaml" not in names and "kustomization.yaml" in names and len(names) == 10


def test_render_is_listed_in_the_command_line_help() -> None:
    done = run_cli("render", "--help")
    assert done.returncode == 0
    assert "--format {compose,kubernetes}" in done.stdout and "--partial" in done.stdout
    assert json.dumps(FORMATS) == '["compose", "kubernetes"]'


def test_a_container_renders_as_a_compose_service_with_its_ports_mounts_and_health_check() -> None:
    spec = ContainerSpec(
        "cache",
        "registry.example.org/cache:7",
        command=("cache-server", "--port", "6379"),
        env={"MODE": "lru$1", "TOKEN": Secret("cache-token-value")},
        ports=(Port(6379, 16379),),
        mounts=(Mount("/srv/cache", "/data", read_only=False),),
        restart_policy="unless-stopped",
        health=HealthCheck("cache-cli ping", interval_s=2.0, start_period_s=1.5),
    )
    rendering = render(build_graph([(ContainerScore(spec),)]), "compose")
    service = yaml.safe_load(rendering.files["compose.yaml"])["services"]["cache"]
    assert service["ports"] == ["127.0.0.1:16379:6379/tcp"] and service["volumes"] == ["/srv/cache:/data"]
    assert service["restart"] == "unless-stopped"
    assert service["environment"] == {"MODE": "lru$$1", "TOKEN": "${CACHE_TOKEN:?set CACHE_TOKEN (see compose.env.example)}"}
    assert service["healthcheck"] == {
        "test": ["CMD-SHELL", "cache-cli ping"], "interval": "2s", "timeout": "2s", "retries": 3, "start_period": "1500ms"
    }  # fmt: skip


def test_an_application_on_a_port_in_the_balancers_backend_range_renders_on_that_port() -> None:
    rendering = render(build_graph([(shop(port=20001, database=None, replicas=1),)]), "compose")
    web = yaml.safe_load(rendering.files["compose.yaml"])["services"]["shop-web"]
    assert web["environment"]["PORT"] == "20001" and web["ports"] == ["20001:20001"]


def test_two_scores_with_one_compose_service_name_are_not_merged() -> None:
    first = ContainerScore(ContainerSpec("cache", "registry.example.org/cache:7"))
    second = ContainerScore(ContainerSpec("cache", "registry.example.org/cache:8")).named("cache-8")
    rendering = render(build_graph([(first,), (second,)]), "compose")
    assert [str(left) for left in rendering.not_rendered] == [
        "cache-8 (ContainerScore(cache)): its compose service cache is ContainerScore(cache)'s already"
    ]
    assert yaml.safe_load(rendering.files["compose.yaml"])["services"]["cache"]["image"] == "registry.example.org/cache:7"


_SECRET_TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=4, max_size=40).map(lambda text: f"S3cr3t-{text}")
"""Values no rendered text holds by chance (the guard would refuse those: it is tested above)."""


@settings(max_examples=25, deadline=None)
@given(values=st.lists(_SECRET_TEXT, min_size=1, max_size=3), password=_SECRET_TEXT)
def test_no_generated_secret_value_reaches_a_rendered_file(values: list[str], password: str) -> None:
    secrets = {f"SECRET_{index}": Secret(value) for index, value in enumerate(values)}
    database = PostgreSQLScore("ledger", databases=["ledger"], users=[PgUser("ledger", password=Secret(password), databases=("ledger",))])
    for format in FORMATS:
        # render() itself refuses files holding a value; the files are checked here again all the same.
        rendering = render(build_graph([(shop(secrets=secrets), database)]), format)
        for content in rendering.files.values():
            for value in [*values, password]:
                assert not any(form in content for form in written_forms(value))
