"""``python -m harmony_py``: plan, apply and check score files."""

from harmony_py.cli.main import MODULE_PROG, main

raise SystemExit(main(prog=MODULE_PROG))
