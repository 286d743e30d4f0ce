"""The per-host workload of bench/fanout.py, written once and rendered for each tool.

A host gets the steps of issue 14's table: 3 directories, 4 files of which one
a secret, a guarded command, a link and an empty file. Each step is rendered
as the way a user of that tool would write it: a harmony_py score file, a
pyinfra operations file, an Ansible playbook, and the shell commands of the
bare-asyncssh floor client (bench/fanout_floor.py).

The host scores of issue 15 (``LinkScore``, ``TemplateScore``,
``LineInFileScore``) have their place here: when ``harmony_py.scores`` offers
them, the "hostops" workload makes the link with ``LinkScore`` (pyinfra
``files.link``, Ansible ``file state=link``), renders ``app.conf`` from a
template (``TemplateScore`` / ``files.template`` / ``template``) and adds a
line in a file (``LineInFileScore`` / ``files.line`` / ``lineinfile``), 11 steps.
Without them ("table" workload) the link is a command guarded by ``test -L``
in every tool, ``app.conf`` a plain file, and there is no line step: 10 steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

StepKind = Literal["directory", "file", "secret", "template", "command", "link", "link-standin", "empty", "line"]

APP_CONF = "".join(f"option_{i} = value {i}\n" for i in range(20))
APP_CONF_TEMPLATE = "{% for i in range(count) %}option_{{ i }} = value {{ i }}\n{% endfor %}"
"""Renders to APP_CONF with ``count=20`` under every tool's Jinja2 settings (no newline after a tag)."""
APP_CONF_CONTEXT = {"count": 20}
DB_CONF = "host = db\nport = 5432\n"
SEED = "".join(f"row {i:05d} payload payload payload\n" for i in range(120))
TOKEN = "bench-token-value"
ALLOW_LINE = "sshd: 10.0.0.0/8"
LINK_TARGET = "conf"


@dataclass(frozen=True)
class Step:
    """One thing each host must end up with; ``path`` is relative to the workload's root."""

    kind: StepKind
    path: str
    mode: int | None = None
    text: str = ""
    """Content (files), the command (command), the link's target (links) or the line (line)."""

    def absolute(self, root: str) -> str:
        return root if self.path == "." else f"{root}/{self.path}"


@dataclass(frozen=True)
class Workload:
    root: str
    """Absolute path on every host (the hosts' private mount point + /app)."""
    steps: tuple[Step, ...]
    name: Literal["table", "hostops"]
    notes: tuple[str, ...] = field(default=())

    @property
    def description(self) -> str:
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.kind] = counts.get(step.kind, 0) + 1
        return f"{self.name} ({len(self.steps)} steps: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + ")"


def hostops_available() -> bool:
    """Whether harmony_py ships issue 15's host scores (branch i15-hostops merged)."""
    try:
        from harmony_py import scores
    except ImportError:
        return False
    return all(hasattr(scores, name) for name in ("LinkScore", "TemplateScore", "LineInFileScore"))


def make_workload(root: str, name: Literal["auto", "table", "hostops"] = "auto") -> Workload:
    chosen: Literal["table", "hostops"]
    if name == "auto":
        chosen = "hostops" if hostops_available() else "table"
    else:
        chosen = name
    if chosen == "hostops" and not hostops_available():
        raise SystemExit("--workload hostops: harmony_py.scores has no LinkScore/TemplateScore/LineInFileScore yet")
    hostops = chosen == "hostops"
    steps = [
        Step("directory", ".", 0o755),
        Step("directory", "conf", 0o755),
        Step("directory", "data", 0o750),
        Step("template" if hostops else "file", "conf/app.conf", 0o644, APP_CONF),
        Step("file", "conf/db.conf", 0o640, DB_CONF),
        Step("file", "data/seed.txt", 0o644, SEED),
        Step("secret", "token", 0o600, TOKEN),
        Step("command", "built", None, "echo built > {path}"),
        Step("link" if hostops else "link-standin", "current", None, LINK_TARGET),
        Step("empty", "data/.keep", 0o644, ""),
    ]
    notes: list[str] = []
    if hostops:
        steps.append(Step("line", "conf/hosts.allow", None, ALLOW_LINE))
        notes.append("issue 15 host scores: LinkScore, TemplateScore (app.conf), LineInFileScore (hosts.allow)")
    else:
        notes.append(
            "stand-ins: no LinkScore/TemplateScore/LineInFileScore in harmony_py.scores yet, so the link is a "
            "command guarded by `test -L` (in every tool), app.conf a plain file, and no line-in-file step"
        )
    return Workload(root, tuple(steps), chosen, tuple(notes))


