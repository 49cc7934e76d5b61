"""What recording each sync's changes costs (issue #14): one syncpay run over N students
never synced before — every one of them a change, so a ``siswa_history`` row and the
item's before/after each — with this checkout's code and with an older one (before the
changes were recorded), each in a process of its own, alternating.

    git archive 9df7bc2 | tar -x -C /tmp/before      # the commit before #14's recording
    python bench/changes_bench.py --old /tmp/before                # SQLite, N=5000
    python bench/changes_bench.py --old /tmp/before --db mysql --rounds 3

20 ms latency and 8 workers, as ``sync_bench.py``. Read ratios, not seconds: the
machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def one_run(kind: str, n: int) -> float:
    """In a child process whose sys.path starts at the code to measure."""
    from sync_bench import fresh, settings_for

    from syncpay.service import SyncPay
    from syncpay.simulator import Simulator, SimulatorOptions, demo_students
    from syncpay.students import import_rows

    folder = tempfile.mkdtemp(prefix="syncpay-changes-bench-")
    async with Simulator(SimulatorOptions(latency=0.02, seed=1)) as sim:
        settings = settings_for(kind, folder, sim.payments_url, 8)
        db = await fresh(settings)
        try:
            await import_rows(db, enumerate(demo_students(n, seed=1), start=2))
            sp = SyncPay(settings, db)
            started = time.perf_counter()
            await sp.wait((await sp.start(started_by="bench")).id, workers=8)
            seconds = time.perf_counter() - started
            await sp.close_runtime()
        finally:
            await db.close()
    return seconds


def child(root: Path, kind: str, n: int) -> float:
    code = (
        "import asyncio, sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/bench',"
        f" {str(HERE)!r}]; from changes_bench import one_run;"
        " print(asyncio.run(one_run(sys.argv[2], int(sys.argv[3]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(root), kind, str(n)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"PYTHONPATH": ""},
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old", type=Path, required=True, help="the older code's folder")
    parser.add_argument("--db", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ratios = []
    for _ in range(args.rounds):
        before = child(args.old.resolve(), args.db, args.n)
        after = child(HERE.parent, args.db, args.n)
        ratios.append(after / before)
        print(f"before {before:.2f} s, after {after:.2f} s: {ratios[-1]:.3f}x", flush=True)
    print(f"after / before, median of {args.rounds}: {statistics.median(ratios):.3f}x")


if __name__ == "__main__":
    main()
