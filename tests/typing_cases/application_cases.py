"""Type-level promises of the application contract (run with mypy --strict --warn-unused-ignores).

An ``ApplicationScore`` needs ``ApplicationPlatform``: an application runtime
*and* PostgreSQL. A topology lacking either half is rejected where the score
is added; the ones that have both accept it unchanged. References carry their
type: a ``Ref[int]`` is no environment value.
"""

from __future__ import annotations

from capabilities import PostgreSQL
from capabilities.application import ApplicationPlatform, ApplicationRuntime
from harmony_py import Maestro, Secret
from harmony_py.outputs import Ref
from harmony_py.scores import ApplicationScore, ApplicationServiceScore, PostgreSQLDatabase, PostgreSQLScore
from topologies import ApplicationTopology, DockerTopology, FailoverTopology, K8sAnywhereTopology, LocalInstance, LocalhostTopology

shop = ApplicationScore(
    "shop",
    image="shop:1",
    command=("python3", "server.py"),
    replicas=2,
    port=8080,
    database=PostgreSQLDatabase(port=5433),
    secrets={"API_KEY": Secret("k")},
)

# Localhost (processes, or containers behind nginx) is a whole platform.
Maestro(LocalhostTopology()).add(shop)
Maestro(LocalhostTopology(app_runtime="docker", app_host_paths=("/usr/lib",))).add(shop)
platform: ApplicationPlatform = LocalhostTopology()

# An application runtime paired with a replicated database is one too.
database = FailoverTopology[LocalhostTopology](LocalInstance("a"), LocalInstance("b", port_shift=1))
Maestro(ApplicationTopology(runtime=LocalhostTopology(), database=database)).add(shop)

# A bare Docker engine runs containers but no applications nor PostgreSQL: refused.
Maestro(DockerTopology()).add(shop)  # type: ignore[arg-type]

# A replicated database alone holds PostgreSQL but runs no application: refused.
Maestro(database).add(shop)  # type: ignore[arg-type]
Maestro(database).add(shop.database_score() or PostgreSQLScore("x"))

# A pair whose database half is not PostgreSQL is refused where it is written.
ApplicationTopology(runtime=LocalhostTopology(), database=FailoverTopology(DockerTopology(), DockerTopology()))  # type: ignore[arg-type]
# ... and so is one whose runtime half runs no applications.
ApplicationTopology(runtime=DockerTopology(), database=database)  # type: ignore[arg-type]

# A Linux host over SSH runs the image behind nginx, and PostgreSQL beside it: a whole platform.
from topologies import LinuxHostTopology  # noqa: E402

linux = LinuxHostTopology("192.0.2.10", user="root", app_host_paths=("/usr/lib",))
Maestro(linux).add(shop)
on_linux: ApplicationPlatform = linux
# ... and the runtime of a pair whose database is a primary and a replica on two SSH hosts.
ssh_database = FailoverTopology[LinuxHostTopology](LinuxHostTopology("192.0.2.11"), LinuxHostTopology("192.0.2.12"))
Maestro(ApplicationTopology(runtime=linux, database=ssh_database)).add(shop)
# A pair of SSH hosts alone holds PostgreSQL but is no application runtime: refused.
Maestro(ssh_database).add(shop)  # type: ignore[arg-type]

# Kubernetes runs applications, and PostgreSQL on the cluster: a whole platform.
runtime: ApplicationRuntime = K8sAnywhereTopology()
Maestro(K8sAnywhereTopology()).add(shop)
Maestro(K8sAnywhereTopology()).add(shop.service_score())

# The service alone needs only the runtime half.
Maestro(LocalhostTopology()).add(shop.service_score())
Maestro(database).add(shop.service_score())  # type: ignore[arg-type]

# A reference is typed: an endpoint's port (an int) is no environment value.
db = PostgreSQLScore("db", databases=["db"], users=["db"])
port: Ref[int] = db.output().map(lambda endpoint: endpoint.port)
ApplicationServiceScore("shop-web", "shop:1", env={"PORT": port})  # type: ignore[dict-item]
url: Ref[Secret] = db.output().map(lambda endpoint: endpoint.password)
ApplicationServiceScore("shop-web", "shop:1", env={"DATABASE_URL": url})
as_postgres: PostgreSQL = platform

# A replicated service takes a secret reference in its env, and refuses one of another type.
from capabilities.application import database_url  # noqa: E402
from harmony_py.scores import ReplicatedServiceScore  # noqa: E402

orders = PostgreSQLScore("orders", databases=["orders"])
ReplicatedServiceScore("web", "web:1", 2, 8080, env={"DATABASE_URL": orders.output().map(database_url)})
ReplicatedServiceScore("web", "web:1", 2, 8080, env={"DATABASE_PORT": orders.output().map(lambda e: e.port)})  # type: ignore[dict-item]


# The runtime is one accessor returning a service; every platform's service is typed as one.
from typing_extensions import assert_type  # noqa: E402

from capabilities.application import ApplicationRuntimeService, AppSpec  # noqa: E402
from harmony_py.values import Change  # noqa: E402
from topologies.host.base import HostTopology  # noqa: E402


async def runtime_calls(topology: ApplicationRuntime, host: HostTopology, spec: AppSpec) -> None:
    service = topology.application_runtime()
    assert_type(service, ApplicationRuntimeService)
    assert_type(service.contracts(), range)
    assert_type(await service.plan(spec), list[Change])
    assert_type(await service.deploy(spec), list[Change])
    assert_type(await service.url(spec), str | None)
    # The flat methods are gone: the service holds them.
    await topology.deploy_application(spec)  # type: ignore[attr-defined]
    # Every host declares the accessor, so a localhost and an SSH host joined keep it.
    _host_runtime: ApplicationRuntime = host
    _joined: ApplicationRuntime = FailoverTopology(LocalhostTopology(), linux).primary
