"""``python -m harmony_py graph``: the scores' dependency graph as DOT or mermaid, coloured by a plan on request.

The shop example is read twice: through the picture model both printers
share, and through Graphviz itself (``dot -Tjson`` parses the DOT we print,
``dot -Tsvg`` renders it). Plans run on this machine against files under
``tmp_path``; nothing else is contacted.
"""

from __future__ import annotations

import fcntl
import hashlib
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from harmony_py import Maestro, TopologyGroup
from harmony_py.cli.graph_model import EdgeKind, Picture, PlannedChange, build_picture
from harmony_py.cli.graph_text import to_mermaid
from harmony_py.cli.loader import load_maestro
from harmony_py.report import Phase, RunReport, ScoreReport, ScoreState
from harmony_py.scores import ApplicationScore, DirectoryScore, FileScore, ServiceScore
from harmony_py.values import Change, ChangeAction
from tests.ports import free_port
from topologies import LocalhostTopology, LocalInstance

ROOT = Path(__file__).parent.parent
SHOP = ROOT / "examples" / "shop.py"
DOT = shutil.which("dot")
needs_graphviz = pytest.mark.skipif(DOT is None, reason="Graphviz's dot is not installed (scripts/system-packages.sh)")


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


def graphviz_json(dot_text: str) -> dict[str, Any]:
    """The graph as Graphviz parsed it (``dot -Tjson``): objects (clusters and nodes) and edges."""
    assert DOT is not None
    done = subprocess.run([DOT, "-Tjson"], input=dot_text, capture_output=True, text=True, timeout=60, check=True)
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def graphviz_nodes(parsed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every node Graphviz read, by name (clusters, which have ``nodes``, left out)."""
    return {obj["name"]: obj for obj in parsed["objects"] if "nodes" not in obj}


def graphviz_edges(parsed: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    names = [obj["name"] for obj in parsed["objects"]]
    return {(names[edge["tail"]], names[edge["head"]]): edge for edge in parsed.get("edges", [])}


@pytest.fixture
def keep_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a score file in-process chooses its project: put the previous choice back afterwards."""
    import harmony_py.project

    monkeypatch.setattr(harmony_py.project, "_chosen_root", harmony_py.project._chosen_root)


def shop_picture(monkeypatch: pytest.MonkeyPatch, platform: str) -> Picture:
    monkeypatch.setenv("SHOP_TOPOLOGY", platform)
    return build_picture(load_maestro(str(SHOP)), "shop", None)


# -- the shop example ----------------------------------------------------------


@pytest.mark.usefixtures("keep_project_root")
def test_graph_of_the_shop_shows_its_parts_in_a_cluster_in_order_with_the_database_url_wired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    picture = shop_picture(monkeypatch, "localhost")
    assert [node.identity for node in picture.nodes] == ["shop.contract", "shop.db", "shop.web"]
    assert [(c.identity, c.kind, c.parent) for c in picture.clusters] == [("shop", "ApplicationScore", None)]
    assert {node.cluster for node in picture.nodes} == {picture.clusters[0].key}
    assert picture.edge_pairs() == {
        ("shop.contract", "shop.db", EdgeKind.ORDER),
        ("shop.db", "shop.web", EdgeKind.OUTPUT),
    }
    wired = next(edge for edge in picture.edges if edge.kind is EdgeKind.OUTPUT)
    assert wired.fields == ("env[DATABASE_URL]", "authorities[DATABASE_URL]")  # the URL and the CA it verifies with
    assert {node.runs_on for node in picture.nodes} == {"localhost"}
    assert picture.node("shop.db").kind == "PostgreSQLScore"


@pytest.mark.usefixtures("keep_project_root")
def test_graph_of_the_shop_on_failover_runs_the_database_on_the_pair_and_the_app_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    picture = shop_picture(monkeypatch, "failover")
    database = picture.node("shop.db")
    assert database.runs_on.startswith("FailoverTopology[") and database.members == ("pg-a", "pg-b")
    for part in ("shop.contract", "shop.web"):
        assert (picture.node(part).runs_on, picture.node(part).members) == ("localhost", ())


@needs_graphviz
def test_graph_dot_of_the_shop_is_read_by_graphviz_with_its_nodes_cluster_and_edges() -> None:
    result = run_cli("graph", str(SHOP), env={"SHOP_TOPOLOGY": "localhost"})
    assert result.returncode == 0, result.stderr
    parsed = graphviz_json(result.stdout)
    nodes = graphviz_nodes(parsed)
    assert sorted(nodes) == ["n0", "n1", "n2"]
    assert [nodes[name]["label"].split("\\n")[0] for name in ("n0", "n1", "n2")] == ["shop.contract", "shop.db", "shop.web"]
    assert all("on localhost" in node["label"] for node in nodes.values())
    (cluster,) = [obj for obj in parsed["objects"] if "nodes" in obj]
    assert cluster["label"] == "shop (ApplicationScore)" and len(cluster["nodes"]) == 3
    edges = graphviz_edges(parsed)
    assert set(edges) == {("n0", "n1"), ("n1", "n2")}
    assert edges[("n0", "n1")]["style"] == "dashed"
    assert edges[("n1", "n2")]["label"] == "env[DATABASE_URL], authorities[DATABASE_URL]"


@needs_graphviz
@pytest.mark.parametrize("platform", ["localhost", "failover"])
def test_graph_dot_of_the_shop_renders_to_svg_with_graphviz(platform: str) -> None:
    result = run_cli("graph", "--format", "dot", str(SHOP), env={"SHOP_TOPOLOGY": platform})
    assert result.returncode == 0, result.stderr
    assert DOT is not None
    svg = subprocess.run([DOT, "-Tsvg"], input=result.stdout, capture_output=True, text=True, timeout=60)
    assert svg.returncode == 0 and not svg.stderr, svg.stderr
    assert "<svg" in svg.stdout and "shop.db" in svg.stdout


@pytest.mark.parametrize("form", ["dot", "mermaid"])
def test_graph_prints_the_same_bytes_on_every_run(form: str) -> None:
    # Different hash seeds: nothing in the output may follow the order of a set.
    runs = [
        run_cli("graph", "--format", form, str(SHOP), env={"SHOP_TOPOLOGY": "failover", "PYTHONHASHSEED": seed})
        for seed in ("1", "2", "3")
    ]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    assert runs[0].stdout and runs[0].stdout == runs[1].stdout == runs[2].stdout


# -- order, references and triggers -------------------------------------------


def test_graph_leaves_out_order_edges_implied_by_a_longer_path(tmp_path: Path) -> None:
    # The file after the shop waits for all three of its parts; only the last part's edge says something.
    shop = ApplicationScore("shop", "shop:1", source=str(tmp_path))
    maestro = Maestro(LocalhostTopology()).add(
        DirectoryScore(f"{tmp_path}/site").named("site"), shop, FileScore(f"{tmp_path}/site/done", "x\n").named("done")
    )
    assert maestro.graph().by_identity["done"].after == {"shop.contract", "shop.db", "shop.web"}
    assert build_picture(maestro, "t").edge_pairs() == {
        ("site", "shop.contract", EdgeKind.ORDER),
        ("shop.contract", "shop.db", EdgeKind.ORDER),
        ("shop.db", "shop.web", EdgeKind.OUTPUT),
        ("shop.web", "done", EdgeKind.ORDER),
    }


def test_graph_draws_a_restart_on_changes_as_a_trigger_edge_naming_the_field(tmp_path: Path) -> None:
    config = FileScore(f"{tmp_path}/app.ini", "port = 1\n").named("config")
    service = ServiceScore("app", command="sleep 1", restart_on=[config]).named("app")
    picture = build_picture(Maestro(LocalhostTopology()).add(config).add(service), "t")
    (edge,) = picture.edges
    assert picture.edge_pairs() == {("config", "app", EdgeKind.TRIGGER)}
    assert edge.fields == ("restart_on[0]",)


# -- mermaid -------------------------------------------------------------------

MERMAID_ID = r"[A-Za-z][A-Za-z0-9_]*"
MERMAID_LABEL = r'"[^"\n]*"'
MERMAID_LINE = re.compile(
    "|".join(
        [
            rf"subgraph {MERMAID_ID}\[{MERMAID_LABEL}\]",
            r"end",
            r"direction TB",
            rf"{MERMAID_ID}\[{MERMAID_LABEL}\]",
            rf"{MERMAID_ID} (-\.->|==>|-\.->)(\|{MERMAID_LABEL}\|)? {MERMAID_ID}",
            rf"{MERMAID_ID}( ~~~ {MERMAID_ID})+",
            rf"classDef {MERMAID_ID} [a-z:#0-9,\- ]+",
            rf"class {MERMAID_ID}(,{MERMAID_ID})* {MERMAID_ID}",
        ]
    )
)
MERMAID_KEYWORDS = {"end", "graph", "subgraph", "flowchart", "style", "class", "classDef", "click", "linkStyle", "direction"}


def mermaid_problems(text: str) -> list[str]:
    """What makes ``text`` other than the flowchart grammar the printer promises (empty when well-formed)."""
    lines = text.splitlines()
    problems = []
    if lines[:4] != ["---", lines[1], "---", "flowchart LR"] or not lines[1].startswith('title: "'):
        problems.append(f"header: {lines[:4]}")
    depth = 0
    for line in lines[4:]:
        body = line.strip()
        if not MERMAID_LINE.fullmatch(body):
            problems.append(f"not in the grammar: {line!r}")
        depth += body.startswith("subgraph ") - (body == "end")
        if depth < 0:
            problems.append(f"end without subgraph: {line!r}")
    if depth:
        problems.append(f"{depth} subgraph(s) not closed")
    ids = set(re.findall(rf"(?<![\w#\"]){MERMAID_ID}(?=\[|\s|,|$)", "\n".join(lines[4:])))
    problems += [f"keyword used as an id: {word}" for word in sorted(ids & MERMAID_KEYWORDS - {"end", "subgraph", "direction", "class", "classDef"})]
    return problems


HOSTILE_NAME = 'odd "name" #1 <b>a|b</b> end & \\n'


def hostile_score_file(tmp_path: Path) -> Path:
    """Scores whose names hold what DOT and mermaid would read as syntax."""
    path = tmp_path / "hostile.py"
    path.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from harmony_py.scores import DirectoryScore, FileScore
            from topologies import LocalhostTopology

            maestro = Maestro(LocalhostTopology()).add(
                DirectoryScore({str(tmp_path / HOSTILE_NAME)!r}),
                FileScore({str(tmp_path / HOSTILE_NAME / "end")!r}, "x\\n"),
            )
            """
        )
    )
    return path


@pytest.mark.usefixtures("keep_project_root")
def test_graph_mermaid_of_the_shop_is_well_formed_with_generated_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    text = to_mermaid(shop_picture(monkeypatch, "failover"))
    assert mermaid_problems(text) == []
    assert 'subgraph c0["shop (ApplicationScore)"]' in text
    assert 'n1 ==>|"env[DATABASE_URL], authorities[DATABASE_URL]"| n2' in text


def test_graph_mermaid_escapes_names_that_look_like_syntax(tmp_path: Path) -> None:
    result = run_cli("graph", "--format", "mermaid", str(hostile_score_file(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert mermaid_problems(result.stdout) == [], result.stdout
    assert "odd #quot;name#quot; #35;1 #lt;b#gt;a#124;b#lt;/b#gt; end #amp; \\n" in result.stdout


@needs_graphviz
def test_graph_dot_keeps_names_that_look_like_syntax_as_text(tmp_path: Path) -> None:
    result = run_cli("graph", str(hostile_score_file(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert DOT is not None
    svg = subprocess.run([DOT, "-Tsvg"], input=result.stdout, capture_output=True, text=True, timeout=60, check=True)
    # What Graphviz draws is the name as written: a backslash and an n, not a line break.
    assert f"/{html.escape(HOSTILE_NAME)})</text>" in svg.stdout


MERMAID_CHECK = ROOT / "tests" / "mermaid"
"""package.json and package-lock.json pinning mermaid (and jsdom, the browser it expects), and parse.mjs."""
MermaidParser = Callable[[Sequence[Path]], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def mermaid_parser() -> MermaidParser:
    """mermaid's own parser, installed once per lock file from the npm registry into a cache outside the checkout."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("checking mermaid output needs node and npm (Debian nodejs, in scripts/apt-packages.txt)")
    files = ("package.json", "package-lock.json", "parse.mjs")
    digest = hashlib.sha256(b"".join((MERMAID_CHECK / name).read_bytes() for name in files)).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harmony_py-tests" / f"mermaid-{digest}"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f"{cache.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / "installed").exists():
            for name in files:
                shutil.copyfile(MERMAID_CHECK / name, cache / name)
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=cache, capture_output=True, text=True, timeout=540)
            if done.returncode:
                pytest.fail(f"npm ci of mermaid's parser (tests/mermaid) failed: {done.stderr[-2000:]}")
            (cache / "installed").touch()

    def parse(paths: Sequence[Path]) -> list[dict[str, Any]]:
        done = subprocess.run(
            [node, str(cache / "parse.mjs"), *map(str, paths)], capture_output=True, text=True, timeout=120, check=True
        )
        return [json.loads(line) for line in done.stdout.splitlines()]

    return parse


