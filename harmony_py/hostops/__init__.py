"""Host operations shared by scores and by the adapters that converge a host.

Each module here is the one place an operation on a host is written, over a
``CommandRunnerService``: :mod:`.packages` (apt and dpkg: ``PackageScore``,
PostgreSQL on hosts, the nginx balancer) and :mod:`.files` (a file's content,
mode and owner, through ``FileScore``'s own convergence). Nothing is imported
here, so that a score module importing one of them starts no import cycle.
"""
