"""The host PostgreSQL server converges through the code the host scores use (issue 12, "One engine").

No server runs here: a small in-memory host records what the server asks of its
runner, so each test states what is installed and written, and how.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from capabilities.command_runner import CommandResult, FileKind, FileStat
from capabilities.postgresql import PgConfig, PgUser
from harmony_py.hostops.packages import install_packages
from harmony_py.values import Change, ChangeAction
from topologies.postgres.host import HostPlacement, HostPostgreSQL
from topologies.postgres.steps import deploy_steps, plan_steps
from topologies.secret_store import SecretStore

ROOT = "/srv/pg"
PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"


class MemoryHost:
    """Files and directories in a dict; every program recorded, answered by :meth:`answer`."""

    def __init__(self, user: str = "root") -> None:
        self.user = user
        self.files: dict[str, tuple[bytes, int]] = {}
        self.directories: set[str] = {"/", "/etc", "/srv", "/usr"}
        self.programs: list[tuple[str, ...]] = []
        self.writes: list[tuple[str, int]] = []
        self.owners: dict[str, tuple[int, int]] = {}

    def answer(self, argv: tuple[str, ...]) -> CommandResult:
        if argv == ("id", "-un"):
            return CommandResult(argv, 0, f"{self.user}\n".encode(), b"")
        if argv[:2] == ("getent", "passwd"):
            return CommandResult(argv, 0, b"postgres:x:104:110::/var/lib/postgresql:/bin/bash\n", b"")
        if argv[:2] == ("getent", "group"):
            return CommandResult(argv, 0, b"postgres:x:110:\n", b"")
        if argv[:3] == ("stat", "-c", "%u %g"):
            owner = self.owners.get(argv[-1], (0, 0))
            return CommandResult(argv, 0, f"{owner[0]} {owner[1]}\n".encode(), b"")
        if argv[:1] == ("chown",):
            uid, _, gid = argv[2].partition(":")
            self.owners[argv[-1]] = (int(uid), int(gid))
        if argv[:1] == ("apt-get",) and "install" in argv:
            self.files[PG_CTL] = (b"", 0o755)
        return CommandResult(argv, 0 if argv[0] in ("apt-get", "chown") else 1, b"", b"")

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        self.programs.append(tuple(argv))
        return self.answer(tuple(argv))

    async def stat(self, path: str) -> FileStat | None:
        if path in self.directories:
            return FileStat(FileKind.DIRECTORY, 0o755, 0)
        if path in self.files:
            content, mode = self.files[path]
            return FileStat(FileKind.of_mode(stat.S_IFREG | mode), mode, len(content))
        return None

    async def read_file(self, path: str) -> bytes | None:
        return self.files[path][0] if path in self.files else None

    async def write_file(self, path: str, content: bytes, *, mode: int, follow_parent_symlinks: bool = True) -> None:
        self.files[path] = (content, mode)
        self.owners.pop(path, None)  # an atomic replace is a new file, the runner's user's (root)
        self.writes.append((path, mode))

    async def set_mode(self, path: str, mode: int) -> None:
        self.files[path] = (self.files[path][0], mode)

    async def make_directory(self, path: str, *, mode: int) -> None:
        while path not in self.directories:
            self.directories.add(path)
            path = posixpath.dirname(path)

    async def resolve(self, path: str) -> str | None:
        return path if path in self.directories or path in self.files else None

    async def digest(self, path: str) -> str | None:
        return None


def _server(host: MemoryHost, tmp: Path) -> HostPostgreSQL:
    return HostPostgreSQL(host, HostPlacement(root=ROOT), SecretStore(tmp / "secrets"))


def test_the_host_server_installs_postgresql_with_the_apt_run_package_score_makes(tmp_path: Path) -> None:
    host, reference = MemoryHost(), MemoryHost()
    server = _server(host, tmp_path).server(PgConfig("app"))
    anyio.run(server.install_binaries)
    anyio.run(lambda: install_packages(reference, ["postgresql-15"], update_cache=True, timeout_s=None))
    apt = [argv for argv in host.programs if argv[0] == "apt-get"]
    # Before: "apt-get update -qq" and "apt-get install -y -qq postgresql-15", an apt run of its own.
    assert apt == [argv for argv in reference.programs if argv[0] == "apt-get"]
    assert ("-o", "DPkg::Lock::Timeout=300") == apt[-1][1:3] and apt[-1][-1] == "postgresql-15"
    # Debian's package is told not to make a "main" cluster, through the file convergence too.
    assert host.files["/etc/postgresql-common/createcluster.d/harmony.conf"] == (b"create_main_cluster = false\n", 0o644)


def test_the_configuration_files_are_planned_as_file_score_plans_them_and_the_password_never_shows(
    tmp_path: Path,
) -> None:
    host = MemoryHost()
    config = PgConfig("app")
    service = _server(host, tmp_path)
    layout = service.layout(config)
    host.directories |= {posixpath.dirname(layout.base_dir), layout.base_dir, layout.data_dir}
    server = service.server(config)
    planned = anyio.run(lambda: server.plan_configuration(fresh=False)).changes
    summaries = [change.summary for change in planned]
    password = server.password_of(config.replication_user).reveal()
    assert not host.writes  # a plan writes nothing
    assert f"create file {layout.passfile} (" in " ".join(summaries)
    assert all(password not in (change.summary + (change.diff or "")) for change in planned)
    # Each file is given to postgres (we are root), as FileScore with an owner would.
    assert f"owner of {layout.data_dir}/postgresql.conf -> postgres:postgres" in summaries


def test_converging_the_files_writes_them_0600_and_gives_them_to_postgres_then_changes_nothing(tmp_path: Path) -> None:
    host = MemoryHost()
    config = PgConfig("app")
    service = _server(host, tmp_path)
    layout = service.layout(config)
    host.directories |= {posixpath.dirname(layout.base_dir), layout.base_dir, layout.data_dir}
    server = service.server(config)
    made = anyio.run(lambda: server.ensure_configuration())
    assert made and {mode for _, mode in host.writes} == {0o600}
    chowned = {argv[-1] for argv in host.programs if argv[0] == "chown"}
    assert {layout.passfile, f"{layout.data_dir}/postgresql.conf", f"{layout.data_dir}/pg_hba.conf"} <= chowned
    # The second time content, mode and owner match: nothing is written nor given.
    host.writes.clear()
    host.programs.clear()
    assert anyio.run(lambda: server.ensure_configuration()) == []
    assert not host.writes and not [argv for argv in host.programs if argv[0] == "chown"]



def test_a_rewritten_file_is_given_back_to_postgres(tmp_path: Path) -> None:
    """An update replaces the file (a new inode, root's): postgres could not read its own configuration."""
    host = MemoryHost()
    config = PgConfig("app")
    service = _server(host, tmp_path)
    layout = service.layout(config)
    host.directories |= {posixpath.dirname(layout.base_dir), layout.base_dir, layout.data_dir}
    conf = f"{layout.data_dir}/postgresql.conf"
    host.files[conf] = (b"# initdb's\n", 0o600)
    host.owners[conf] = (104, 110)
    anyio.run(lambda: service.server(config).ensure_configuration())
    assert host.files[conf][0] != b"# initdb's\n" and host.owners[conf] == (104, 110)


@dataclass
class RecordingStep:
    """A step that plans one change until it has converged, and records what the runner asked."""

    name: str
    log: list[str]
    done: bool = False

    async def plan(self, predicted: list[str]) -> list[Change]:
        self.log.append(f"plan {self.name} after {predicted}")
        predicted.append(self.name)
        return [] if self.done else [Change(ChangeAction.CREATE, self.name, f"make {self.name}")]

    async def converge(self, changes: Sequence[Change]) -> None:
        self.log.append(f"converge {[c.summary for c in changes]}")
        self.done = True


def test_a_plan_of_steps_converges_nothing_and_passes_on_what_each_step_will_have_done() -> None:
    log: list[str] = []
    steps = [RecordingStep("a", log), RecordingStep("b", log, done=True), RecordingStep("c", log)]
    planned = anyio.run(plan_steps, steps, [])
    assert [change.summary for change in planned] == ["make a", "make c"]
    assert log == ["plan a after []", "plan b after ['a']", "plan c after ['a', 'b']"]


def test_a_deploy_of_steps_converges_each_before_the_next_is_planned_and_skips_one_with_nothing_to_do() -> None:
    log: list[str] = []
    steps = [RecordingStep("a", log), RecordingStep("b", log, done=True), RecordingStep("c", log)]
    made = anyio.run(deploy_steps, steps, [])
    assert [change.summary for change in made] == ["make a", "make c"]
    assert log == [
        "plan a after []", "converge ['make a']", "plan b after ['a']", "plan c after ['a', 'b']", "converge ['make c']",
    ]  # fmt: skip
    # Deployed again, every step observes its result: nothing to do.
    assert anyio.run(deploy_steps, steps, []) == []


def test_the_plan_of_a_fresh_host_lists_every_step_as_the_walk_did_and_changes_nothing(tmp_path: Path) -> None:
    """Install, initdb, files, start and roles are planned though the earlier steps made nothing yet."""
    host = MemoryHost()
    config = PgConfig("app", users=(PgUser("web", databases=("shop",)),))
    server = _server(host, tmp_path).server(config)
    server.store = server.store.for_plan()
    summaries = [change.summary for change in anyio.run(server.plan)]
    data = server.layout.data_dir
    assert summaries[:2] == ["install PostgreSQL 15 with apt", f"initialise cluster in {data}"]
    assert [summary.split(" (")[0] for summary in summaries[2:4]] == [
        f"create file {data}/postgresql.conf", f"owner of {data}/postgresql.conf -> postgres:postgres",
    ]  # fmt: skip
    assert summaries[-4:] == [
        f"start PostgreSQL on port {server.layout.port}",
        f"create replication role {config.replication_user}",
        "create role web",
        "create database shop",
    ]
    assert not host.writes and not [argv for argv in host.programs if argv[0] in ("apt-get", "chown")]