# --- harmony_py -----------------------------------------------------------------------------------


def harmony_score_file(workload: Workload, specs: Sequence[str], key: Path, known_hosts: Path) -> str:
    """A score file applying the workload to every host in ``specs`` (``root@address:port``)."""
    scores: list[str] = []
    for step in workload.steps:
        path = step.absolute(workload.root)
        if step.kind == "directory":
            scores.append(f"DirectoryScore({path!r}, mode={step.mode:#o})")
        elif step.kind in ("file", "empty"):
            scores.append(f"FileScore({path!r}, {step.text!r}, mode={step.mode:#o})")
        elif step.kind == "secret":
            scores.append(f"FileScore({path!r}, Secret({step.text!r}))")
        elif step.kind == "template":
            scores.append(f"TemplateScore({path!r}, {APP_CONF_TEMPLATE!r}, {APP_CONF_CONTEXT!r}, mode={step.mode:#o})")
        elif step.kind == "command":
            scores.append(f"CommandScore({step.text.format(path=shlex.quote(path))!r}, creates={path!r})")
        elif step.kind == "link":
            scores.append(f"LinkScore({path!r}, {step.text!r})")
        elif step.kind == "link-standin":
            scores.append(f"CommandScore(['ln', '-s', {step.text!r}, {path!r}], unless=['test', '-L', {path!r}])")
        elif step.kind == "line":
            scores.append(f"LineInFileScore({path!r}, {step.text!r})")
    imports = ["CommandScore", "DirectoryScore", "FileScore"]
    if workload.name == "hostops":
        imports += ["LineInFileScore", "LinkScore", "TemplateScore"]
    body = ",\n    ".join(scores)
    return f'''"""bench/fanout.py: {workload.description}."""
from harmony_py import Maestro, Secret
from harmony_py.scores import {", ".join(imports)}
from topologies import LinuxHostTopology, linux_hosts

defaults = LinuxHostTopology("defaults", user="root", client_keys=({str(key)!r},), use_agent=False,
                             known_hosts={str(known_hosts)!r})
maestro = Maestro(linux_hosts({list(specs)!r}, like=defaults)).add(
    {body},
)
'''


# --- pyinfra ---------------------------------------------------------------------------------------


def pyinfra_files(
    workload: Workload, directory: Path, hosts: Sequence[tuple[str, int]], key: Path, known_hosts: Path
) -> tuple[Path, Path]:
    """An inventory and an operations file (``pyinfra -y INVENTORY DEPLOY``)."""
    inventory = directory / "inventory.py"
    entries = [
        (
            address,
            {
                "ssh_port": port,
                "ssh_user": "root",
                "ssh_key": str(key),
                "ssh_known_hosts_file": str(known_hosts),
                "ssh_strict_host_key_checking": "yes",
            },
        )
        for address, port in hosts
    ]
    inventory.write_text(f"hosts = {entries!r}\n")
    template = directory / "app.conf.j2"
    template.write_text(APP_CONF_TEMPLATE)
    lines = [
        "from io import StringIO",
        "from pyinfra import host",
        "from pyinfra.facts.files import File, Link",
        "from pyinfra.operations import files, server",
        "",
    ]
    for step in workload.steps:
        path = step.absolute(workload.root)
        name = f"{step.kind} {step.path}"
        if step.kind == "directory":
            lines.append(f"files.directory(name={name!r}, path={path!r}, mode='{step.mode:o}')")
        elif step.kind in ("file", "secret", "empty"):
            lines.append(f"files.put(name={name!r}, src=StringIO({step.text!r}), dest={path!r}, mode='{step.mode:o}')")
        elif step.kind == "template":
            lines.append(
                f"files.template(name={name!r}, src={str(template)!r}, dest={path!r}, mode='{step.mode:o}', "
                f"count={APP_CONF_CONTEXT['count']})"
            )
        elif step.kind == "command":
            # pyinfra's idiom for a guarded command: read a fact, then add the operation.
            lines.append(f"if not host.get_fact(File, path={path!r}):")
            lines.append(f"    server.shell(name={name!r}, commands=[{step.text.format(path=shlex.quote(path))!r}])")
        elif step.kind == "link":
            lines.append(f"files.link(name={name!r}, path={path!r}, target={step.text!r}, symbolic=True)")
        elif step.kind == "link-standin":
            command = f"ln -s {shlex.quote(step.text)} {shlex.quote(path)}"
            lines.append(f"if not host.get_fact(Link, path={path!r}):")
            lines.append(f"    server.shell(name={name!r}, commands=[{command!r}])")
        elif step.kind == "line":
            lines.append(
                f"files.line(name={name!r}, path={path!r}, line={step.text!r}, escape_regex_characters=True)"
            )
    deploy = directory / "deploy.py"
    deploy.write_text("\n".join(lines) + "\n")
    return inventory, deploy


