"""``harmony {plan,apply,check,graph,render} FILE`` (also ``python -m harmony_py ...``)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from harmony_py import DISTRIBUTION, __version__
from harmony_py.apply_lock import apply_lock
from harmony_py.errors import HarmonyError, describe, is_deliberate, prefixed
from harmony_py.render.formats import FORMATS as RENDER_FORMATS

from .graph_formats import FORMATS as GRAPH_FORMATS

# Only what parsing the command line needs is imported above: `--help`, `--version` and usage
# errors answer without loading the event loop, rich, the Maestro or the renderers, each of
# which is imported by the function that uses it (adr/0106; tests/test_startup.py).
if TYPE_CHECKING:
    import anyio
    import anyio.abc
    from rich.console import Console

    from harmony_py.events import Event, EventHandler
    from harmony_py.maestro import Maestro
    from harmony_py.report import RunReport, ScoreReport

    from .human_output import HumanRenderer

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES_PENDING = 2
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, as shells report it
EXIT_TERMINATED = 143  # SIGTERM: 128 + 15
INTERRUPTED = "nothing more was started and connections were closed; re-run to converge"
CLOSE_TIMEOUT_S = 10.0


class _Interrupted(Exception):
    """A signal cancelled the run; carries which one (it decides the exit code)."""

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(signum.name)
        self.signum = signum


CONSOLE_SCRIPT = "harmony"
"""The program's name when run as the installed console script (pyproject's [project.scripts])."""
MODULE_PROG = "python -m harmony_py"
"""Its name when run as a module; ``__main__`` passes it."""


@dataclass
class Session:
    """What one CLI invocation writes to, and how."""

    args: argparse.Namespace
    console: Console
    errors: Console
    raised: list[tuple[str, BaseException]] = field(default_factory=list)
    """What failed scores and hosts raised, kept for ``--debug`` to print their tracebacks."""
    human: HumanRenderer | None = None
    """The human renderer once built: its live display is taken off the terminal when the command ends."""

    @property
    def json(self) -> bool:
        return bool(self.args.json)

    def renderer(self) -> EventHandler:
        from harmony_py.events import ScoreFinished, TopologyFailed, ignore_event

        from .human_output import HumanRenderer

        render: EventHandler = ignore_event
        if not self.json:
            render = self.human = HumanRenderer(self.console)
        if not self.args.debug:
            return render

        def keep_exceptions(event: Event) -> None:
            if isinstance(event, ScoreFinished) and event.exception is not None:
                where = f"{event.phase.value} of {score_title(event.report)} on {event.report.topology}"
                self.raised.append((where, event.exception))
            elif isinstance(event, TopologyFailed) and event.exception is not None:
                self.raised.append((event.topology, event.exception))
            render(event)

        return keep_exceptions

    def close_display(self) -> None:
        """Take the live display off the terminal: an interrupted or failed run ends with no summary to do it."""
        if self.human is not None:
            self.human.close()

    def print_tracebacks(self) -> None:
        """With ``--debug``: the traceback of each failed score and host, after the run's own output."""
        for where, exception in self.raised:
            self.errors.print(f"traceback of the {where}:", markup=False, highlight=False)
            traceback.print_exception(exception, file=sys.stderr)
        self.raised.clear()

    def fail(self, message: str, *, plan: RunReport | None = None, apply: RunReport | None = None) -> int:
        if self.json:
            from .json_output import document

            print(document(self.args.command, self.args.file, plan=plan, apply=apply, error=message))
        else:
            # Every line stands alone: one per member or host when several failed.
            self.errors.print(prefixed("error", message), markup=False, highlight=False)
        return EXIT_ERROR

    def run_failed(
        self, human: str, what: str, report: RunReport, *, plan: RunReport | None = None, apply: RunReport | None = None
    ) -> int:
        """Fail because scores failed: human output has shown them above; a JSON document names them in its error."""
        if not self.json:
            return self.fail(human, plan=plan, apply=apply)
        lines = failed_scores(report)
        text = f"{what}: {lines[0]}" if len(lines) == 1 else "\n".join([f"{what}:", *lines])
        return self.fail(text, plan=plan, apply=apply)

    def finish(self, *, plan: RunReport | None = None, apply: RunReport | None = None, notice: str | None = None) -> None:
        if self.json:
            from .json_output import document

            print(document(self.args.command, self.args.file, plan=plan, apply=apply, notice=notice))
        elif notice:
            self.console.print(notice, markup=False, highlight=False)


