"""The fan-out benchmark's report: Markdown tables ready for BENCHMARKS.md."""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bench.fanout_measure import RunSample
from bench.fanout_workload import Workload

if TYPE_CHECKING:
    from bench.fanout import SizeResult

PHASES = ("first", "again")
PHASE_TITLES = {"first": "first apply", "again": "no-change apply"}
TOOL_TITLES = {"harmony": "harmony_py", "pyinfra": "pyinfra", "ansible": "Ansible", "floor": "floor (asyncssh)"}
LINEAR_SLACK = 1.25
"""Per-host cost from 50 to 100 hosts at most this times the one from 10 to 50 counts as linear."""


def median(samples: Sequence[RunSample], value: Callable[[RunSample], float]) -> float:
    return statistics.median(value(sample) for sample in samples)


def wall(samples: Sequence[RunSample]) -> float:
    return median(samples, lambda s: s.wall_s)


def spread(samples: Sequence[RunSample]) -> str:
    values = sorted(f"{sample.wall_s:.2f}" for sample in samples)
    return " / ".join(values)


def report(
    results: Sequence[SizeResult],
    tools: Sequence[str],
    workload: Workload,
    versions: dict[str, str],
    args: argparse.Namespace,
    load_at_start: Sequence[str],
    load_at_end: float,
    elapsed_s: float,
) -> str:
    out: list[str] = []
    command = "python bench/fanout.py " + " ".join(sys.argv[1:])
    out.append(f"Command: `flock /tmp/harmony-servers.lock {command}`")
    out.append(
        f"Run {results[0].started} to {results[-1].finished} ({elapsed_s / 60:.1f} min); "
        f"load average at start {' '.join(load_at_start)}, at end {load_at_end:.2f}."
    )
    out.append("Versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()) + ".")
    out.append(f"Workload per host: {workload.description}; " + "; ".join(workload.notes) + ".")
    for result in results:
        check = result.check
        out.append(
            f"{result.hosts} hosts: `true` over an open SSH connection median {check.true_median_s * 1000:.1f} ms "
            f"(max {check.true_max_s * 1000:.1f} ms), one `ssh host true` {check.openssh_true_s * 1000:.0f} ms; "
            "no host ran pyenv."
        )
    out.append("")
    out += wall_table(results, tools)
    out.append("")
    out += growth_table(results, tools)
    out.append("")
    out += resource_table(results, tools)
    out.append("")
    out += packet_table(results)
    out.append("")
    out += phase_table(results)
    touched = {tool: n for result in results for tool, n in result.touched.items() if n}
    if touched:
        out.append("")
        out.append("WARNING: a no-change apply changed files on some hosts: "
                   + ", ".join(f"{TOOL_TITLES[t]} ({n} hosts)" for t, n in touched.items()))
    return "\n".join(out)


def wall_table(results: Sequence[SizeResult], tools: Sequence[str]) -> list[str]:
    head = ["hosts", "run"] + [f"{TOOL_TITLES[t]} (s)" for t in tools]
    ratios = [(a, b) for a, b in (("harmony", "pyinfra"), ("harmony", "ansible"), ("harmony", "floor")) if a in tools and b in tools]
    head += [f"{TOOL_TITLES[a]} / {TOOL_TITLES[b]}" for a, b in ratios]
    lines = ["Wall time, median of the rounds (each round's value in brackets):", "", row(head), row(["---"] * len(head))]
    for result in results:
        for phase in PHASES:
            cells = [str(result.hosts), PHASE_TITLES[phase]]
            for tool in tools:
                samples = result.samples[tool][phase]
                cells.append(f"{wall(samples):.2f} ({spread(samples)})")
            for a, b in ratios:
                cells.append(f"**{wall(result.samples[a][phase]) / wall(result.samples[b][phase]):.2f}**")
            lines.append(row(cells))
        if result.floor_inner:
            connect = statistics.median(run["connect_s"] for run in result.floor_inner.get("again", []) or result.floor_inner["first"])
            lines.append(row([str(result.hosts), "floor: all hosts connected at", f"{connect:.2f} s", *[""] * (len(head) - 3)]))
    return lines


def growth_table(results: Sequence[SizeResult], tools: Sequence[str]) -> list[str]:
    if len(results) < 2:
        return ["(cost growth needs two host counts or more)"]
    sizes = [result.hosts for result in results]
    head = ["tool", "run"] + [f"ms/host at {n}" for n in sizes]
    steps = list(zip(results, results[1:], strict=False))
    head += [f"added ms/host {a.hosts}->{b.hosts}" for a, b in steps] + ["growth"]
    lines = [
        "Cost per host: wall time / hosts, and the time each added host cost between two sizes "
        f"(linear when the later step costs at most {LINEAR_SLACK}x the earlier):",
        "",
        row(head),
        row(["---"] * len(head)),
    ]
    for tool in tools:
        for phase in PHASES:
            cells = [TOOL_TITLES[tool], PHASE_TITLES[phase]]
            cells += [f"{wall(r.samples[tool][phase]) / r.hosts * 1000:.0f}" for r in results]
            added = [
                (wall(b.samples[tool][phase]) - wall(a.samples[tool][phase])) / (b.hosts - a.hosts) * 1000 for a, b in steps
            ]
            cells += [f"{value:.0f}" for value in added]
            cells.append(verdict(added))
            lines.append(row(cells))
    return lines


def verdict(added: Sequence[float]) -> str:
    if len(added) < 2 or added[0] <= 0:
        return "-"
    factor = added[-1] / added[0]
    return "linear" if factor <= LINEAR_SLACK else f"steeper than linear (x{factor:.2f})"


def resource_table(results: Sequence[SizeResult], tools: Sequence[str]) -> list[str]:
    head = [
        "hosts", "tool", "run", "controller CPU s", "CPU ms/host", "hosts' CPU s", "largest process peak RSS MiB",
        "tree peak RSS MiB", "KiB/host", "load avg (mean/max)", "others' cores", "data segments out/in",
    ]
    lines = [
        "Controller and machine, medians of the rounds (controller = the tool's process tree; hosts = the sshd "
        "sessions and what they ran; others = other processes on the machine during the run):",
        "",
        row(head),
        row(["---"] * len(head)),
    ]
    for result in results:
        for tool in tools:
            for phase in PHASES:
                samples = result.samples[tool][phase]
                cpu = median(samples, lambda s: s.cpu_s)
                tree = median(samples, lambda s: s.tree_rss_kib)
                segments = "-"
                if samples[0].segments_out is not None:
                    segments = f"{median(samples, lambda s: s.segments_out or 0):.0f} / {median(samples, lambda s: s.segments_in or 0):.0f}"
                lines.append(
                    row(
                        [
                            str(result.hosts),
                            TOOL_TITLES[tool],
                            PHASE_TITLES[phase],
                            f"{cpu:.2f}",
                            f"{cpu / result.hosts * 1000:.0f}",
                            f"{median(samples, lambda s: s.hosts_cpu_s):.2f}",
                            f"{median(samples, lambda s: s.max_rss_kib) / 1024:.0f}",
                            f"{tree / 1024:.0f}",
                            f"{tree / result.hosts:.0f}",
                            f"{median(samples, lambda s: s.load_mean):.2f} / {max(s.load_max for s in samples):.2f}",
                            f"{median(samples, lambda s: s.others_cores):.2f}",
                            segments,
                        ]
                    )
                )
    memory = marginal_memory(results, tools)
    if memory:
        lines += ["", "Memory each added host costs (tree peak RSS, smallest to largest size): " + memory]
    return lines


def marginal_memory(results: Sequence[SizeResult], tools: Sequence[str]) -> str:
    if len(results) < 2:
        return ""
    small, large = results[0], results[-1]
    parts = []
    for tool in tools:
        for phase in PHASES:
            a = median(small.samples[tool][phase], lambda s: s.tree_rss_kib)
            b = median(large.samples[tool][phase], lambda s: s.tree_rss_kib)
            parts.append(f"{TOOL_TITLES[tool]} {PHASE_TITLES[phase]} {(b - a) / (large.hosts - small.hosts):.0f} KiB")
    return ", ".join(parts)


def packet_table(results: Sequence[SizeResult]) -> list[str]:
    rows: list[list[str]] = []
    groups = ("handshake", "channel-open", "request", "data", "window", "channel-close", "ignore")
    for result in results:
        steps = result.steps
        for tool, phases in result.packets.items():
            for phase, counts in phases.items():
                sent: dict[str, int] = counts["sent"]
                per_score = counts["sent_total"] / (result.hosts * steps)
                session = sum(n for g, n in sent.items() if g != "handshake") / (result.hosts * steps)
                useful = sum(n for g, n in sent.items() if g not in ("handshake", "ignore")) / (result.hosts * steps)
                rows.append(
                    [
                        str(result.hosts),
                        TOOL_TITLES[tool],
                        PHASE_TITLES[phase],
                        str(counts["sent_total"]),
                        f"{counts['sent_total'] / result.hosts:.0f}",
                        f"**{per_score:.1f}**",
                        f"{session:.1f}",
                        f"{useful:.1f}",
                        f"{counts['received_total'] / (result.hosts * steps):.1f}",
                        " ".join(f"{g}={sent.get(g, 0)}" for g in groups if sent.get(g)),
                    ]
                )
    if not rows:
        return ["(no packet counts: run without --no-count-packets)"]
    head = ["hosts", "tool", "run", "SSH packets sent", "per host", "per score", "per score after the handshake",
            "same without IGNORE", "received per score", "sent by kind"]
    return [
        "SSH packets (untimed extra run with bench/fanout_probe.py counting in the SSH library; Ansible's OpenSSH "
        "cannot be counted this way; per score = per host / steps; asyncssh sends an SSH_MSG_IGNORE ahead of every "
        "packet once the keys are in use, shown as `ignore`):",
        "",
        row(head),
        row(["---"] * len(head)),
        *(row(r) for r in rows),
    ]


def phase_table(results: Sequence[SizeResult]) -> list[str]:
    rows = []
    for result in results:
        for phase, timings in result.phase_timings.items():
            rows.append(row([str(result.hosts), PHASE_TITLES[phase], ", ".join(f"{k} {v:.3f} s" for k, v in timings.items())]))
    if not rows:
        return [
            "harmony_py per-phase timings (connect, observe, change): not in `--json` yet "
            "(issue 14 part 2 adds them; this benchmark prints them once they are there)."
        ]
    return ["harmony_py per-phase timings from `--json`, over hosts:", "", row(["hosts", "run", "timings"]),
            row(["---"] * 3), *rows]


def row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"
