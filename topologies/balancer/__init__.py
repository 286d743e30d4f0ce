"""LoadBalancer on a host: an nginx instance of harmony_py's own, driven through the host's commands."""

DEFAULT_ROOT = "/var/lib/harmony/nginx"
"""Where a host's balancer keeps its configuration, logs and pid (a topology's ``balancer_root`` default)."""
