"""YAML manifests are loaded with limits: no alias bomb, no duplicate keys, no recursion, bounded nesting.

Small aliases and ``<<`` merges stay allowed: hand-written manifests use them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harmony_py.scores import K8sResourceScore, ManifestError
from harmony_py.scores.k8s_yaml import MAX_ALIAS_CHARS, MAX_ALIAS_NODES, MAX_DEPTH

ROOT = Path(__file__).resolve().parents[2]
HEADER = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"


def alias_bomb() -> str:
    """"Billion laughs": nine levels of nine aliases each, 387 million strings once expanded, 1 KB as text."""
    lines = [HEADER + "data:", '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def problems_of(source: str) -> tuple[str, ...]:
    with pytest.raises(ManifestError) as caught:
        K8sResourceScore(source)
    return caught.value.problems


def test_an_alias_bomb_is_refused_at_once_without_expanding_it() -> None:
    # In a child process capped at 1 GiB of address space, whose peak memory the test reads:
    # expanding the bomb (as before) fails there instead of taking the machine's memory.
    child = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from harmony_py.scores import K8sResourceScore, ManifestError
        source = sys.stdin.read()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            K8sResourceScore(source)
        except ManifestError as exc:
            print(exc.problems[0])
        growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(growth_kib)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", child], input=alias_bomb(), capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    problem, growth_kib = done.stdout.splitlines()
    refused = re.fullmatch(
        rf"YAML after manifest 0: aliases in the document starting at line 1 would add (\d+) nodes "
        rf"once expanded \(at most {MAX_ALIAS_NODES}\): an alias bomb\?",
        problem,
    )
    assert refused is not None, problem
    assert int(refused[1]) > 10**8
    assert int(growth_kib) < 64 * 1024, f"peak memory grew by {growth_kib} KiB"


def test_aliases_repeating_a_large_text_are_refused() -> None:
    text = "x" * (MAX_ALIAS_CHARS // 2 + 1)
    source = HEADER + f"data:\n  one: &big {text}\n  two: *big\n  three: *big\n"
    assert problems_of(source) == (
        f"YAML after manifest 0: aliases in the document starting at line 1 would add {2 * len(text)} characters "
        f"once expanded (at most {MAX_ALIAS_CHARS}): an alias bomb?",
    )


def test_duplicate_keys_are_refused_with_the_key_and_both_lines() -> None:
    source = textwrap.dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels:
            app: web
          name: shop
        spec:
          replicas: 2
        """
    )
    assert problems_of(source) == ("YAML after manifest 0: duplicate key 'name' at line 7 (first at line 4)",)


def test_a_duplicate_key_in_a_later_document_is_refused() -> None:
    source = HEADER + "---\n" + HEADER.replace("name: c", "name: d") + "data:\n  a: '1'\n  b: '2'\n  a: '3'\n"
    assert problems_of(source) == ("YAML after manifest 0: duplicate key 'a' at line 11 (first at line 9)",)


def test_a_recursive_alias_is_refused() -> None:
    source = HEADER + "data: &self\n  loop: *self\n"
    assert problems_of(source) == (
        "YAML after manifest 0: recursive alias at line 4: an alias refers to a node that contains it",
    )


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    depth = 2 * MAX_DEPTH
    source = HEADER + "data:\n  deep: " + "[" * depth + "]" * depth + "\n"
    assert problems_of(source) == (f"YAML after manifest 0: nested deeper than {MAX_DEPTH} levels at line 5",)


def test_a_manifest_with_small_aliases_and_a_merge_key_still_loads() -> None:
    source = textwrap.dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels: &labels {app: shop, tier: web}
        spec:
          selector:
            matchLabels: *labels
          template:
            metadata:
              labels:
                <<: *labels
                version: "2"
                tier: frontend
            spec:
              containers:
              - name: web
                image: busybox
        """
    )
    [deployment] = K8sResourceScore(source).objects
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "shop", "tier": "web"}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "shop", "tier": "frontend", "version": "2"}
