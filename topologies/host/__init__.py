"""Hosts: this machine and Linux hosts over SSH, assembled from the technology subpackages.

Modules here may import ``topologies.postgres``, ``docker``, ``balancer`` and
``app``; none of those imports back from here (tests/test_layout.py).
"""
