"""Small real scores for the outputs tests: a producer and a consumer of a typed value, on local files.

``ServerScore`` keeps a state file (its port and password) and produces an
:class:`Endpoint` read back from that file; ``ClientScore`` writes what it was
given (the password to a 0600 file of its own). ``Rendezvous`` lets tests
prove that scores overlap without looking at a clock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar
from pathlib import Path

import anyio
import anyio.lowlevel

from capabilities import CommandRunner
from harmony_py import (
    Change,
    ChangeAction,
    CompositeScore,
    ConvergingInterpret,
    Interpret,
    Outcome,
    Produces,
    ProducingInterpret,
    Ref,
    Score,
    ScoreValueError,
    Secret,
    resolved,
)

RENDEZVOUS_TIMEOUT_S = 30.0
"""A deadlock guard only: scores that never overlap fail after it, scores that do never wait for it."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    password: Secret


@dataclass(frozen=True)
class ServerScore(Score[CommandRunner], Produces[Endpoint]):
    path: str
    port: int
    password: Secret
    label: str | Ref[str] = "server"

    def __post_init__(self) -> None:
        if not isinstance(self.password, Secret):
            raise ScoreValueError("ServerScore.password must be a Secret")

    @property
    def name(self) -> str:
        return f"ServerScore({self.path})"

    def interpret(self) -> ServerInterpret:
        return ServerInterpret(self)


class ServerInterpret(ConvergingInterpret[CommandRunner], ProducingInterpret[CommandRunner, Endpoint]):
    def __init__(self, score: ServerScore) -> None:
        self.score = score
        self.path = Path(score.path)

    def _wanted(self) -> dict[str, object]:
        return {"port": self.score.port, "password": self.score.password.reveal(), "label": resolved(self.score.label)}

    def _found(self) -> object:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        if self._found() == self._wanted():
            return []
        return [Change(ChangeAction.CREATE, str(self.path), f"serve on port {self.score.port}")]

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(self._wanted(), file)

    async def output(self, topology: CommandRunner) -> Endpoint | None:
        found = self._found()
        if not isinstance(found, dict):
            return None
        return Endpoint("127.0.0.1", int(found["port"]), Secret(str(found["password"])))


