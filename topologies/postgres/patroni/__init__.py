"""PostgreSQL under Patroni with a 3-member etcd, on host topologies (issue 13, adr/0081).

A replicated topology given a ``witness`` hands out :class:`~.cluster.PatroniCluster`
as its PostgreSQL service. Everything runs on each host through its
``CommandRunnerService``, so it works the same on this machine and over SSH:

- :mod:`.layout`: who takes part (each database member, the witness), where each
  keeps its files, and the ports it listens on;
- :mod:`.install`: Debian's etcd, and Patroni in a virtualenv, planned as changes;
- :mod:`.etcd`: one etcd member per participant, supervised, with authentication;
- :mod:`.config`: Patroni's configuration file (timings validated);
- :mod:`.supervision`: a daemon under the host's supervisor (ServiceScore's backends);
- :mod:`.view`: the engine's own view of the cluster (Patroni's ``GET /cluster``);
- :mod:`.deploy`: the ordered steps of a deploy, planned from the live hosts;
- :mod:`.cluster`: the ``PostgreSQLClusterService`` built from them.
"""