def build_parser(prog: str = CONSOLE_SCRIPT) -> argparse.ArgumentParser:
    """The command line; ``prog`` is how the user started it, shown in usage lines."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Plan and apply harmony_py score files.",
    )
    parser.add_argument(
        "--version", action="version", version=f"harmony_py {__version__} (distribution {DISTRIBUTION})"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("file", help="a Python file that defines `maestro = Maestro(topology).add(...)`")
        sub.add_argument("--debug", action="store_true", help="show tracebacks and the adapters' debug lines")
        return sub

    def positive(text: str) -> int:
        from harmony_py.group import check_parallel

        try:
            return check_parallel(int(text))
        except (ValueError, HarmonyError):
            raise argparse.ArgumentTypeError(f"must be a positive number of hosts, got {text!r}") from None

    def parallel_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--parallel",
            type=positive,
            metavar="N",
            help="for a group of hosts: at most N hosts at once (default: all, within the file-descriptor limit)",
        )

    plan = command("plan", "Show what apply would change; change nothing.")
    parallel_option(plan)
    plan.add_argument("--json", action="store_true", help="write one JSON document to stdout")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when nothing would change, 1 on error, 2 when changes are pending",
    )
    apply = command("apply", "Plan, ask, then converge the topology.")
    apply.add_argument("--json", action="store_true", help="write one JSON document to stdout")
    apply.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    apply.add_argument("--dry-run", action="store_true", help="stop after the plan")
    parallel_option(apply)
    command("check", "Type-check the score file with mypy --strict.")
    graph = command("graph", "Print the scores' dependency graph (DOT or mermaid); contacts nothing without --plan.")
    graph.add_argument("--format", choices=GRAPH_FORMATS, default="dot", help="Graphviz DOT (default) or a mermaid flowchart")
    graph.add_argument("--plan", action="store_true", help="plan first, and colour each score by the change it would make")
    files = command("render", "Write what apply would create as files (compose or Kubernetes YAML); contact nothing.")
    files.add_argument("--out", required=True, metavar="DIR", help="the directory to write the files to")
    files.add_argument("--format", choices=RENDER_FORMATS, default="compose", help="compose (default) or kubernetes")
    files.add_argument("--partial", action="store_true", help="write what can be rendered even if some scores cannot")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = CONSOLE_SCRIPT) -> int:
    args = build_parser(prog).parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.json = getattr(args, "json", False)
    args.parallel = getattr(args, "parallel", None)
    if getattr(args, "debug", False):
        _log_adapters_at_debug()
    import anyio
    from rich.console import Console

    from harmony_py.group import raise_open_files_limit

    raise_open_files_limit()  # a fleet needs a descriptor per host (adr/0107)
    session = Session(args, Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True))
    try:
        if args.command == "check":
            from .check import run_check

            return run_check(args.file, session.console, session.errors)
        if args.command == "render":
            from .render_command import run_render

            return run_render(args.file, args.out, args.format, args.partial, session.console, session.errors)
        return anyio.run(_run_until_signalled, session)
    except _Interrupted as stopped:
        return _report_interrupted(session, stopped.signum)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the run started
        return _report_interrupted(session, signal.SIGINT)
    except Exception as exc:
        # Deliberate errors (also several at once, from concurrent members) are their messages, one line each.
        if args.debug:
            traceback.print_exc()
        if is_deliberate(exc):
            return session.fail(describe(exc))
        return session.fail(f"internal error: {describe(exc)} (run with --debug for the traceback)")
    finally:
        session.close_display()
        session.print_tracebacks()


def _log_adapters_at_debug() -> None:
    """``--debug``: the adapters' DEBUG lines on stderr (e.g. why an SSH host runs commands without a session)."""
    adapters = logging.getLogger("topologies")
    adapters.setLevel(logging.DEBUG)
    if any(isinstance(handler, _DebugLines) for handler in adapters.handlers):
        return  # main() ran before in this process (tests, an embedding program)
    handler = _DebugLines(sys.stderr)
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    adapters.addHandler(handler)


class _DebugLines(logging.StreamHandler[TextIO]):
    """The handler ``--debug`` adds, recognisable so that it is added once per process."""


def _report_interrupted(session: Session, signum: signal.Signals) -> int:
    message = f"interrupted ({signum.name}): {INTERRUPTED}"
    if session.json:
        from .json_output import document

        print(document(session.args.command, session.args.file, error=message))
    else:
        session.errors.print(message, markup=False, highlight=False)
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


async def _run_until_signalled(session: Session) -> int:
    """Run the command; SIGINT or SIGTERM cancels it like Ctrl-C (finally blocks run, connections close).

    A second signal is not caught: it stops the process at once.
    """
    import anyio

    received: list[signal.Signals] = []
    finished: list[int] = []
    failed: list[Exception] = []
    async with anyio.create_task_group() as tasks:
        await tasks.start(_cancel_on_signal, tasks.cancel_scope, received)
        try:
            finished.append(await _run(session))
        except Exception as exc:  # raised below, unwrapped (the task group would wrap it in an ExceptionGroup)
            failed.append(exc)
        tasks.cancel_scope.cancel()
    if finished:
        return finished[0]  # the signal came after the work was done: report what was done
    if received:
        raise _Interrupted(received[0])
    raise failed[0]


async def _cancel_on_signal(
    scope: anyio.CancelScope,
    received: list[signal.Signals],
    *,
    task_status: anyio.abc.TaskStatus[None],
) -> None:
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            received.append(signum)
            scope.cancel()
            return


