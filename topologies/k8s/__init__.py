"""Kubernetes: K8sAnywhereTopology, its transport and readiness rules, PostgreSQL and applications on a cluster."""
