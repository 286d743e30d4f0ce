"""The README's "Write your own capability" works as written: it applies, mypy rejects the wrong use,
and the run-time check says what the README says it says.

The program is the README's ``# kv_store.py`` block, run with ``/tmp/harmony-tour`` moved
into the test's directory; the expected messages are the README's ``text`` block.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from harmony_py import Maestro, MissingCapabilityError, TopologyReport, provides
from topologies import LocalhostTopology

from .test_first_hour import run

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
SECTION = README[README.index("## Write your own capability\n") : README.index("## From Python code\n")]


def program(tour: Path) -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", SECTION, re.S)
    [block] = [b for b in blocks if b.startswith("# kv_store.py\n")]
    return block.replace("/tmp/harmony-tour", str(tour))


def promised() -> list[str]:
    """The README's text block: the rejected line, mypy's error, then the run-time messages."""
    texts: list[str] = re.findall(r"```text\n(.*?)```", SECTION, re.S)
    [block] = texts
    return [line for line in block.splitlines() if line]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("kv_store", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kv_store"] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["kv_store"]
    return module


def test_the_readme_capability_applies_then_plans_nothing(tmp_path: Path) -> None:
    path = tmp_path / "kv_store.py"
    path.write_text(program(tmp_path / "tour"))
    cli = [sys.executable, "-m", "harmony_py"]
    applied = run([*cli, "apply", "--yes", str(path)], tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (tmp_path / "tour/store/store.json").read_text() == '{"release": "2.1"}'
    assert run([*cli, "plan", "--detailed-exitcode", str(path)], tmp_path).returncode == 0


def test_mypy_rejects_the_score_on_a_topology_without_the_capability(tmp_path: Path, mypy_cache: Path) -> None:
    rejected, error, *_ = promised()
    path = tmp_path / "kv_store.py"
    path.write_text(program(tmp_path / "tour") + f"\nfrom topologies import LocalhostTopology\n\n{rejected}\n")
    checked = run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(path)], tmp_path, mypy_cache)
    lines = checked.stdout.splitlines()
    assert checked.returncode == 1 and len(lines) == 1, checked.stdout + checked.stderr
    assert lines[0].endswith(error), lines[0]


class ReadOnlyStore:
    """A service that can read but not write: not a KeyValueService."""

    async def get(self, key: str) -> str | None:
        return None


@dataclass(frozen=True)
class ReadOnlyHost:
    name: str = "read-only"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)

    def key_value_store(self) -> ReadOnlyStore:
        return ReadOnlyStore()


def test_the_run_time_check_says_what_the_readme_says(tmp_path: Path) -> None:
    _, _, on_localhost, on_read_only = promised()
    kv = load_program(tmp_path)
    for topology, message in ((LocalhostTopology(), on_localhost), (ReadOnlyHost(), on_read_only)):
        untyped: Any = topology
        with pytest.raises(MissingCapabilityError) as refused:
            Maestro(untyped).add(kv.SettingScore("release", "2.1")).check_capabilities()
        assert str(refused.value) == message
        assert not provides(topology, kv.KeyValueStore)
    assert isinstance(ReadOnlyHost(), kv.KeyValueStore)  # isinstance sees only the accessor's name
    assert provides(kv.StoreHost(str(tmp_path)), kv.KeyValueStore)


def load_program(tmp_path: Path) -> ModuleType:
    path = tmp_path / "kv_store.py"
    path.write_text(program(tmp_path / "tour"))
    return load(path)