async def _run(session: Session) -> int:
    from .loader import load_maestro

    maestro = load_maestro(session.args.file)
    if session.args.parallel is not None:
        maestro.parallel = session.args.parallel
    with _project_lock_for(session):
        try:
            if session.args.command == "graph":
                return await _graph(session, maestro)
            return await _plan_then_apply(session, maestro)
        finally:
            session.close_display()
            await _close(maestro)


def _project_lock_for(session: Session) -> contextlib.AbstractContextManager[Path | None]:
    """The project's apply lock for a command that may change things; none for a plan or a dry run."""
    args = session.args
    if args.command != "apply" or args.dry_run:
        return contextlib.nullcontext()
    return apply_lock(f"python -m harmony_py {shlex.join(args.argv)}")


async def _close(maestro: Maestro[Any]) -> None:
    """Close the topologies' connections, also when the run was cancelled (shielded, bounded)."""
    import anyio

    with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT_S):
        await maestro.aclose()


async def _graph(session: Session, maestro: Maestro[Any]) -> int:
    """Print the graph; with ``--plan``, coloured by a plan (which fails the command when it fails)."""
    from .graph_model import build_picture
    from .graph_text import render as render_graph

    plan = await maestro.plan() if session.args.plan else None
    title = f"{session.args.file} on {maestro.topology.name if not maestro.is_group else 'a group of hosts'}"
    sys.stdout.write(render_graph(build_picture(maestro, title, plan), session.args.format))
    if plan is None or plan.ok:
        return EXIT_OK
    if plan.failed_hosts:
        return session.fail(_hosts_failed(plan.failed_hosts, len(plan.hosts)))
    lines = failed_scores(plan)
    return session.fail("the plan failed: " + lines[0] if len(lines) == 1 else "\n".join(["the plan failed:", *lines]))


async def _plan_then_apply(session: Session, maestro: Maestro[Any]) -> int:
    renderer = session.renderer()
    plan = await maestro.plan(renderer)
    failed_hosts = plan.failed_hosts
    if not plan.ok and (not maestro.is_group or len(failed_hosts) == len(plan.hosts)):
        return session.run_failed("the plan failed; nothing was applied", "the plan failed, nothing was applied", plan, plan=plan)
    if session.args.command == "plan":
        if failed_hosts:
            return session.fail(_hosts_failed(failed_hosts, len(plan.hosts)), plan=plan)
        session.finish(plan=plan)
        if session.args.detailed_exitcode and plan.has_changes:
            return EXIT_CHANGES_PENDING
        return EXIT_OK
    return await _apply(session, maestro, plan, renderer)


def score_title(report: ScoreReport) -> str:
    """The score's name, with its identity in front when the user gave it one."""
    if report.identity and report.identity != report.name:
        return f"{report.identity} ({report.name})"
    return report.name


def failed_scores(report: RunReport) -> list[str]:
    """One line per failed score (and host that failed as a whole), naming it: ``FileScore(/x): ...``."""
    from harmony_py.report import ScoreState

    group = bool(report.hosts)
    lines: list[str] = []
    for host in report.hosts:
        if host.error is not None:
            lines += prefixed(host.topology, host.error).splitlines()
    for score in report.scores:
        if score.state is ScoreState.FAILED:
            title = f"{score.topology}: {score_title(score)}" if group else score_title(score)
            lines += prefixed(title, score.message).splitlines()
    return lines or ["no score reported the failure"]


def _hosts_failed(failed: Sequence[RunReport], total: int) -> str:
    names = ", ".join(host.topology for host in failed)
    return f"{len(failed)} of {total} hosts failed ({names}); the others were not affected"


async def _apply(session: Session, maestro: Maestro[Any], plan: RunReport, renderer: EventHandler) -> int:
    args = session.args
    if not plan.has_changes:
        if plan.failed_hosts:
            return session.fail(_hosts_failed(plan.failed_hosts, len(plan.hosts)), plan=plan)
        session.finish(plan=plan, notice="Nothing to do: everything is in the desired state.")
        return EXIT_OK
    if args.dry_run:
        session.finish(plan=plan, notice="Dry run: nothing was applied.")
        return EXIT_OK
    if not args.yes:
        if not (sys.stdin.isatty() and session.errors.is_terminal):
            return session.fail(
                "nothing was applied: confirmation needs a terminal; re-run with --yes to apply this plan",
                plan=plan,
            )
        from rich.text import Text

        answer = session.errors.input(Text("Apply these changes? [y/N] ", style="bold"))
        if answer.strip().lower() not in ("y", "yes"):
            session.finish(plan=plan, notice="Nothing was applied.")
            return EXIT_OK
    applied = await maestro.apply(renderer, plan=plan)
    if applied.failed_hosts:
        return session.fail(_hosts_failed(applied.failed_hosts, len(applied.hosts)), plan=plan, apply=applied)
    if not applied.ok:
        return session.run_failed("the apply failed; see the failed score above", "the apply failed", applied, plan=plan, apply=applied)
    session.finish(plan=plan, apply=applied)
    return EXIT_OK
