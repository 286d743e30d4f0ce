"""How long the shop example takes to apply, re-apply (NOOP) and plan, per platform.

    python bench/shop_apply.py --platform localhost --runs 5
    python bench/shop_apply.py --platform failover --runs 5

Everything lives under a temporary directory (PostgreSQL data, the supervised
application, the secrets) and on 127.36.2.1, and is stopped and removed at the
end. The first apply creates the database and starts the application; the
re-applies and plans change nothing and show what the contract's checks cost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harmony_py.cli.loader import load_maestro  # noqa: E402
from tests.ports import free_port, port_is_free  # noqa: E402

ADDRESS = "127.36.2.1"


def free_port_pair() -> int:
    """A free port P below the kernel's ephemeral range with P+1 free too (failover's replica listens one above)."""
    for _ in range(100):
        port = free_port()
        if port_is_free(port + 1):
            return port
    raise RuntimeError("no two free consecutive ports below 30000")


def timed(phase: str) -> float:
    maestro = load_maestro(str(ROOT / "examples" / "shop.py"))
    started = time.perf_counter()
    report = anyio.run(maestro.apply if phase == "apply" else maestro.plan)
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"{phase} failed: {[(r.identity, r.message) for r in report.scores]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--platform", choices=("localhost", "failover"), default="localhost")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="harmony-shop-bench-"))
    root.chmod(0o755)
    db_port = free_port_pair()
    os.environ.update(
        SHOP_TOPOLOGY=args.platform, SHOP_ROOT=str(root), SHOP_ADDRESS=ADDRESS, SHOP_PORT=str(free_port(ADDRESS)),
        SHOP_DB_PORT=str(db_port), HARMONY_SECRETS_DIR=str(root / "secrets"),
        PATH=f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    )  # fmt: skip
    try:
        first = timed("apply")
        noop = [timed("apply") for _ in range(args.runs)]
        plans = [timed("plan") for _ in range(args.runs)]
        print(f"{args.platform}: first apply {first:.2f} s; NOOP re-apply best {min(noop):.2f} s "
              f"(median {sorted(noop)[len(noop) // 2]:.2f}); plan best {min(plans):.2f} s (median {sorted(plans)[len(plans) // 2]:.2f})")  # fmt: skip
    finally:
        for service in (root / "apps").glob("*"):
            subprocess.run(["sv", "-w", "5", "force-stop", str(service)], capture_output=True, check=False)
            subprocess.run(["sv", "exit", str(service)], capture_output=True, check=False)
        for pidfile in root.glob("**/data/postmaster.pid"):
            subprocess.run(
                ["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "stop", "-D", str(pidfile.parent), "-m", "fast", "-w"],
                capture_output=True, check=False,
            )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