# --- Ansible ---------------------------------------------------------------------------------------


def ansible_files(
    workload: Workload, directory: Path, hosts: Sequence[tuple[str, int]], key: Path, known_hosts: Path, mount: str
) -> tuple[Path, Path, dict[str, str]]:
    """An ansible.cfg, an inventory and a playbook (JSON, which YAML reads), and the environment to run them in.

    ``forks`` = hosts, no fact gathering (the other tools gather none), pipelining on (Ansible's
    documented speed setting), OpenSSH multiplexing as Ansible's default (ControlPersist), its
    control sockets and temporary files kept inside the benchmark's directories.
    """
    control = directory / "cp"
    control.mkdir(exist_ok=True)
    (directory / "ansible-home").mkdir(exist_ok=True)
    config = directory / "ansible.cfg"
    ssh_args = (
        f"-F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes "
        f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
    )
    config.write_text(
        "\n".join(
            [
                "[defaults]",
                f"forks = {len(hosts)}",
                "gathering = explicit",
                "host_key_checking = True",
                "interpreter_python = /usr/bin/python3",
                f"remote_tmp = {mount}/.ansible-tmp",
                f"local_tmp = {directory / 'ansible-local'}",
                "retry_files_enabled = False",
                "[ssh_connection]",
                "pipelining = True",
                f"ssh_args = {ssh_args}",
                f"control_path_dir = {control}",
                "",
            ]
        )
    )
    inventory = directory / "inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {
                        f"h{index}": {"ansible_host": address, "ansible_port": port}
                        for index, (address, port) in enumerate(hosts)
                    },
                    "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": str(key)},
                }
            },
            indent=1,
        )
    )
    template = directory / "app.conf.j2"
    template.write_text(APP_CONF_TEMPLATE)
    tasks: list[dict[str, object]] = []
    for step in workload.steps:
        path = step.absolute(workload.root)
        name = f"{step.kind} {step.path}"
        mode = None if step.mode is None else f"{step.mode:04o}"
        if step.kind == "directory":
            tasks.append({"name": name, "ansible.builtin.file": {"path": path, "state": "directory", "mode": mode}})
        elif step.kind in ("file", "empty"):
            tasks.append({"name": name, "ansible.builtin.copy": {"content": step.text, "dest": path, "mode": mode}})
        elif step.kind == "secret":
            tasks.append(
                {"name": name, "no_log": True, "ansible.builtin.copy": {"content": step.text, "dest": path, "mode": mode}}
            )
        elif step.kind == "template":
            tasks.append(
                {
                    "name": name,
                    "vars": dict(APP_CONF_CONTEXT),
                    "ansible.builtin.template": {"src": str(template), "dest": path, "mode": mode},
                }
            )
        elif step.kind == "command":
            tasks.append(
                {"name": name, "ansible.builtin.shell": {"cmd": step.text.format(path=shlex.quote(path)), "creates": path}}
            )
        elif step.kind == "link":
            tasks.append({"name": name, "ansible.builtin.file": {"src": step.text, "dest": path, "state": "link"}})
        elif step.kind == "link-standin":
            command = f"ln -s {shlex.quote(step.text)} {shlex.quote(path)}"
            tasks.append({"name": name, "ansible.builtin.shell": {"cmd": command, "creates": path}})
        elif step.kind == "line":
            tasks.append({"name": name, "ansible.builtin.lineinfile": {"path": path, "line": step.text, "create": True}})
    playbook = directory / "playbook.yml"
    playbook.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}], indent=1))
    env = {
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_HOME": str(directory / "ansible-home"),
        "ANSIBLE_INVENTORY": str(inventory),
        "ANSIBLE_NOCOLOR": "1",
    }
    return inventory, playbook, env