def test_graph_mermaid_output_is_accepted_by_mermaids_own_parser(tmp_path: Path, mermaid_parser: MermaidParser) -> None:
    outputs = {
        "shop": run_cli("graph", "--format", "mermaid", str(SHOP), env={"SHOP_TOPOLOGY": "failover"}),
        "hostile": run_cli("graph", "--format", "mermaid", str(hostile_score_file(tmp_path))),
        "plan": run_cli("graph", "--plan", "--format", "mermaid", str(planned_score_file(tmp_path, failing=True))),
    }
    paths = []
    for label, result in outputs.items():
        assert result.stdout, (label, result.stderr)
        paths.append(tmp_path / f"{label}.mmd")
        paths[-1].write_text(result.stdout)
    # The parser's sensitivity: the hostile names, unescaped, are refused.
    paths.append(tmp_path / "unescaped.mmd")
    paths[-1].write_text(outputs["hostile"].stdout.replace("#quot;", '"'))
    parsed = mermaid_parser(paths)
    assert [(entry["ok"], entry.get("type")) for entry in parsed[:-1]] == [(True, "flowchart-v2")] * 3, parsed
    assert parsed[-1]["ok"] is False


# -- --plan ----------------------------------------------------------------------


def planned_score_file(tmp_path: Path, *, failing: bool) -> Path:
    """One score for each planned change: create, update, noop, delete; with ``failing``, a failure and what it skips."""
    (tmp_path / "same").write_text("same\n")
    (tmp_path / "old").write_text("old\n")
    (tmp_path / "stale").write_text("stale\n")
    (tmp_path / "plain").write_text("a file, not a directory\n")
    failures = """
        broken = BrokenServerScore("/nowhere", plan_fails=True).named("broken")
        maestro.add(broken, ClientScore(f"{ROOT}/client.json", broken.output()).named("client"))
    """
    path = tmp_path / "planned.py"
    path.write_text(
        textwrap.dedent(
            f"""
            from collections.abc import Sequence
            from dataclasses import dataclass
            from pathlib import Path

            from capabilities import CommandRunner
            from harmony_py import Change, ChangeAction, ConvergingInterpret, Maestro, Score
            from harmony_py.scores import DirectoryScore, FileScore
            from tests.outputs_scores import BrokenServerScore, ClientScore
            from topologies import LocalhostTopology

            ROOT = {str(tmp_path)!r}


            @dataclass(frozen=True)
            class AbsentScore(Score[CommandRunner]):
                path: str

                def interpret(self) -> "Absent":
                    return Absent(self.path)


            class Absent(ConvergingInterpret[CommandRunner]):
                def __init__(self, path: str) -> None:
                    self.path = Path(path)

                async def plan(self, topology: CommandRunner) -> Sequence[Change]:
                    if not self.path.exists():
                        return []
                    return [Change(ChangeAction.DELETE, str(self.path), f"remove {{self.path}}")]

                async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
                    self.path.unlink()


            maestro = Maestro(LocalhostTopology()).add(
                DirectoryScore(f"{{ROOT}}/site").named("site"),
                FileScore(f"{{ROOT}}/old", "new\\n").named("old"),
                FileScore(f"{{ROOT}}/same", "same\\n").named("same"),
                AbsentScore(f"{{ROOT}}/stale").named("stale"),
            )
            """
        )
        + (textwrap.dedent(failures) if failing else "")
    )
    return path


