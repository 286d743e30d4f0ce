"""The server settings of PostgreSQL over TLS, the same wherever the server runs (adr/0095).

One place for what a host's postgresql.conf, Patroni's parameters and a Pod's
command line say about TLS; each writes them in its own syntax. Every one is
reloadable, so a rotated certificate takes effect with a reload (adr/0096).
"""

from __future__ import annotations


def server_tls_settings(server_cert: str, server_key: str, root_cert: str) -> dict[str, str]:
    """``ssl`` on with the member's certificate, its key and the cluster's CA, TLS 1.2 at least."""
    return {
        "ssl": "on",
        "ssl_cert_file": server_cert,
        "ssl_key_file": server_key,
        "ssl_ca_file": root_cert,
        "ssl_min_protocol_version": "TLSv1.2",
    }
