"""etcd, the engine's witness store: one member per participant, supervised, with authentication.

Each member runs as the ``etcd`` user (Debian's package makes it) with its data
in a 0700 directory of its own: etcd 3.4 keeps the clear text of ``user add``
passwords in its WAL, so neither ``postgres`` nor anyone else may read it
(adr/0083). Members listen on their participant's address only.

Authentication is bootstrapped once, in the order etcd needs: ``root`` gets the
root role *before* ``auth enable`` (else enabling is refused), then a
``patroni`` user whose role may read and write only Patroni's prefix. Without
it, anyone reaching a client port could read or overwrite the leader key.
Passwords reach ``etcdctl`` on its standard input, never in an argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from capabilities.command_runner import CommandResult, CommandRunnerService
from harmony_py.values import Secret
from topologies.errors import HostPostgreSQLError

from .layout import NAMESPACE, Participant
from .supervision import Daemon

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
ETCD_USER = "etcd"
PATRONI_ROLE = "patroni"
QUICK_S = 20.0
HEALTHY_S = 60.0
_AS_USER = 'IFS= read -r ETCDCTL_USER && export ETCDCTL_USER && exec "$0" "$@"'
"""Reads ``user:password`` from standard input into etcdctl's own variable (never an argument ``ps`` shows)."""


def initial_cluster(everyone: Sequence[Participant]) -> str:
    return ",".join(f"{p.name}={p.etcd_peer_url}" for p in everyone)


def etcd_daemon(member: Participant, everyone: Sequence[Participant]) -> Daemon:
    """The etcd member of ``member`` in the cluster of ``everyone`` (an existing member ignores the initial flags)."""
    argv = (
        ETCD, "--name", member.name, "--data-dir", member.etcd_data,
        "--listen-client-urls", member.etcd_client_url, "--advertise-client-urls", member.etcd_client_url,
        "--listen-peer-urls", member.etcd_peer_url, "--initial-advertise-peer-urls", member.etcd_peer_url,
        "--initial-cluster", initial_cluster(everyone), "--initial-cluster-state", "new",
        "--initial-cluster-token", f"harmony-{member.config.name}",
        "--logger", "zap", "--log-outputs", member.etcd_log,
    )  # fmt: skip
    return Daemon(member.etcd_service, argv, ETCD_USER, {"HOME": member.etcd_dir})


async def prepare_directory(member: Participant) -> None:
    """The member's directory: 0700, the etcd user's (its parent traversable)."""
    runner = member.runner
    parent = member.etcd_dir.rsplit("/", 1)[0]
    for path, mode in ((parent, 0o755), (member.etcd_dir, 0o700)):
        if await runner.stat(path) is None:
            await runner.make_directory(path, mode=mode)
    await _checked(member, ["chown", f"{ETCD_USER}:{ETCD_USER}", "--", member.etcd_dir], "giving its directory to etcd")


def endpoints(everyone: Sequence[Participant]) -> str:
    return ",".join(p.etcd_client_url for p in everyone)


async def etcdctl(
    runner: CommandRunnerService, urls: str, *args: str, stdin: bytes | None = None, user: Secret | None = None
) -> CommandResult:
    """``etcdctl`` against ``urls``; with ``user`` (``name:password``) authenticated through its standard input."""
    argv = [ETCDCTL, f"--endpoints={urls}", "--dial-timeout=3s", "--command-timeout=5s", *args]
    if user is not None:
        argv = ["sh", "-c", _AS_USER, *argv]
        stdin = (user.reveal() + "\n").encode()
    return await runner.run(argv, stdin=stdin, env={"ETCDCTL_API": "3"}, timeout_s=QUICK_S)


async def healthy(runner: CommandRunnerService, urls: str, user: Secret | None = None) -> bool:
    """Whether every member answers a health read: anonymously before authentication is on, as
    ``user`` after (etcd 3.4 then answers an anonymous one ``health: false``, "user name is empty")."""
    if (await etcdctl(runner, urls, "endpoint", "health")).ok:
        return True
    return user is not None and (await etcdctl(runner, urls, "endpoint", "health", user=user)).ok


async def wait_healthy(member: Participant, everyone: Sequence[Participant], user: Secret | None = None) -> None:
    """Until every etcd member answers; ``user`` (``name:password``) for a cluster whose authentication is on."""
    urls = endpoints(everyone)
    with anyio.move_on_after(HEALTHY_S):
        while not await healthy(member.runner, urls, user):
            await anyio.sleep(0.5)
        return
    said = (await etcdctl(member.runner, urls, "endpoint", "health")).stderr_text.strip().splitlines()
    raise HostPostgreSQLError(
        f"etcd of cluster {member.config.name} is not healthy {HEALTHY_S:g} s after its members started "
        f"({said[-1] if said else 'no answer'}); see {member.etcd_log} on each participant"
    )


async def auth_enabled(runner: CommandRunnerService, urls: str) -> bool:
    """Whether etcd asks for a user: an anonymous ``user list`` is refused only then."""
    result = await etcdctl(runner, urls, "user", "list")
    if result.ok:
        return False
    said = result.stderr_text
    if "user name is empty" in said or "permission denied" in said or "invalid auth token" in said:
        return True
    raise HostPostgreSQLError(f"cannot ask etcd at {urls} whether authentication is on: {said.strip()[-200:]}")


async def patroni_user_works(runner: CommandRunnerService, urls: str, user: Secret) -> bool:
    result = await etcdctl(runner, urls, "get", "--prefix", "--keys-only", "--limit=1", NAMESPACE, user=user)
    return result.ok


async def enable_auth(member: Participant, urls: str, root_password: Secret, patroni_password: Secret) -> None:
    """Users, roles, then ``auth enable``; each step skipped when an earlier attempt made it."""
    runner = member.runner
    users = (await etcdctl(runner, urls, "user", "list")).stdout_text.split()
    roles = (await etcdctl(runner, urls, "role", "list")).stdout_text.split()
    if "root" not in users:
        await _ctl(member, urls, "user", "add", "root", "--interactive=false", stdin=root_password)
    await _ctl(member, urls, "user", "grant-role", "root", "root")
    if PATRONI_ROLE not in roles:
        await _ctl(member, urls, "role", "add", PATRONI_ROLE)
    await _ctl(member, urls, "role", "grant-permission", PATRONI_ROLE, "--prefix=true", "readwrite", NAMESPACE)
    if PATRONI_ROLE not in users:
        await _ctl(member, urls, "user", "add", PATRONI_ROLE, "--interactive=false", stdin=patroni_password)
    await _ctl(member, urls, "user", "grant-role", PATRONI_ROLE, PATRONI_ROLE)
    await _ctl(member, urls, "auth", "enable")


async def _ctl(member: Participant, urls: str, *args: str, stdin: Secret | None = None) -> None:
    data = None if stdin is None else (stdin.reveal() + "\n").encode()
    result = await etcdctl(member.runner, urls, *args, stdin=data)
    if not result.ok and "already" not in result.stderr_text:
        what = " ".join(args[:3])
        raise HostPostgreSQLError(f"etcd of cluster {member.config.name}: etcdctl {what} failed: {result.stderr_text.strip()[-200:]}")


async def _checked(member: Participant, argv: list[str], what: str) -> None:
    result = await member.runner.run(argv, timeout_s=QUICK_S)
    if not result.ok:
        raise HostPostgreSQLError(f"{member.target}: {what} failed: {result.stderr_text.strip()[-200:]}")