def fills(dot_text: str) -> dict[str, str]:
    """Each score node's first label line (its identity) -> its fill colour, as Graphviz read them."""
    nodes = graphviz_nodes(graphviz_json(dot_text)).values()
    return {node["label"].split("\\n")[0]: node.get("fillcolor", "") for node in nodes if node["name"] != "legend"}


@needs_graphviz
def test_graph_plan_colours_each_score_by_its_planned_change_and_draws_a_legend(tmp_path: Path) -> None:
    from harmony_py.cli.graph_text import FILL

    result = run_cli("graph", "--plan", str(planned_score_file(tmp_path, failing=False)))
    assert result.returncode == 0, result.stderr
    assert fills(result.stdout) == {
        "site": FILL[PlannedChange.CREATE],
        "old": FILL[PlannedChange.UPDATE],
        "same": FILL[PlannedChange.NOOP],
        "stale": FILL[PlannedChange.DELETE],
    }
    legend = graphviz_nodes(graphviz_json(result.stdout))["legend"]["label"]
    colours = re.findall(r'<TD BGCOLOR="(#[0-9a-f]{6})"[^>]*>(\w+)</TD>', legend)
    assert sorted(colours) == sorted((FILL[change], change.value) for change in PlannedChange)
    # A plan changes nothing.
    assert not (tmp_path / "site").exists() and (tmp_path / "old").read_text() == "old\n" and (tmp_path / "stale").exists()


