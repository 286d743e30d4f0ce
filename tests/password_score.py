"""A small score that uses the secret store as PostgreSQL roles do, for state tests.

``PasswordDigestScore(key, path)`` keeps, in ``path``, the SHA-256 of the
generated password ``key`` (as a role keeps a SCRAM verifier of it). A plan
that reads a different store than the apply wrote (another working directory)
drafts a new password, so it plans an update: a rotation on the next apply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunner
from harmony_py import Change, ChangeAction, Interpret, Outcome, Score, Secret
from topologies.secret_store import SecretStore


@dataclass(frozen=True)
class PasswordDigestScore(Score[CommandRunner]):
    key: str
    path: str

    @property
    def name(self) -> str:
        return f"PasswordDigestScore({self.key})"

    def interpret(self) -> PasswordDigestInterpret:
        return PasswordDigestInterpret(self)


class PasswordDigestInterpret(Interpret[CommandRunner]):
    def __init__(self, score: PasswordDigestScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return await self._changes(topology, SecretStore().for_plan().get_or_create(self.score.key))

    async def apply(self, topology: CommandRunner) -> Outcome:
        password = SecretStore().get_or_create(self.score.key)
        changes = await self._changes(topology, password)
        if not changes:
            return Outcome.noop()
        await topology.command_runner().write_file(self.score.path, _digest(password), mode=0o600)
        return Outcome.changed(changes)

    async def _changes(self, topology: CommandRunner, password: Secret) -> list[Change]:
        if await topology.command_runner().read_file(self.score.path) == _digest(password):
            return []
        return [Change(ChangeAction.UPDATE, self.score.path, f"update password {self.score.key}")]


def _digest(password: Secret) -> bytes:
    return hashlib.sha256(password.reveal().encode()).hexdigest().encode() + b"\n"
