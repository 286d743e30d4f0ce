"""LoadBalancer on a host: an nginx instance of harmony_py's own, driven through the host's commands."""