@needs_graphviz
def test_graph_plan_that_fails_still_draws_the_failure_and_what_it_skips_then_exits_non_zero(tmp_path: Path) -> None:
    from harmony_py.cli.graph_text import FILL

    result = run_cli("graph", "--plan", str(planned_score_file(tmp_path, failing=True)))
    assert result.returncode == 1
    found = fills(result.stdout)
    assert (found["broken"], found["client"]) == (FILL[PlannedChange.FAILED], FILL[PlannedChange.SKIPPED])
    assert found["site"] == FILL[PlannedChange.CREATE]
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the plan failed: broken") and "cannot observe the server" in line


def test_graph_mermaid_plan_puts_each_score_in_the_class_of_its_change(tmp_path: Path) -> None:
    result = run_cli("graph", "--plan", "--format", "mermaid", str(planned_score_file(tmp_path, failing=False)))
    assert result.returncode == 0, result.stderr
    assert mermaid_problems(result.stdout) == []
    classes = dict(re.findall(r"^  class (\S+) (\w+)$", result.stdout, re.MULTILINE)[i][::-1] for i in range(6))
    assert classes == {
        "create": "n0,legend_create",
        "update": "n1,legend_update",
        "noop": "n2,legend_noop",
        "delete": "n3,legend_delete",
        "failed": "legend_failed",
        "skipped": "legend_skipped",
    }


