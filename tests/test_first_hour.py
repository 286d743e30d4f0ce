"""A new user's first hour: the README's snippets and commands work as written, and harmony_py works as a library.

Every ```python block of the README is a complete program whose first line
names its file (``# score.py``). They are type-checked with mypy --strict, and
those that only touch files are run, with ``/tmp/harmony-tour`` moved into
the test's own directory. The tour's commands run exactly as written after the
set-up command, with ``.venv/bin/python`` standing for this interpreter.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import harmony_py
from harmony_py import (
    Change,
    ChangeAction,
    HarmonyError,
    Maestro,
    Phase,
    RunReport,
    ScoreReport,
    ScoreState,
    run_apply,
    run_plan,
)
from harmony_py.scores import FileScore
from topologies import LocalhostTopology

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
TOUR_ROOT = "/tmp/harmony-tour"
VENV_PYTHON = ".venv/bin/python"


def readme_programs() -> dict[str, str]:
    """The README's python blocks by the file name on their first line."""
    programs: dict[str, str] = {}
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        first = block.splitlines()[0]
        match = re.fullmatch(r"# (\w+\.py)", first)
        assert match, f"a README python block must start with '# NAME.py' (a complete program), not {first!r}"
        programs[match.group(1)] = block
    return programs


def write_program(directory: Path, name: str, tour_dir: Path) -> Path:
    path = directory / name
    path.write_text(readme_programs()[name].replace(TOUR_ROOT, str(tour_dir)))
    return path


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def run(argv: list[str], cwd: Path, mypy_cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if mypy_cache is not None:
        env["MYPY_CACHE_DIR"] = str(mypy_cache)
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, stdin=subprocess.DEVNULL, timeout=300)


# -- the README ---------------------------------------------------------------


def test_every_readme_python_block_is_a_complete_program_that_passes_mypy_strict(tmp_path: Path, mypy_cache: Path) -> None:
    programs = readme_programs()
    assert {"score.py", "release.py", "plan_report.py", "pg_pair.py"} <= set(programs)
    for name, text in programs.items():
        (tmp_path / name).write_text(text)
    # Run where a user's score would be (no project configuration), as `check` does in the tour.
    checked = run([sys.executable, "-m", "mypy", "--strict", *programs], tmp_path, mypy_cache)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_tour_commands_work_right_after_the_set_up_command(tmp_path: Path, mypy_cache: Path) -> None:
    tour = section("A short tour")
    commands = [line.split("#")[0].strip() for line in re.findall(r"```sh\n(.*?)```", tour, re.S)[0].splitlines()]
    commands = [command for command in commands if command]
    assert commands and all(command.startswith(f"{VENV_PYTHON} -m harmony_py ") for command in commands), commands
    tour_dir = tmp_path / "tour"
    write_program(tmp_path, "score.py", tour_dir)
    expected = {  # README order: plan, plan --detailed-exitcode, apply (no terminal), apply --json --yes, check, --version
        "plan score.py": 0,
        "plan --detailed-exitcode score.py": 2,
        "apply score.py": 1,
        "apply --json --yes score.py": 0,
        "check score.py": 0,
        "--version": 0,
    }
    outputs = []
    for command in commands:
        argv = shlex.split(command)
        argv[0] = sys.executable
        done = run(argv, tmp_path, mypy_cache)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == expected[" ".join(argv[3:])], (command, done.stdout, done.stderr)
    assert "re-run with --yes" in outputs[2]
    assert (tour_dir / "app.conf").read_text() == "port = 8080\n"
    assert (tour_dir / "token").stat().st_mode & 0o777 == 0o600
    assert (tour_dir / "built").is_file()
    assert "passes mypy --strict" in outputs[4]
    assert harmony_py.__version__ in outputs[5]
    assert not any("s3cr3t" in output for output in outputs)