# --- the floor (bare asyncssh) -------------------------------------------------------------------


def floor_commands(workload: Workload) -> tuple[list[str], list[tuple[str, str]]]:
    """What the floor client sends: one shell command per step to make it, and one to observe it.

    The observations come with the output each must print on a converged host, so the floor
    really reads the state (stat, digest, link target) instead of sending empty commands.
    """
    make: list[str] = []
    observe: list[tuple[str, str]] = []
    for step in workload.steps:
        path = step.absolute(workload.root)
        quoted = shlex.quote(path)
        if step.kind == "directory":
            make.append(f"mkdir -p {quoted} && chmod {step.mode:o} {quoted}")
            observe.append((f"stat -c %F:%a {quoted}", f"directory:{step.mode:o}"))
        elif step.kind in ("file", "secret", "empty", "template"):
            assert step.mode is not None
            make.append(f"umask 077; printf %s {shlex.quote(step.text)} > {quoted} && chmod {step.mode:o} {quoted}")
            digest = hashlib.sha256(step.text.encode()).hexdigest()
            observe.append((f"stat -c %a {quoted} && sha256sum < {quoted}", f"{step.mode:o}\n{digest}  -"))
        elif step.kind == "command":
            make.append(f"test -e {quoted} || {step.text.format(path=quoted)}")
            observe.append((f"test -e {quoted} && echo yes", "yes"))
        elif step.kind in ("link", "link-standin"):
            make.append(f"ln -s {shlex.quote(step.text)} {quoted}")
            observe.append((f"readlink {quoted}", step.text))
        elif step.kind == "line":
            make.append(f"grep -qxF {shlex.quote(step.text)} {quoted} 2>/dev/null || echo {shlex.quote(step.text)} >> {quoted}")
            observe.append((f"grep -cxF {shlex.quote(step.text)} {quoted}", "1"))
    return make, observe


# --- checking a host from outside --------------------------------------------------------------------


def converged_problems(workload: Workload, view: Path) -> list[str]:
    """What is wrong in one host's private view (``view`` is what the host sees at the mount point)."""
    problems: list[str] = []
    base = view / "app"
    for step in workload.steps:
        where = base if step.path == "." else base / step.path
        try:
            info = os.lstat(where)
        except FileNotFoundError:
            problems.append(f"{step.path} missing")
            continue
        mode = stat.S_IMODE(info.st_mode)
        if step.kind == "directory" and (not stat.S_ISDIR(info.st_mode) or mode != step.mode):
            problems.append(f"{step.path} not a directory of mode {step.mode:o}")
        elif step.kind in ("file", "secret", "empty", "template"):
            if where.read_text() != step.text or mode != step.mode:
                problems.append(f"{step.path}: wrong content or mode {mode:o}")
        elif step.kind in ("link", "link-standin") and (not stat.S_ISLNK(info.st_mode) or os.readlink(where) != step.text):
            problems.append(f"{step.path} is not a link to {step.text}")
        elif step.kind == "line" and step.text not in where.read_text().splitlines():
            problems.append(f"{step.path} lacks its line")
    return problems


def fingerprint(workload: Workload, view: Path) -> dict[str, tuple[int, int]]:
    """(mtime, ctime) of every managed path: a no-change apply must leave all of them as they were."""
    base = view / "app"
    found: dict[str, tuple[int, int]] = {}
    for step in workload.steps:
        where = base if step.path == "." else base / step.path
        try:
            info = os.lstat(where)
        except FileNotFoundError:
            continue
        found[step.path] = (info.st_mtime_ns, info.st_ctime_ns)
    return found
