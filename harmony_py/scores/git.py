"""A git working tree at a branch, tag or commit, planned from ``git ls-remote`` and ``git rev-parse``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from capabilities.command_runner import (
    CommandResult,
    CommandRunner,
    CommandRunnerService,
    FileKind,
)
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction

from .validate import absolute_path

_COMMIT = re.compile(r"[0-9a-f]{40}")
# A conservative subset of git check-ref-format: no leading '-', no '..', no spaces or specials.
_REF = re.compile(r"(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+-]+(?<![./])")
_GIT_ENV: Mapping[str, str] = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


@dataclass(frozen=True)
class Target:
    """What ``ref`` names in the repository: a commit, and the branch to be on (``None``: detached)."""

    commit: str
    branch: str | None


@dataclass(frozen=True)
class GitCheckoutScore(Score[CommandRunner]):
    """A clone of ``repo`` at ``path`` whose working tree is ``ref`` (a branch, a tag or a 40-digit commit).

    ``repo`` is what ``git clone`` takes: a URL or a path on the host. The plan
    asks the repository what ``ref`` names (``git ls-remote``) and the
    checkout where it is (``git rev-parse``); apply clones, or fetches and
    checks out — a branch as a local branch, a tag or commit detached. Local
    changes to tracked files are never discarded unless ``force=True``: the
    plan fails naming them. A directory at ``path`` that is not a checkout is
    not touched (unless empty).

    Example::

        GitCheckoutScore("https://git.example.org/shop.git", "/srv/shop/src", "v1.4.2")
    """

    repo: str
    path: str
    ref: str
    force: bool = False
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("GitCheckoutScore", "path", self.path))
        where = f"GitCheckoutScore({self.path})"
        if not isinstance(self.repo, str) or not self.repo or self.repo.startswith("-"):
            raise ScoreValueError(f"{where}.repo must be a repository URL or path (not starting with '-'), got {self.repo!r}")
        if any(ord(character) < 0x20 for character in self.repo):
            raise ScoreValueError(f"{where}.repo must not contain control characters")
        if not isinstance(self.ref, str) or not _REF.fullmatch(self.ref) or self.ref.endswith(".lock"):
            raise ScoreValueError(
                f"{where}.ref must be a branch, tag or 40-digit commit name (letters, digits, '.', '_', '/', '+', '-'), "
                f"got {self.ref!r}"
            )
        if not isinstance(self.force, bool):
            raise ScoreValueError(f"{where}.force must be True or False, got {self.force!r}")
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)) or self.timeout_s <= 0:
            raise ScoreValueError(f"{where}.timeout_s must be a positive number of seconds, got {self.timeout_s!r}")

    @property
    def name(self) -> str:
        return f"GitCheckoutScore({self.path})"

    def interpret(self) -> GitCheckoutInterpret:
        return GitCheckoutInterpret(self)


class GitCheckoutInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: GitCheckoutScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        path, ref = self.score.path, self.score.ref
        target = await self._target(runner)
        where = f"{ref} ({target.commit[:12]})"
        found = await runner.stat(path)
        if found is None or (found.kind is FileKind.DIRECTORY and await _empty(runner, path)):
            return [Change(ChangeAction.CREATE, path, f"clone {self.score.repo} at {where} into {path}")]
        if found.kind is not FileKind.DIRECTORY or await runner.stat(f"{path}/.git") is None:
            raise HarmonyError(f"{path} exists and is not a git checkout; GitCheckoutScore will not replace it: move it first")
        changes: list[Change] = []
        origin = await self._git_out(runner, "remote", "get-url", "origin", check=False)
        if origin.strip() != self.score.repo:
            summary = f"origin of {path}: {origin.strip() or '(none)'} -> {self.score.repo}"
            changes.append(Change(ChangeAction.UPDATE, path, summary, attribute="origin"))
        head = (await self._git_out(runner, "rev-parse", "--verify", "-q", "HEAD", check=False)).strip()
        branch = (await self._git_out(runner, "symbolic-ref", "-q", "--short", "HEAD", check=False)).strip() or None
        modified = await self._modified(runner)
        moves = head != target.commit or branch != target.branch
        if modified and (moves or self.score.force):
            if not self.score.force:
                shown = ", ".join(modified[:5]) + (f" and {len(modified) - 5} more" if len(modified) > 5 else "")
                raise HarmonyError(f"{path} has local changes ({shown}); GitCheckoutScore discards them only with force=True")
            changes.append(Change(ChangeAction.UPDATE, path, f"discard local changes in {path} ({len(modified)} file(s))", attribute="changes"))
        if moves:
            now = f"{branch or 'detached'} ({head[:12] or 'no commit'})"
            changes.append(Change(ChangeAction.UPDATE, path, f"check out {where} in {path}, now {now}", attribute="ref"))
        return changes

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        path = self.score.path
        if any(change.action is ChangeAction.CREATE for change in changes):
            await self._git(runner, "clone", "--no-checkout", "--", self.score.repo, path, at=None)
        else:
            if any(change.attribute == "origin" for change in changes):
                if (await self._git_run(runner, "remote", "get-url", "origin")).ok:
                    await self._git(runner, "remote", "set-url", "origin", self.score.repo)
                else:
                    await self._git(runner, "remote", "add", "origin", self.score.repo)
            await self._git(runner, "fetch", "--tags", "--force", "origin", "+refs/heads/*:refs/remotes/origin/*")
        target = await self._target(runner)
        force = ("--force",) if self.score.force or any(c.action is ChangeAction.CREATE for c in changes) else ()
        if target.branch is not None:
            await self._git(runner, "checkout", *force, "-B", target.branch, target.commit)
        else:
            await self._git(runner, "checkout", *force, "--detach", target.commit)
        head = (await self._git_out(runner, "rev-parse", "HEAD")).strip()
        if head != target.commit:
            raise HarmonyError(f"{path} is at {head[:12]} after the checkout, not {target.commit[:12]}")

    async def _target(self, runner: CommandRunnerService) -> Target:
        ref = self.score.ref
        if _COMMIT.fullmatch(ref):
            return Target(ref, None)
        patterns = (f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/tags/{ref}^{{}}")
        listing = await self._git_out(runner, "ls-remote", "--", self.score.repo, *patterns, at=None)
        found = {name: commit for commit, _, name in (line.partition("\t") for line in listing.splitlines())}
        if f"refs/heads/{ref}" in found:
            return Target(found[f"refs/heads/{ref}"], ref)
        tag = found.get(f"refs/tags/{ref}^{{}}") or found.get(f"refs/tags/{ref}")
        if tag is not None:
            return Target(tag, None)
        raise HarmonyError(f"{self.score.repo} has no branch or tag {ref!r} (give a commit as its full 40-digit id)")

    async def _modified(self, runner: CommandRunnerService) -> list[str]:
        status = await self._git_out(runner, "status", "--porcelain", "--untracked-files=no")
        return [line[3:] for line in status.splitlines() if line.strip()]

    async def _git_run(self, runner: CommandRunnerService, *args: str, at: str | None = "") -> CommandResult:
        # safe.directory: the checkout may belong to another user than the one running git (root over sudo).
        where = self.score.path if at == "" else at
        prefix = ("git", "-c", f"safe.directory={self.score.path}")
        argv = (*prefix, "-C", where, *args) if where is not None else (*prefix, *args)
        return await runner.run(argv, env=_GIT_ENV, timeout_s=self.score.timeout_s)

    async def _git_out(self, runner: CommandRunnerService, *args: str, at: str | None = "", check: bool = True) -> str:
        result = await self._git_run(runner, *args, at=at)
        if check and not result.ok:
            said = result.stderr_text.strip().splitlines()
            raise HarmonyError(f"git {args[0]} failed for {self.score.path}: {said[-1] if said else f'exit status {result.exit_status}'}")
        return result.stdout_text if result.ok else ""

    async def _git(self, runner: CommandRunnerService, *args: str, at: str | None = "") -> None:
        await self._git_out(runner, *args, at=at)


async def _empty(runner: CommandRunnerService, path: str) -> bool:
    result = await runner.run(("find", path, "-mindepth", "1", "-maxdepth", "1", "-print", "-quit"))
    return result.ok and not result.stdout