def test_the_readme_producing_score_plans_known_after_apply_then_converges(tmp_path: Path) -> None:
    tour_dir = tmp_path / "tour"
    tour_dir.mkdir()
    path = write_program(tmp_path, "release.py", tour_dir)
    cli = [sys.executable, "-m", "harmony_py"]
    planned = run([*cli, "plan", "--detailed-exitcode", str(path)], tmp_path)
    assert planned.returncode == 2 and "(known after apply)" in planned.stdout, planned.stdout + planned.stderr
    applied = run([*cli, "apply", "--yes", str(path)], tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (tour_dir / "banner").read_text() == "running release 2.1\n"
    assert run([*cli, "plan", "--detailed-exitcode", str(path)], tmp_path).returncode == 0


def test_the_readme_python_api_example_plans_applies_and_reads_the_report(tmp_path: Path) -> None:
    tour_dir = tmp_path / "tour"
    tour_dir.mkdir()
    done = run([sys.executable, str(write_program(tmp_path, "plan_report.py", tour_dir))], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-2] == f"True ['FileScore({tour_dir}/app.conf)'] []"
    assert lines[-1] == "0 change(s) pending"


def test_the_readme_documents_what_a_new_user_asks_in_the_first_hour() -> None:
    for needed in (
        "LocalInstance(",  # two members on one machine
        "port_shift",
        "docker_host=",  # pointing LocalhostTopology at an engine
        "$DOCKER_HOST",
        "balancer_root",
        "Produces[V]",  # a producing score
        "ProducingInterpret",
        ".harmony/secrets/",  # where generated passwords live
        "$HARMONY_SECRETS_DIR",
        "runuser -u postgres",  # connecting as the superuser
        "execute it (it is Python)",  # plan runs the score file
        "'.[check]'",
        "'.[examples]'",
        "FailoverTopology[PostgreSQLServer](",
        "run_plan(",
        "**Stability.**",
    ):
        assert needed in README, needed
    # Localhost provides PostgreSQL: the old claim that mypy rejects it was wrong.
    assert "rejects `FailoverTopology[LocalhostTopology]`" not in README


# -- harmony_py as a library --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClosingLocalhost(LocalhostTopology):
    """This machine, counting the ``aclose`` calls a run makes (as an SSH host closes its connection)."""

    closed: list[str] = dataclasses.field(default_factory=list)

    async def aclose(self) -> None:
        self.closed.append("closed")


def test_run_plan_and_run_apply_work_without_an_event_loop_and_close_connections(tmp_path: Path) -> None:
    topology = ClosingLocalhost()
    maestro = Maestro(topology, plan_concurrency=1, apply_concurrency=1)
    for number in range(6):  # separate add() calls: independent scores queue for the one slot
        maestro.add(FileScore(f"{tmp_path}/file{number}", f"{number}\n"))

    plan = run_plan(maestro)
    assert plan.phase is Phase.PLAN and len(plan.pending) == 6 and len(plan.changes) == 6
    assert not list(tmp_path.iterdir()) and topology.closed == ["closed"]

    applied = run_apply(maestro, plan=plan)
    assert applied.ok and len(applied.changed) == 6 and not applied.failures
    assert (tmp_path / "file5").read_text() == "5\n" and topology.closed == ["closed", "closed"]
    assert run_plan(maestro).pending == ()


def test_run_plan_inside_an_event_loop_is_refused_with_the_way_out() -> None:
    maestro = Maestro(LocalhostTopology())

    async def inside() -> None:
        with pytest.raises(HarmonyError, match=r"cannot be called from async code; there, use `async with maestro: await maestro.plan\(\)`"):
            run_plan(maestro)

    anyio.run(inside)


def report(state: ScoreState, identity: str, *changes: Change) -> ScoreReport:
    return ScoreReport(identity, "FileScore", state, "message of " + identity, changes, identity=identity)


def test_report_accessors_answer_what_ops_tooling_asks() -> None:
    create = Change(ChangeAction.CREATE, "/a", "create file /a")
    update = Change(ChangeAction.UPDATE, "/b", "update mode of /b", attribute="mode")
    run_ = Change(ChangeAction.RUN, "make", "run make")
    plan = RunReport(
        Phase.PLAN,
        "localhost",
        (
            report(ScoreState.PENDING, "a", create),
            report(ScoreState.UNCHANGED, "u"),
            report(ScoreState.FAILED, "f"),
            report(ScoreState.PENDING, "b", update, run_),
            report(ScoreState.SKIPPED, "s"),
        ),
    )
    assert [score.identity for score in plan.pending] == ["a", "b"]
    assert plan.changes == (create, update, run_)
    assert [score.message for score in plan.failures] == ["message of f"]
    assert plan.changed == () and not plan.ok

    applied = RunReport(Phase.APPLY, "localhost", (report(ScoreState.CHANGED, "a", create), report(ScoreState.UNCHANGED, "u")))
    assert [score.identity for score in applied.changed] == ["a"] and applied.pending == () and applied.ok


REPORT_TYPES: tuple[type, ...] = (RunReport, ScoreReport, ScoreState, Change, ChangeAction, Phase)

PUBLISHED = {
    "RunReport": {"phase", "topology", "scores", "error", "facts", "hosts"},
    "ScoreReport": {"name", "kind", "state", "message", "changes", "duration_s", "topology", "identity", "depends_on", "unknown_inputs"},
    "ScoreState": {"UNCHANGED", "PENDING", "CHANGED", "FAILED", "SKIPPED"},
    "Change": {"action", "target", "summary", "diff", "attribute"},
    "ChangeAction": {"CREATE", "UPDATE", "DELETE", "RUN"},
    "Phase": {"PLAN", "APPLY"},
}
"""What the README calls stable: a release may add to these, never take away or rename."""


def names_of(kind: type) -> set[str]:
    if issubclass(kind, enum.Enum):
        return set(kind.__members__)
    assert dataclasses.is_dataclass(kind)
    return {field.name for field in dataclasses.fields(kind)}


def test_report_types_are_exported_and_keep_every_published_field() -> None:
    for kind in REPORT_TYPES:
        assert kind.__name__ in harmony_py.__all__
        assert PUBLISHED[kind.__name__] <= names_of(kind), kind.__name__
    assert {"ok", "failures", "pending", "changed", "changes", "has_changes"} <= set(dir(RunReport))


def documented_names(kind: type) -> tuple[set[str], set[str]]:
    """The class's fields or members, and those of them followed by a docstring, read from its source."""
    module = sys.modules[kind.__module__]
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text())
    [body] = [node.body for node in tree.body if isinstance(node, ast.ClassDef) and node.name == kind.__name__]
    declared: set[str] = set()
    documented: set[str] = set()
    for statement, following in zip(body, [*body[1:], None]):
        target = None
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            target = statement.target.id
        elif isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            target = statement.targets[0].id
        if target is None:
            continue
        declared.add(target)
        if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
            documented.add(target)
    return declared, documented


