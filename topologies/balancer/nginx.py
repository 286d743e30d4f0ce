"""LoadBalancer on a host, with an nginx instance of harmony_py's own.

Everything goes through a host's command runner (a ``CommandRunnerService``),
so any host topology (this machine, or one over SSH) gets a balancer by
returning ``NginxBalancer(self.command_runner(), root)`` from ``load_balancer()``.

The instance lives under ``balancer_root`` with its own master process, pid
file and logs, beside (never instead of) a distribution nginx. Each service
is one file, ``services/<name>.conf``, whose first line records what it
serves as JSON; ``nginx.conf`` lists the services it includes.

A change is written as candidate files, checked with ``nginx -t`` against
the whole candidate configuration, then put in place and activated with a
reload signal. nginx starts new workers with the new configuration and lets
the old ones finish their requests, so no connection is dropped; when the
new workers do not appear (the master could not apply it, e.g. a port is
taken), the previous files are put back.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import anyio

from capabilities.command_runner import CommandResult, CommandRunnerService
from capabilities.errors import LoadBalancerError
from capabilities.load_balancer import Backend, BalancedService, Frontend
from harmony_py.errors import CommandFailedError
from harmony_py.hostops.packages import install_packages
from topologies.balancer import DEFAULT_ROOT
from topologies.concurrently import on_all

NGINX = "/usr/sbin/nginx"
_HEADER = "# harmony-balancer: "
_HEADER_MORE = "# harmony-balancer+ "
_HEADER_CHUNK = 3000
"""A file's record (JSON) is its first comment line, continued on lines starting with ``_HEADER_MORE``: nginx reads
no line longer than 4 KiB ("too long parameter"), and a service of a hundred backends has a longer record."""
_POLL_S = 0.05
_START_TIMEOUT_S = 10.0
_RELOAD_POLL_S = "0.01"
"""How often the reload looks at the master's children on the host (GNU ``sleep`` takes fractions)."""
_RELOAD_REFUSED, _RELOAD_EMERGENCY, _RELOAD_NO_WORKERS = 90, 91, 92
RELOAD_SCRIPT = """\
master=$1 log=$2 pause=$3 start_polls=$4 drain_polls=$5
shift 5
children() { echo $(cat "/proc/$master/task/$master/children" 2>/dev/null); }
old=$(children)
size=$(wc -c <"$log" 2>/dev/null) || size=0
"$@" || exit 90
n=0
while :; do
  for pid in $(children); do
    case " $old " in *" $pid "*) ;; *) break 2 ;; esac
  done
  emerg=$(tail -c +"$((size + 1))" "$log" 2>/dev/null | grep -F '[emerg]' | tail -n 1)
  if [ -n "$emerg" ]; then printf '%s\\n' "$emerg"; exit 91; fi
  n=$((n + 1)); [ "$n" -lt "$start_polls" ] || exit 92
  sleep "$pause" 2>/dev/null || sleep 1
done
n=0
while [ "$n" -lt "$drain_polls" ]; do
  now=" $(children) " still=
  for pid in $old; do
    case "$now" in *" $pid "*) still=1 ;; esac
  done
  [ -n "$still" ] || exit 0
  n=$((n + 1))
  sleep "$pause" 2>/dev/null || sleep 1
done
"""
"""Reload nginx ($6...: its command line) and wait for a new worker of master $1 (or an ``[emerg]`` line
after the reload in its error log $2, printed, exit 91; none within $4 looks: exit 92), then for the old
workers to leave (at most $5 looks; they are given ``worker_shutdown_timeout``). A refused signal: exit 90."""