@dataclass(frozen=True)
class ClientScore(Score[CommandRunner]):
    """Writes ``host:port`` and a URL to ``path``, and the server's password to ``path``.secret (0600)."""

    path: str
    server: Endpoint | Ref[Endpoint]
    settings: Mapping[str, str | Ref[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"ClientScore({self.path})"

    def interpret(self) -> ClientInterpret:
        return ClientInterpret(self)


class ClientInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: ClientScore) -> None:
        server = resolved(score.server)
        settings = {key: resolved(value) for key, value in score.settings.items()}
        self.path = Path(score.path)
        self.secret_path = Path(f"{score.path}.secret")
        self.text = json.dumps({"server": f"{server.host}:{server.port}", "settings": settings})
        self.password = server.password.reveal()

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        if _read(self.path) == self.text and _read(self.secret_path) == self.password:
            return []
        return [Change(ChangeAction.CREATE, str(self.path), "configure the client")]

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.text)
        descriptor = os.open(self.secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(self.password)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class BrokenServerScore(Score[CommandRunner], Produces[Endpoint]):
    """A producer whose apply always fails (and its plan too, with ``plan_fails``)."""

    path: str
    plan_fails: bool = False

    @property
    def name(self) -> str:
        return f"BrokenServerScore({self.path})"

    def interpret(self) -> BrokenInterpret:
        return BrokenInterpret(self.plan_fails)


class BrokenInterpret(ProducingInterpret[CommandRunner, Endpoint]):
    """Fails to apply; with ``plan_fails`` fails to plan too. Never knows its output."""

    def __init__(self, plan_fails: bool) -> None:
        self.plan_fails = plan_fails

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        if self.plan_fails:
            raise RuntimeError("cannot observe the server")
        return [Change(ChangeAction.CREATE, "nowhere", "try and fail")]

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.failed("the server would not start")

    async def output(self, topology: CommandRunner) -> Endpoint | None:
        return None


@dataclass(frozen=True)
class ForgetfulScore(Score[CommandRunner], Produces[Endpoint]):
    """A producer that applies fine but cannot say what its output is."""

    def interpret(self) -> ForgetfulInterpret:
        return ForgetfulInterpret(False)


class ForgetfulInterpret(BrokenInterpret):
    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return []

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.noop()


@dataclass(eq=False)
class Rendezvous:
    """``parties`` scores meet here: each waits until all have arrived (they must run at once)."""

    parties: int
    arrived: list[str] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    _all_here: anyio.Event | None = None

    async def meet(self, who: str) -> None:
        if self._all_here is None:
            self._all_here = anyio.Event()
        self.arrived.append(who)
        if len(self.arrived) >= self.parties:
            self._all_here.set()
        with anyio.fail_after(RENDEZVOUS_TIMEOUT_S):
            await self._all_here.wait()


@dataclass(frozen=True)
class MeetScore(Score[CommandRunner]):
    """Applying it waits at ``place`` until every party arrived; planning changes nothing."""

    who: str
    place: Rendezvous = field(compare=False)

    @property
    def name(self) -> str:
        return f"MeetScore({self.who})"

    def interpret(self) -> MeetInterpret:
        return MeetInterpret(self)


class MeetInterpret(Interpret[CommandRunner]):
    def __init__(self, score: MeetScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return [Change(ChangeAction.RUN, self.score.who, "meet the others")]

    async def apply(self, topology: CommandRunner) -> Outcome:
        place = self.score.place
        place.in_flight += 1
        place.most_in_flight = max(place.most_in_flight, place.in_flight)
        try:
            if place.parties > 1:
                await place.meet(self.score.who)
            for _ in range(5):
                await anyio.lowlevel.checkpoint()  # let any other ready score start meanwhile
        finally:
            place.in_flight -= 1
        return Outcome.changed(self.plan_changes(), f"{self.score.who} met")

    async def verify(self, topology: CommandRunner) -> Sequence[Change]:
        # A meeting is an event, not a state: once it happened there is nothing left to observe.
        return []

    def plan_changes(self) -> list[Change]:
        return [Change(ChangeAction.RUN, self.score.who, "met the others")]


@dataclass(frozen=True)
class ShopScore(CompositeScore[CommandRunner]):
    """A composite: a server ``db`` and a client ``web`` of it, under the identity ``shop_name``."""

    shop_name: str
    root: str
    password: Secret

    @property
    def identity(self) -> str:
        return self.shop_name

    def parts(self) -> Sequence[Score[CommandRunner]]:
        db = ServerScore(f"{self.root}/db.json", 5432, self.password).named("db")
        url = db.output().map(lambda endpoint: f"pg://{endpoint.host}:{endpoint.port}/shop")
        web = ClientScore(f"{self.root}/web.json", db.output(), {"DATABASE_URL": url}).named("web")
        return (web, db)


@dataclass(frozen=True)
class MeetingScore(CompositeScore[CommandRunner]):
    """Parts that meet at one place: concurrently, or one after the other when ``in_order``."""

    label: str
    whos: tuple[str, ...]
    place: Rendezvous = field(compare=False)

    @property
    def identity(self) -> str:
        return self.label

    def parts(self) -> Sequence[Score[CommandRunner]]:
        return tuple(MeetScore(who, self.place).named(who) for who in self.whos)


@dataclass(frozen=True)
class QueueScore(MeetingScore):
    in_order: ClassVar[bool] = True


@dataclass(frozen=True)
class PlannableClientScore(ClientScore):
    """A client that can say what it will do before its server exists."""

    def with_unknown_inputs(self) -> PlannableClientScore:
        placeholder = Endpoint("(known after apply)", 0, Secret("(known after apply)"))
        return replace(
            self,
            server=placeholder if isinstance(self.server, Ref) else self.server,
            settings={k: "(known after apply)" if isinstance(v, Ref) else v for k, v in self.settings.items()},
        )
