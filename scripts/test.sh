#!/usr/bin/env bash
# Install everything the test suite needs (Debian packages, a virtualenv with the
# dev extra) and run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
# The HA engine (etcd, Patroni in /opt/harmony/patroni) through the code that installs it on
# any host, so that test hosts in network namespaces (no package index there) find it present.
.venv/bin/python scripts/install_ha_engine.py
# pyright runs on node; a release whose npm package is not bundled fetches it on first
# use: do that here, not inside the typing-contract test.
PYRIGHT_PYTHON_IGNORE_WARNINGS=1 .venv/bin/python -m pyright --version >/dev/null
# Three workers on two cores (the automatic-failover tests mostly wait out Patroni's 20 s
# leader TTL, adr/0070), a test file at a time; files that share a fixed resource go
# to one worker as one unit, the longest units first (tests/conftest.py, adr/0070).
# `bash scripts/test.sh -n 0` runs serially.
exec .venv/bin/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder "$@"