@dataclass(frozen=True)
class NginxBalancer:
    """``LoadBalancerService``: one harmony_py nginx instance under ``root``, driven through ``runner``.

    nginx is installed with apt when missing, the first time a service is balanced.
    """

    runner: CommandRunnerService
    root: str = DEFAULT_ROOT

    @property
    def main_conf(self) -> str:
        return f"{self.root}/nginx.conf"

    @property
    def pid_file(self) -> str:
        return f"{self.root}/nginx.pid"

    def service_conf(self, service: str) -> str:
        return f"{self.root}/services/{service}.conf"

    # -- observe ---------------------------------------------------------

    async def service(self, name: str) -> BalancedService | None:
        if await self.master_pid() is None:
            return None
        return await self._recorded(name)

    async def _recorded(self, service: str) -> BalancedService | None:
        content = await self.runner.read_file(self.service_conf(service))
        if content is None:
            return None
        return _parse_header(content.decode("utf-8", "replace"))

    async def _services(self) -> list[str]:
        content = await self.runner.read_file(self.main_conf)
        if content is None:
            return []
        record = _record(content.decode("utf-8", "replace"))
        if record is None:
            return []
        services: list[str] = json.loads(record)
        return services

    async def master_pid(self) -> int | None:
        content = await self.runner.read_file(self.pid_file)
        if not content or not content.strip().isdigit():
            return None
        pid = int(content.strip())
        return pid if await self.runner.stat(f"/proc/{pid}") is not None else None

    # -- change ----------------------------------------------------------

    async def balance(
        self, frontend: Frontend, backends: Sequence[Backend], *, drain_timeout_s: float = 30.0
    ) -> None:
        wanted = BalancedService(frontend, tuple(sorted(set(backends))))
        # Independent requests go out together: over SSH each is a round trip (adr/0104).
        services, _ = await _all([self._services(), self._prepare()])
        if frontend.service not in services:
            services = sorted({*services, frontend.service})
        await self._activate(services, {frontend.service: render_service(wanted)}, drain_timeout_s)

    async def remove(self, name: str, *, drain_timeout_s: float = 30.0) -> None:
        services = await self._services()
        if name not in services:
            return
        await self._prepare()
        await self._activate([other for other in services if other != name], {name: None}, drain_timeout_s)

    async def _prepare(self) -> None:
        """nginx installed, the instance's directories made."""
        await _all(
            [self._ensure_installed(),
             *(self.runner.make_directory(f"{self.root}/{sub}", mode=0o755) for sub in ("services", "tmp"))]
        )  # fmt: skip

    async def _activate(
        self, services: list[str], changed: dict[str, str | None], drain_timeout_s: float
    ) -> None:
        # Candidates first, checked together with everything else that stays.
        includes = [
            self._candidate(name) if changed.get(name) is not None else self.service_conf(name) for name in services
        ]
        candidate_main = f"{self.main_conf}.candidate"
        await _all(
            [
                *(self.runner.write_file(self._candidate(service), text.encode(), mode=0o644)
                  for service, text in changed.items() if text is not None),
                self.runner.write_file(
                    candidate_main, render_main(self.root, services, includes, drain_timeout_s).encode(), mode=0o644
                ),
            ]
        )  # fmt: skip
        # What is in place now is read while nginx checks the candidates (it is put back on a failed reload).
        # The master is looked up meanwhile too: it is the one to reload (or none: start one).
        check, master, previous_main, *before = await _all(
            [self._nginx("-t", "-q", config=candidate_main), self.master_pid(), self.runner.read_file(self.main_conf),
             *(self.runner.read_file(self.service_conf(name)) for name in changed)]
        )  # fmt: skip
        if not check.ok:
            raise LoadBalancerError(
                f"nginx refused the new configuration, the running one is unchanged: {_last_line(check)}"
            )
        previous: dict[str, bytes | None] = dict(zip(changed, before))
        await _all(
            [
                *(self.runner.write_file(self.service_conf(service), text.encode(), mode=0o644)
                  for service, text in changed.items() if text is not None),
                self.runner.write_file(
                    self.main_conf,
                    render_main(self.root, services, [self.service_conf(n) for n in services], drain_timeout_s).encode(),
                    mode=0o644,
                ),
            ]
        )  # fmt: skip
        try:
            await self._reload_or_start(master, drain_timeout_s)
        except LoadBalancerError:
            await self._restore(previous, previous_main)
            raise
        gone = [self.service_conf(service) for service, text in changed.items() if text is None]
        if gone:
            await self.runner.run(["rm", "-f", "--", *gone])

    def _candidate(self, service: str) -> str:
        return f"{self.service_conf(service)}.candidate"

    async def _restore(self, previous: dict[str, bytes | None], previous_main: bytes | None) -> None:
        for service, content in previous.items():
            if content is None:
                await self.runner.run(["rm", "-f", self.service_conf(service)])
            else:
                await self.runner.write_file(self.service_conf(service), content, mode=0o644)
        if previous_main is not None:
            await self.runner.write_file(self.main_conf, previous_main, mode=0o644)

    async def _reload_or_start(self, master: int | None, drain_timeout_s: float) -> None:
        if master is None:
            started = await self._nginx()
            if not started.ok:
                raise LoadBalancerError(f"nginx could not start: {_last_line(started)}")
            await self._wait_for_master()
            return
        await self._reload(master, drain_timeout_s)

    async def _reload(self, master: int, drain_timeout_s: float) -> None:
        """Signal the reload and wait, on the host, for the new workers and then for the old ones to leave.

        One program (:data:`RELOAD_SCRIPT`) looking at ``/proc`` every
        :data:`_RELOAD_POLL_S`, instead of a round trip per look (adr/0104).
        """
        start_polls = int(_START_TIMEOUT_S / float(_RELOAD_POLL_S))
        drain_polls = int((drain_timeout_s + 1.0) / float(_RELOAD_POLL_S))
        result = await self.runner.run(
            ["sh", "-c", RELOAD_SCRIPT, "sh", str(master), f"{self.root}/error.log", _RELOAD_POLL_S, str(start_polls),
             str(drain_polls), *self._nginx_argv("-s", "reload")],
            timeout_s=_START_TIMEOUT_S + drain_timeout_s + 30,
        )  # fmt: skip
        if result.exit_status == _RELOAD_REFUSED:
            raise LoadBalancerError(f"nginx could not be told to reload: {_last_line(result)}")
        if result.exit_status == _RELOAD_EMERGENCY:
            raise LoadBalancerError(
                f"nginx kept its previous configuration, the new one could not be applied: {result.stdout_text.strip()}"
            )
        if not result.ok:
            raise LoadBalancerError(
                f"nginx kept its previous configuration, the new one could not be applied: {await self._error_tail()}"
            )

    async def _wait_for_master(self) -> None:
        with anyio.move_on_after(_START_TIMEOUT_S):
            while await self.master_pid() is None:
                await anyio.sleep(_POLL_S)
            return
        raise LoadBalancerError(f"nginx did not write {self.pid_file} after starting: {await self._error_tail()}")

    async def _error_log(self) -> bytes:
        return await self.runner.read_file(f"{self.root}/error.log") or b""

    async def _error_tail(self) -> str:
        lines = _lines(await self._error_log())
        return lines[-1] if lines else "nothing in its error log"

    async def _nginx(self, *arguments: str, config: str | None = None) -> CommandResult:
        return await self.runner.run(self._nginx_argv(*arguments, config=config), timeout_s=60)

    def _nginx_argv(self, *arguments: str, config: str | None = None) -> list[str]:
        return [NGINX, "-p", f"{self.root}/", "-e", f"{self.root}/error.log", "-c", config or self.main_conf, *arguments]

    async def _ensure_installed(self) -> None:
        if await self.runner.stat(NGINX) is not None:
            return
        # The apt run PackageScore and PostgreSQL's install use (harmony_py.hostops.packages).
        try:
            await install_packages(self.runner, ["nginx"], timeout_s=600)
        except CommandFailedError as failed:
            raise LoadBalancerError(f"nginx is missing and apt-get could not install it: {failed}") from None
        if await self.runner.stat(NGINX) is None:
            raise LoadBalancerError(f"apt-get installed nginx, but {NGINX} is not there")