def test_graph_of_a_group_names_the_members_and_colours_a_score_by_its_most_pressing_member(tmp_path: Path) -> None:
    members = [LocalInstance(name, root=str(tmp_path / name)) for name in ("web1", "web2", "web3", "web4")]
    maestro = Maestro(TopologyGroup(members)).add(FileScore(f"{tmp_path}/motd", "hi\n").named("motd"))
    create = Change(ChangeAction.CREATE, "motd", "create motd")

    def report(member: str, state: ScoreState) -> ScoreReport:
        changes = (create,) if state is ScoreState.PENDING else ()
        return ScoreReport("FileScore", "FileScore", state, "", changes, topology=member, identity="motd")

    states = [ScoreState.PENDING, ScoreState.UNCHANGED, ScoreState.UNCHANGED, ScoreState.PENDING]
    plan = RunReport(Phase.PLAN, "group", tuple(report(m.name, s) for m, s in zip(members, states)))
    node = build_picture(maestro, "t", plan).node("motd")
    assert node.members == ("web1", "web2", "web3", "web4")
    assert (node.change, node.note) == (PlannedChange.CREATE, "create on 2, noop on 2 of 4")


# -- contacting nothing, and errors --------------------------------------------


@pytest.fixture
def ssh_port_watcher() -> Iterator[tuple[int, list[object]]]:
    """A port where an SSH server would be; each connection made to it is counted, then closed."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    listener.settimeout(0.2)
    seen: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            seen.append(connection.getpeername())
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], seen
    stop.set()
    thread.join()
    listener.close()


def test_graph_without_plan_contacts_nothing_and_with_plan_does(tmp_path: Path, ssh_port_watcher: tuple[int, list[object]]) -> None:
    port, seen = ssh_port_watcher
    path = tmp_path / "remote.py"
    path.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from harmony_py.scores import FileScore
            from topologies import LinuxHostTopology

            host = LinuxHostTopology("127.0.0.1", port={port}, user="nobody", known_hosts={str(tmp_path / "known")!r})
            maestro = Maestro(host).add(FileScore("/tmp/x", "x\\n"))
            """
        )
    )
    drawn = run_cli("graph", str(path))
    assert drawn.returncode == 0, drawn.stderr
    assert "on 127.0.0.1" in drawn.stdout and seen == []
    planned = run_cli("graph", "--plan", str(path))
    assert planned.returncode == 1 and planned.stdout == ""
    assert len(planned.stderr.splitlines()) == 1 and seen, planned.stderr


def test_graph_of_a_broken_score_file_is_one_line_error_and_no_graph(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("from harmony_py import Maestro\nmaestro = Maestro(\n")
    result = run_cli("graph", str(path))
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: score file {path}, line ") and "syntax error" in line


def test_graph_of_a_dependency_cycle_names_it_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cycle.py"
    path.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from harmony_py.scores import FileScore, ServiceScore
            from topologies import LocalhostTopology

            a = ServiceScore("a", command="sleep 1", restart_on=[FileScore("/b", "b").named("b")]).named("a")
            b = ServiceScore("b", command="sleep 1", restart_on=[a]).named("b")
            maestro = Maestro(LocalhostTopology()).add(a, b)
            """
        )
    )
    result = run_cli("graph", str(path))
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "dependency cycle" in line
