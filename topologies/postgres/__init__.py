"""PostgreSQL on hosts: one server driven through a host's commands, and the replicated cluster over servers.

``roles`` and ``text`` are what Kubernetes PostgreSQL (``topologies.k8s.postgres``) shares with it.
"""
