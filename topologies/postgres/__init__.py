"""PostgreSQL on hosts: one server driven through a host's commands, and the replicated cluster over servers.

``host`` is the host's ``PostgreSQLServerService`` (:class:`~.host.HostPostgreSQL`, built on the
host's command runner), ``server`` the engine of one server (its files and package through
:mod:`harmony_py.hostops`), ``cluster`` the ``PostgreSQLClusterService`` a replicated topology
returns (:class:`~.cluster.ReplicatedPostgreSQL`, over its members' server services).
``roles`` and ``text`` are what Kubernetes PostgreSQL (``topologies.k8s.postgres``) shares with it.
"""
