"""``python -m harmony_py``: plan, apply and check score files."""

from harmony_py.cli.main import main

raise SystemExit(main())
