"""YAML text that is the same bytes on every run: sorted keys, block style, scripts as literal blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing a multi-line string as a ``|`` block, so a reviewer reads a script as a script,
    and every value in full where it stands (no ``&id001`` anchors for values that are shared)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _string)


def yaml_document(value: Mapping[str, Any], comments: Sequence[str] = ()) -> bytes:
    """``value`` as one YAML document, after ``comments`` (one ``#`` line each), keys sorted."""
    text = yaml.dump(
        dict(value), Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=120
    )
    header = "".join(f"# {line}\n" if line else "#\n" for line in comments)
    return (header + text).encode()
