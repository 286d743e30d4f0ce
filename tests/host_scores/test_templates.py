"""TemplateScore: Jinja2 rendered here, converged like FileScore, secrets masked in the plan's diff."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from harmony_py import ScoreValueError, Secret
from harmony_py.scores import TemplateScore
from harmony_py.scores.templates import HIDDEN_LINE

from .conftest import TopologyFactory, Workdir
from .helpers import plan_of, rounds

TEMPLATE = """[server]
port = {{ port }}
{% for name in workers %}worker = {{ name }}
{% endfor %}password = {{ db.password }}
"""


def test_a_template_is_rendered_and_converged_then_noop(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("app.ini")
    score = TemplateScore(inside, TEMPLATE, {"port": 8080, "workers": ["a", "b"], "db": {"password": "plain"}})
    result = anyio.run(rounds, anywhere(), score)
    result.assert_converged()
    assert outside.read_text() == "[server]\nport = 8080\nworker = a\nworker = b\npassword = plain\n"
    assert outside.stat().st_mode & 0o777 == 0o644
    assert "+port = 8080" in (result.planned.scores[0].changes[0].diff or "")


def test_a_secret_in_the_context_is_masked_in_the_diff_also_when_it_changes(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("db.ini")
    first = TemplateScore(inside, TEMPLATE, {"port": 5432, "workers": [], "db": {"password": Secret("old-s3cr3t")}})
    created = anyio.run(rounds, anywhere(), first)
    created.assert_converged()
    assert outside.read_text().endswith("password = old-s3cr3t\n") and outside.stat().st_mode & 0o777 == 0o600
    second = TemplateScore(inside, TEMPLATE, {"port": 5433, "workers": [], "db": {"password": Secret("new-s3cr3t")}})
    report = anyio.run(plan_of, anywhere(), second)
    (change,) = report.scores[0].changes
    said = repr(created) + repr(report)
    assert "old-s3cr3t" not in said and "new-s3cr3t" not in said
    # The secret line is masked on both sides, so it is context; the file is 0600, so a line the
    # template no longer writes is hidden (it could be anyone's secret); what replaces it is shown.
    assert change.diff is not None and "+port = 5433\n" in change.diff
    assert f"-{HIDDEN_LINE}\n" in change.diff and " password = ********\n" in change.diff


def test_a_change_of_the_secret_alone_says_so_without_a_diff(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, _ = workdir.at("token.ini")
    template = "token = {{ token }}\n"
    anyio.run(rounds, anywhere(), TemplateScore(inside, template, {"token": Secret("first")})).assert_converged()
    report = anyio.run(plan_of, anywhere(), TemplateScore(inside, template, {"token": Secret("second")}))
    (change,) = report.scores[0].changes
    assert "only secret values change" in change.summary and change.diff is None
    assert "first" not in repr(report) and "second" not in repr(report)


def test_a_secret_change_in_a_world_readable_file_shows_both_sides_masked(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, _ = workdir.at("open.ini")
    anyio.run(rounds, anywhere(), TemplateScore(inside, TEMPLATE, {"port": 1, "workers": [], "db": {"password": Secret("aaa-old")}}, mode=0o644))
    report = anyio.run(plan_of, anywhere(), TemplateScore(inside, TEMPLATE, {"port": 2, "workers": [], "db": {"password": Secret("bbb-new")}}, mode=0o644))
    diff = report.scores[0].changes[0].diff or ""
    assert "-port = 1\n" in diff and "+port = 2\n" in diff and " password = ********\n" in diff
    assert "aaa-old" not in repr(report) and "bbb-new" not in repr(report)


def test_lines_the_template_would_not_write_in_a_private_file_are_hidden(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("hand-made.ini")
    outside.write_text("api_key = someone-elses-secret\nport = 1\n")
    outside.chmod(0o600)
    report = anyio.run(plan_of, anywhere(), TemplateScore(inside, "port = {{ port }}\n", {"port": 2}, mode=0o600))
    diff = report.scores[0].changes[0].diff or ""
    assert "someone-elses-secret" not in repr(report)
    assert f"-{HIDDEN_LINE}\n" in diff and "+port = 2\n" in diff


def test_includes_load_only_under_the_loader_root(anywhere: TopologyFactory, workdir: Workdir, tmp_path: Path) -> None:
    templates = tmp_path / "controller-templates"
    templates.mkdir()
    (templates / "common.j2").write_text("user = {{ user }}\n")
    inside, outside = workdir.at("with-include.ini")
    score = TemplateScore(inside, "{% include 'common.j2' %}port = 1\n", {"user": "app"}, loader_root=str(templates))
    anyio.run(rounds, anywhere(), score).assert_converged()
    assert outside.read_text() == "user = app\nport = 1\n"


@pytest.mark.parametrize(
    ("template", "context", "message"),
    [
        ("port = {{ port }\n", {}, r"TemplateScore\(/etc/app.ini\).template, line 1: unexpected '}'"),
        ("port = {{ port }}\n", {}, "UndefinedError: 'port' is undefined"),
        ("{% include '/etc/passwd' %}", {}, "needs loader_root="),
        ("{{ ''.__class__.__mro__ }}", {}, "SecurityError|UndefinedError|unsafe"),
    ],
)
def test_templates_that_cannot_render_are_refused_when_the_score_is_made(template: str, context: dict[str, object], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        TemplateScore("/etc/app.ini", template, context)