def render_main(root: str, services: Sequence[str], includes: Sequence[str], drain_timeout_s: float) -> str:
    """The instance's nginx.conf; its first line lists the services it serves."""
    tmp = f"{root}/tmp"
    lines = [
        *_header(json.dumps(sorted(services))),
        "# Written by harmony_py; changes made by hand are overwritten.",
        f"pid {_quote(root + '/nginx.pid')};",
        f"error_log {_quote(root + '/error.log')} warn;",
        "worker_processes auto;",
        f"worker_shutdown_timeout {max(1, int(drain_timeout_s))}s;",
        "events { worker_connections 1024; }",
        "http {",
        "    access_log off;",
        f"    client_body_temp_path {_quote(tmp + '/body')};",
        f"    proxy_temp_path {_quote(tmp + '/proxy')};",
        f"    fastcgi_temp_path {_quote(tmp + '/fastcgi')};",
        f"    uwsgi_temp_path {_quote(tmp + '/uwsgi')};",
        f"    scgi_temp_path {_quote(tmp + '/scgi')};",
        *(f"    include {_quote(path)};" for path in includes),
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_service(service: BalancedService) -> str:
    """One service: an upstream of its backends and the server clients reach."""
    frontend = service.frontend
    upstream = f"harmony_{frontend.service.replace('-', '_')}"
    record = {"frontend": asdict(frontend), "backends": [asdict(backend) for backend in service.backends]}
    lines = [*_header(json.dumps(record, sort_keys=True)), "# Written by harmony_py; changes made by hand are overwritten."]
    if service.backends:
        lines.append(f"upstream {upstream} {{")
        lines.extend(
            f"    server {_host_port(backend.address, backend.port)} "
            f"max_fails={frontend.max_fails} fail_timeout={frontend.fail_timeout_s}s;"
            for backend in service.backends
        )
        lines.append("}")
    lines += [
        "server {",
        f"    listen {_host_port(frontend.address, frontend.port)};",
        "    location / {",
    ]
    if service.backends:
        lines += [
            f"        proxy_pass http://{upstream};",
            # A request that fails before an answer started is retried on the next backend.
            "        proxy_next_upstream error timeout http_502 http_503 http_504;",
            f"        proxy_connect_timeout {max(1, round(frontend.connect_timeout_s * 1000))}ms;",
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        ]
    else:
        lines.append("        return 503;")
    lines += ["    }", "}"]
    return "\n".join(lines) + "\n"


def _header(record: str) -> list[str]:
    """The comment lines that carry ``record`` (JSON has no newline in it), each short enough for nginx."""
    chunks = [record[start : start + _HEADER_CHUNK] for start in range(0, len(record), _HEADER_CHUNK)] or [""]
    return [_HEADER + chunks[0], *(_HEADER_MORE + chunk for chunk in chunks[1:])]


def _record(text: str) -> str | None:
    """The record the first lines of ``text`` carry (see :func:`_header`), or None when it has none."""
    lines = text.split("\n")
    if not lines[0].startswith(_HEADER):
        return None
    parts = [lines[0][len(_HEADER) :]]
    for line in lines[1:]:
        if not line.startswith(_HEADER_MORE):
            break
        parts.append(line[len(_HEADER_MORE) :])
    return "".join(parts)


def _parse_header(text: str) -> BalancedService | None:
    found = _record(text)
    if found is None:
        return None
    record: dict[str, Any] = json.loads(found)
    return BalancedService(
        Frontend(**record["frontend"]), tuple(Backend(**backend) for backend in record["backends"])
    )


async def _all(calls: Iterable[Awaitable[Any]]) -> list[Any]:
    """Await independent calls together; results in order, the first failure raised as itself."""
    return await on_all(list(calls), lambda call: call)


def _lines(content: bytes) -> list[str]:
    return content.decode("utf-8", "replace").strip().splitlines()


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _quote(path: str) -> str:
    # nginx takes double-quoted strings with backslash escapes.
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _last_line(result: CommandResult) -> str:
    """The line that says what is wrong: nginx's last [emerg] line, else the last one."""
    lines = (result.stderr_text or result.stdout_text).strip().splitlines()
    if not lines:
        return f"exit status {result.exit_status} ({shlex.join(result.argv)})"
    emergencies = [line for line in lines if "[emerg]" in line]
    return (emergencies or lines)[-1]
