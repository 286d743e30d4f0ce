"""Typed outputs between scores, and the dependency graph the Maestro derives from them.

The scores are real (local files through LocalhostTopology, see outputs_scores.py);
concurrency is proven by a rendezvous that only concurrent scores can pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from harmony_py import Maestro, Ref, RunReport, ScoreState, ScoreValueError, Secret, UnresolvedRefError, resolved
from harmony_py.events import Event, ScoreStarted
from harmony_py.graph import _candidates
from topologies import LocalhostTopology

from .outputs_scores import (
    BrokenServerScore,
    ClientScore,
    Endpoint,
    ForgetfulScore,
    MeetingScore,
    MeetScore,
    PlannableClientScore,
    QueueScore,
    Rendezvous,
    ServerScore,
    ShopScore,
)

PASSWORD = "pw-ZXq81-never-shown"


def ref_to(identity: str) -> Ref[Endpoint]:
    """A Ref to the output of a ServerScore named ``identity`` (a Ref is only ever made by a producer)."""
    return ServerScore("/nowhere/ref.json", 1, Secret("p")).named(identity).output()


def by_identity(report: RunReport) -> dict[str, ScoreState]:
    return {score.identity: score.state for score in report.scores}


def pair(tmp_path: Path, name: str = "a") -> tuple[ServerScore, ClientScore]:
    server = ServerScore(f"{tmp_path}/{name}/server.json", 6000, Secret(PASSWORD)).named(f"{name}-db")
    url = server.output().map(lambda e: f"pg://{e.host}:{e.port}")
    client = ClientScore(f"{tmp_path}/{name}/client.json", server.output(), {"URL": url}).named(f"{name}-web")
    return server, client


def test_outputs_flow_at_apply_time_even_when_written_first(tmp_path: Path) -> None:
    server, client = pair(tmp_path)
    maestro = Maestro(LocalhostTopology()).add(client).add(server)  # separate add(): only the Ref orders them
    report = anyio.run(maestro.apply)
    assert by_identity(report) == {"a-web": ScoreState.CHANGED, "a-db": ScoreState.CHANGED}
    assert report.scores[0].depends_on == ("a-db",)
    written = json.loads((tmp_path / "a/client.json").read_text())
    assert written == {"server": "127.0.0.1:6000", "settings": {"URL": "pg://127.0.0.1:6000"}}
    assert (tmp_path / "a/client.json.secret").read_text() == PASSWORD
    assert (tmp_path / "a/client.json.secret").stat().st_mode & 0o777 == 0o600


def test_a_score_with_a_stand_in_plans_its_changes_before_its_inputs_exist(tmp_path: Path) -> None:
    server, client = pair(tmp_path)
    plannable = PlannableClientScore(client.path, client.server, client.settings).named("a-web")
    plan = anyio.run(Maestro(LocalhostTopology()).add(server, plannable).plan)
    web = plan.scores[1]
    assert web.state is ScoreState.PENDING
    assert web.unknown_inputs == ("server", "settings[URL]")
    assert [change.summary for change in web.changes] == ["configure the client"]
    assert not (tmp_path / "a").exists()  # a plan, stand-in included, mutates nothing
    # Without a stand-in the plan lists only the unknown inputs.
    assert anyio.run(Maestro(LocalhostTopology()).add(server, client).plan).scores[1].changes == ()


def test_plan_shows_unknown_inputs_then_reapply_is_noop_and_plan_empty(tmp_path: Path) -> None:
    server, client = pair(tmp_path)
    maestro = Maestro(LocalhostTopology()).add(server, client)
    plan = anyio.run(maestro.plan)
    web = plan.scores[1]
    assert web.state is ScoreState.PENDING
    assert web.unknown_inputs == ("server", "settings[URL]")
    assert "known after apply" in web.message and "a-db" in web.message
    assert not (tmp_path / "a").exists()

    first = anyio.run(maestro.apply)
    assert first.ok and first.count(ScoreState.CHANGED) == 2
    second = anyio.run(maestro.apply)
    assert [s.state for s in second.scores] == [ScoreState.UNCHANGED, ScoreState.UNCHANGED]
    after = anyio.run(maestro.plan)
    assert not after.has_changes
    assert all(not s.unknown_inputs and not s.changes for s in after.scores)
    assert PASSWORD not in repr((plan, first, second, after))


def test_a_cycle_is_rejected_before_anything_runs(tmp_path: Path) -> None:
    events: list[Event] = []
    first = ServerScore(f"{tmp_path}/x.json", 1, Secret("p"), label=ref_to("second").map(lambda e: e.host))
    second = ServerScore(f"{tmp_path}/y.json", 2, Secret("p"), label=first.named("first").output().map(str))
    maestro = Maestro(LocalhostTopology()).add(first.named("first")).add(second.named("second"))
    with pytest.raises(ScoreValueError, match=r"cycle: (first -> second -> first|second -> first -> second)"):
        anyio.run(maestro.apply, events.append)
    with pytest.raises(ScoreValueError, match="cycle"):
        anyio.run(maestro.plan, events.append)
    assert events == [] and not list(tmp_path.iterdir())


def test_a_ref_against_the_written_order_is_a_cycle(tmp_path: Path) -> None:
    server, client = pair(tmp_path)
    maestro = Maestro(LocalhostTopology()).add(client, server)  # server after client, client needs server
    with pytest.raises(ScoreValueError, match=r"cycle: a-web -> a-db -> a-web \(each waits for the next\)"):
        anyio.run(maestro.apply)
    assert not (tmp_path / "a").exists()


def test_a_failed_producer_skips_only_its_dependants(tmp_path: Path) -> None:
    broken = BrokenServerScore(f"{tmp_path}/broken").named("broken")
    orphan = ClientScore(f"{tmp_path}/orphan.json", broken.output()).named("orphan")
    grandchild = ServerScore(f"{tmp_path}/g.json", 1, Secret("p"), label=ref_to("orphan-db").map(str))
    server, client = pair(tmp_path, "ok")
    maestro = (
        Maestro(LocalhostTopology())
        .add(broken, orphan)
        .add(ServerScore(f"{tmp_path}/o.json", 2, Secret("p")).named("orphan-db"), grandchild.named("late"))
        .add(server, client)
    )
    report = anyio.run(maestro.apply)
    states = by_identity(report)
    assert states == {
        "broken": ScoreState.FAILED,
        "orphan": ScoreState.SKIPPED,
        "orphan-db": ScoreState.CHANGED,
        "late": ScoreState.CHANGED,
        "ok-db": ScoreState.CHANGED,
        "ok-web": ScoreState.CHANGED,
    }
    skipped = next(s for s in report.scores if s.identity == "orphan")
    assert skipped.message == "not applied: it depends on broken, which failed"
    assert (tmp_path / "ok/client.json").exists() and not (tmp_path / "orphan.json").exists()


def test_skips_name_the_score_that_failed_through_a_chain(tmp_path: Path) -> None:
    broken = BrokenServerScore(f"{tmp_path}/broken").named("broken")
    middle = ServerScore(f"{tmp_path}/m.json", 1, Secret("p"), label=broken.output().map(str)).named("middle")
    last = ClientScore(f"{tmp_path}/last.json", middle.output()).named("last")
    report = anyio.run(Maestro(LocalhostTopology()).add(last).add(middle).add(broken).apply)
    assert by_identity(report) == {"last": ScoreState.SKIPPED, "middle": ScoreState.SKIPPED, "broken": ScoreState.FAILED}
    assert all(s.message == "not applied: it depends on broken, which failed" for s in report.scores[:2])


def test_an_output_that_cannot_be_observed_or_derived_fails_its_score(tmp_path: Path) -> None:
    forgetful = ForgetfulScore().named("forgetful")
    server = ServerScore(f"{tmp_path}/s.json", 1, Secret("p")).named("server")

    def explode(endpoint: Endpoint) -> str:
        raise ValueError(f"no scheme for port {endpoint.port}")

    maestro = (
        Maestro(LocalhostTopology())
        .add(forgetful, ClientScore(f"{tmp_path}/a.json", forgetful.output()).named("a"))
        .add(server, ClientScore(f"{tmp_path}/b.json", server.output(), {"URL": server.output().map(explode)}).named("b"))
    )
    plan = anyio.run(maestro.plan)
    assert plan.scores[1].unknown_inputs == ("server",)  # nothing to change, yet no output: unknown
    report = anyio.run(maestro.apply)
    messages = {s.identity: (s.state, s.message) for s in report.scores}
    assert messages["forgetful"] == (ScoreState.FAILED, "forgetful was applied, but its output could not be observed")
    assert messages["a"] == (ScoreState.SKIPPED, "not applied: it depends on forgetful, which failed")
    assert messages["server"][0] is ScoreState.CHANGED
    assert messages["b"] == (
        ScoreState.FAILED,
        "deriving a value from the output of server failed: ValueError: no scheme for port 1",
    )


def test_one_add_call_is_still_a_sequence(tmp_path: Path) -> None:
    """Existing files: after a failure in one add() call, the rest of it is skipped, in order."""
    place = Rendezvous(parties=1)
    report = anyio.run(
        Maestro(LocalhostTopology())
        .add(MeetScore("one", place), BrokenServerScore(f"{tmp_path}/b"), MeetScore("three", place))
        .apply
    )
    assert [s.state for s in report.scores] == [ScoreState.CHANGED, ScoreState.FAILED, ScoreState.SKIPPED]
    assert place.most_in_flight == 1


def test_independent_scores_run_concurrently(tmp_path: Path) -> None:
    # Each waits until all three arrived: they pass only if they are in flight together.
    place = Rendezvous(parties=3)
    maestro = Maestro(LocalhostTopology())
    for who in ("a", "b", "c"):
        maestro.add(MeetScore(who, place))
    report = anyio.run(maestro.apply)
    assert report.ok and sorted(place.arrived) == ["a", "b", "c"]
    assert place.most_in_flight == 3


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    place = Rendezvous(parties=1)
    maestro = Maestro(LocalhostTopology(), apply_concurrency=2)
    for who in "abcdef":
        maestro.add(MeetScore(who, place))
    assert anyio.run(maestro.apply).ok
    assert place.most_in_flight == 2


def test_composite_parts_get_prefixed_identities_and_resolve_inside(tmp_path: Path) -> None:
    shop = ShopScore("shop", str(tmp_path), Secret(PASSWORD))
    maestro = Maestro(LocalhostTopology()).add(shop)
    started: list[str] = []

    def record(event: Event) -> None:
        if isinstance(event, ScoreStarted):
            started.append(event.identity)

    report = anyio.run(maestro.apply, record)
    assert [s.identity for s in report.scores] == ["shop.web", "shop.db"]
    assert started == ["shop.db", "shop.web"]  # the Ref orders the parts, not the order written
    settings = json.loads((tmp_path / "web.json").read_text())["settings"]
    assert settings == {"DATABASE_URL": "pg://127.0.0.1:5432/shop"}
    assert all(s.state is ScoreState.UNCHANGED for s in anyio.run(maestro.apply).scores)
    assert not anyio.run(maestro.plan).has_changes


def test_parts_see_their_full_identity_and_are_ordered_only_by_refs_unless_in_order() -> None:
    shop = Maestro(LocalhostTopology()).add(ShopScore("shop", "/nonexistent", Secret("p")))
    assert [node.score.identity for node in shop.graph().nodes] == ["shop.web", "shop.db"]
    meeting = Rendezvous(parties=2)
    assert anyio.run(Maestro(LocalhostTopology()).add(MeetingScore("m", ("a", "b"), meeting)).apply).ok
    assert meeting.most_in_flight == 2
    queue = Rendezvous(parties=1)
    report = anyio.run(Maestro(LocalhostTopology()).add(QueueScore("q", ("a", "b", "c"), queue)).apply)
    assert [s.depends_on for s in report.scores] == [(), ("q.a",), ("q.b",)]
    assert queue.most_in_flight == 1


def test_a_failed_plan_leaves_its_consumers_not_planned(tmp_path: Path) -> None:
    broken = BrokenServerScore(f"{tmp_path}/b", plan_fails=True).named("broken")
    client = ClientScore(f"{tmp_path}/c.json", broken.output()).named("client")
    server, other = pair(tmp_path)
    plan = anyio.run(Maestro(LocalhostTopology()).add(broken).add(client).add(server, other).plan)
    assert by_identity(plan) == {
        "broken": ScoreState.FAILED,
        "client": ScoreState.SKIPPED,
        "a-db": ScoreState.PENDING,
        "a-web": ScoreState.PENDING,
    }
    assert "cannot observe the server" in plan.scores[0].message
    assert plan.scores[1].message == "not planned: the plan of broken, which it takes a value from, failed"


def test_two_shops_do_not_mix_their_parts(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    maestro = Maestro(LocalhostTopology()).add(
        ShopScore("one", f"{tmp_path}/one", Secret("p1")), ShopScore("two", f"{tmp_path}/two", Secret("p2"))
    )
    report = anyio.run(maestro.apply)
    assert [s.identity for s in report.scores] == ["one.web", "one.db", "two.web", "two.db"]
    assert (tmp_path / "one/web.json.secret").read_text() == "p1"
    assert (tmp_path / "two/web.json.secret").read_text() == "p2"
    assert dict(zip([s.identity for s in report.scores], [s.depends_on for s in report.scores]))["two.db"] == (
        "one.db",
        "one.web",
    )


def test_bad_references_are_one_clear_error_before_anything_runs(tmp_path: Path) -> None:
    dangling = ClientScore(f"{tmp_path}/c.json", ref_to("nowhere"))
    with pytest.raises(ScoreValueError, match="refers to nowhere, which is not among this maestro's scores"):
        anyio.run(Maestro(LocalhostTopology()).add(dangling).plan)
    not_a_producer = ClientScore(f"{tmp_path}/c.json", ref_to("other")).named("c")
    other = ClientScore(f"{tmp_path}/d.json", ref_to("c")).named("other")
    with pytest.raises(ScoreValueError, match="produces no output"):
        anyio.run(Maestro(LocalhostTopology()).add(not_a_producer).add(other).plan)
    twice = ServerScore(f"{tmp_path}/s.json", 1, Secret("p")).named("db")
    with pytest.raises(ScoreValueError, match="two scores have the identity 'db'"):
        anyio.run(Maestro(LocalhostTopology()).add(twice).add(twice).plan)
    unnamed = ServerScore(f"{tmp_path}/s.json", 1, Secret("p"))
    user = ClientScore(f"{tmp_path}/u.json", unnamed.output())
    with pytest.raises(ScoreValueError, match=r"refers to ServerScore\(.*\), but several scores have that identity"):
        anyio.run(Maestro(LocalhostTopology()).add(unnamed).add(unnamed).add(user).plan)
    assert not list(tmp_path.iterdir())


def test_unnamed_scores_alike_keep_working_with_numbered_identities(tmp_path: Path) -> None:
    place = Rendezvous(parties=1)
    report = anyio.run(Maestro(LocalhostTopology()).add(MeetScore("x", place), MeetScore("x", place)).apply)
    assert [s.identity for s in report.scores] == ["MeetScore(x)", "MeetScore(x)#2"]
    assert report.scores[1].depends_on == ("MeetScore(x)",)


def test_resolved_and_identity_rules() -> None:
    assert resolved(3) == 3
    unresolved: int | Ref[int] = ref_to("db").map(lambda e: e.port)
    with pytest.raises(UnresolvedRefError, match="the output of db is not known here"):
        resolved(unresolved)
    with pytest.raises(ScoreValueError, match="a score identity is"):
        ServerScore("/x", 1, Secret("p")).named("bad name")
    assert str(ref_to("db")) == "(known after apply)"
    # Inside nested composites a Ref is looked up from the innermost outwards.
    assert _candidates(("mall", "mall.shop"), "db") == ["mall.shop.db", "mall.db", "db"]
