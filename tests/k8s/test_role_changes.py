"""``role_changes``, the rules shared by PostgreSQL on hosts and on Kubernetes (adr/0060), on given facts."""

from __future__ import annotations

from typing import Any

from capabilities.postgresql import PgConfig, PgUser
from harmony_py.values import Secret
from topologies.postgres.roles import NO_ROLES, role_changes
from topologies.postgres.text import scram_verifier

CONFIG = PgConfig("orders", users=(PgUser("app", Secret("a"), databases=("orders",)), PgUser("audit", Secret("b"), databases=("orders",))))
PASSWORDS = {"replicator": Secret("r"), "app": Secret("a"), "audit": Secret("b")}


def facts(owner: str, grants: list[str]) -> dict[str, Any]:
    roles = {name: {"verifier": scram_verifier(p.reveal()), "login": True, "replication": name == "replicator"} for name, p in PASSWORDS.items()}
    return {"roles": roles, "databases": {"orders": owner}, "grants": grants, "rewind_grants": True}


def test_an_empty_server_gets_everything_and_no_statement_shows_a_password() -> None:
    changes, statements = role_changes(CONFIG, PASSWORDS.__getitem__, NO_ROLES, "t")
    assert [c.summary for c in changes] == [
        "create replication role replicator", "create role app", "create role audit",
        "create database orders owned by app", "grant audit all on database orders",
    ]  # fmt: skip
    text = "\n".join(statements)
    assert "SCRAM-SHA-256$" in text and "'a'" not in text and "'r'" not in text


def test_a_converged_server_needs_nothing() -> None:
    assert role_changes(CONFIG, PASSWORDS.__getitem__, facts("app", ["app/orders", "audit/orders"]), "t") == ([], [])


def test_a_former_owner_is_granted_in_the_run_that_takes_its_database() -> None:
    # audit owned orders (so it "had" CREATE); app becomes the owner: audit's rights go with the ownership.
    changes, statements = role_changes(CONFIG, PASSWORDS.__getitem__, facts("audit", ["app/orders", "audit/orders"]), "t")
    assert [c.summary for c in changes] == ["owner of database orders -> app", "grant audit all on database orders"]
    assert statements == ['ALTER DATABASE "orders" OWNER TO "app";', 'GRANT ALL ON DATABASE "orders" TO "audit";']