@pytest.mark.parametrize("kind", REPORT_TYPES, ids=lambda kind: kind.__name__)
def test_every_report_field_and_member_has_a_docstring(kind: type) -> None:
    assert kind.__doc__ and not kind.__doc__.startswith(kind.__name__ + "(")  # written, not dataclass's generated one
    declared, documented = documented_names(kind)
    assert declared == names_of(kind)
    assert declared - documented == set()


# -- examples/ops_tool.py ----------------------------------------------------


def ops_tool(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPS_TOKEN": "ops-token-never-shown"}
    return subprocess.run(
        [sys.executable, "examples/ops_tool.py", "--root", str(root), *args],
        capture_output=True, text=True, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip


def test_ops_tool_exits_with_the_number_of_pending_changes_and_prints_a_change_ticket(tmp_path: Path) -> None:
    root = tmp_path / "app"
    planned = ops_tool(root)
    assert planned.returncode == 3, planned.stderr
    assert planned.stdout.startswith("Change ticket: 3 change(s) in 3 score(s) on localhost")
    assert f"   - create file {root}/token (21 bytes, mode 0600)" in planned.stdout
    assert not root.exists()

    applied = ops_tool(root, "--apply")
    assert applied.returncode == 0, applied.stderr
    assert "Applied: 3 score(s) changed, 3 change(s) made." in applied.stdout
    assert (root / "token").read_text() == "ops-token-never-shown"

    again = ops_tool(root)
    assert again.returncode == 0 and again.stdout.startswith("No change needed on localhost")
    for output in (planned, applied, again):
        assert "ops-token-never-shown" not in output.stdout + output.stderr


def test_ops_tool_reports_a_failed_plan_with_its_cause_and_exit_101(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the tool wants a directory")
    failed = ops_tool(blocker / "app")
    assert failed.returncode == 101, failed.stdout + failed.stderr
    assert failed.stderr.strip() and "Change ticket" not in failed.stdout
