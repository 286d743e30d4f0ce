"""Which topology held each shard of a cluster, recorded when the shards were deployed.

A shard map is positional: key ``k`` goes to shard ``jump_hash(k, n)``. Swapping
two shards, or dropping one, re-routes keys to shards that do not hold their
rows, and every shard still "holds the cluster", so observing the servers
cannot tell. So a deploy records, per shard, the names of the machines it ran
on, and a later plan or deploy compares: a shard whose machines are all new at
a recorded position, or a recorded shard that is gone, is refused before
anything changes. One machine replaced in a replicated shard keeps the shard
(the others still hold its rows).

The record is project state, kept beside the cluster's generated passwords in
the secret store (0600, never in a plan); it names no secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from harmony_py.errors import ScoreValueError
from topologies.secret_store import SecretStore

ShardMachines = tuple[str, ...]
"""The names of the machines one shard runs on (one for a server, each member's for a pair)."""


def record_key(cluster: str) -> str:
    return f"postgresql/{cluster}/shards"


def recorded(store: SecretStore, cluster: str) -> list[ShardMachines] | None:
    """The shards as last deployed, or None before the first deploy."""
    found = store.get(record_key(cluster))
    if found is None:
        return None
    return [tuple(machines) for machines in json.loads(found.reveal())]


def record(store: SecretStore, cluster: str, shards: Sequence[ShardMachines]) -> None:
    """Keep ``shards`` as the cluster's shards (after a deploy); unchanged records are not rewritten."""
    text = json.dumps([list(machines) for machines in shards])
    found = store.get(record_key(cluster))
    if found is None or found.reveal() != text:
        store.replace(record_key(cluster), text)


def check_same_shards(cluster: str, labels: Sequence[str], shards: Sequence[ShardMachines], before: Sequence[ShardMachines]) -> None:
    """Refuse a removed shard or one whose machines are all new at its position."""
    if len(shards) < len(before):
        gone = ", ".join(f"shard {index} ({_names(before[index])})" for index in range(len(shards), len(before)))
        raise ScoreValueError(
            f"cluster {cluster} had {len(before)} shards and now has {len(shards)}: {gone} removed. "
            "Keys would be re-routed to shards that do not hold their rows (a shard map is positional); "
            f"keep every shard, in its place. If you moved the rows yourself, delete the record "
            f"{record_key(cluster)!r} in the secret store and apply again"
        )
    for index, (now, then) in enumerate(zip(shards, before)):
        if not set(now) & set(then):
            raise ScoreValueError(
                f"cluster {cluster}: {labels[index]} ran on {_names(then)} and is now {_names(now)}: "
                "reordering or replacing whole shards re-routes keys to shards that do not hold their rows "
                "(a shard map is positional; new shards go at the end). If you moved the rows yourself, "
                f"delete the record {record_key(cluster)!r} in the secret store and apply again"
            )


def _names(machines: ShardMachines) -> str:
    return ", ".join(machines)
