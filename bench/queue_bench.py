"""Queue throughput: no-op jobs, 8 slots in one process, SQLite and MariaDB.

    python bench/queue_bench.py                  # both databases
    python bench/queue_bench.py --db sqlite --jobs 10000 --big 100000

Prints a Markdown table (paste it into docs/performance.md). The machine is shared
and noisy: read the ratios within one run, not the absolute times.
MariaDB: 127.0.0.1:3306 root (override with DB_HOST / DB_PORT / DB_USERNAME /
DB_PASSWORD); a database ``syncpay_bench`` is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syncpay.config import Settings, load_settings
from syncpay.db import Database, connect, migrate, tables_for
from syncpay.queue import JobContext, JobRegistry, Queue, Worker, WorkerOptions

JOB = "bench.noop"


def settings_for(kind: str, folder: str) -> Settings:
    if kind == "sqlite":
        env = {"DB_CONNECTION": "sqlite", "DB_DATABASE": os.path.join(folder, "bench.sqlite")}
    else:
        env = {
            "DB_CONNECTION": "mysql",
            "DB_DATABASE": "syncpay_bench",
            "DB_HOST": os.environ.get("DB_HOST", "127.0.0.1"),
            "DB_PORT": os.environ.get("DB_PORT", "3306"),
            "DB_USERNAME": os.environ.get("DB_USERNAME", "root"),
            "DB_PASSWORD": os.environ.get("DB_PASSWORD", ""),
        }
    return load_settings(env, environ={}, env_file=None)


class Bench:
    def __init__(self, db: Database, workers: int) -> None:
        self.queue = Queue(db, default_queue="bench")
        self.workers = workers
        self.registry = JobRegistry()
        self.finished: list[float] = []

        @self.registry.register(JOB)
        async def noop(job: JobContext) -> None:
            self.finished.append(time.perf_counter())

    async def push(self, n: int) -> float:
        started = time.perf_counter()
        await self.queue.push_many(JOB, ({"n": i} for i in range(n)))
        return time.perf_counter() - started

    async def drain(self) -> float:
        worker = Worker(
            self.queue,
            self.registry,
            WorkerOptions(concurrency=self.workers, stop_when_empty=True, sleep=0.05),
        )
        started = time.perf_counter()
        await worker.run()
        return time.perf_counter() - started


async def run(kind: str, jobs: int, big: int, workers: int) -> list[tuple[str, str]]:
    folder = tempfile.mkdtemp(prefix="syncpay-bench-")
    settings = settings_for(kind, folder)
    db = await connect(settings, create=True)
    try:
        await migrate(db, tables_for(settings))
        bench = Bench(db, workers)
        await bench.queue.clear()
        rows: list[tuple[str, str]] = []

        enqueue = await bench.push(jobs)
        rows.append((f"enqueue {jobs:,}", f"{enqueue:.3f} s"))
        drain = await bench.drain()
        rows.append((f"drain {jobs:,} (enqueue excluded)", f"{jobs / drain:,.0f} jobs/s"))
        rows.append(
            (
                f"enqueue + drain {jobs:,} (enqueue included)",
                f"{jobs / (enqueue + drain):,.0f} jobs/s",
            )
        )

        # The claim must not slow down as the table grows: 1,000 from an empty table...
        bench.finished.clear()
        await bench.push(1000)
        small = await bench.drain()
        # ...against the last 1,000 of `big` (after `big - 1,000` were claimed and deleted).
        enqueue_big = await bench.push(big)
        rows.append((f"enqueue {big:,}", f"{enqueue_big:.3f} s"))
        bench.finished.clear()
        drain_big = await bench.drain()
        done = sorted(bench.finished)
        last = done[-1] - done[-1001]
        rows.append((f"drain {big:,}", f"{big / drain_big:,.0f} jobs/s"))
        rows.append(("1,000 jobs from an almost empty table", f"{small:.3f} s"))
        rows.append((f"last 1,000 of {big:,}", f"{last:.3f} s ({last / small:.2f}x)"))
        return rows
    finally:
        if kind == "mysql":
            await db.run_script("DROP DATABASE IF EXISTS syncpay_bench")
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mysql", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    kinds = ["sqlite", "mysql"] if args.db == "both" else [args.db]
    results = {kind: asyncio.run(run(kind, args.jobs, args.big, args.workers)) for kind in kinds}
    labels = [label for label, _ in next(iter(results.values()))]
    print(f"| no-op jobs, {args.workers} slots, 1 process | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for i, label in enumerate(labels):
        print(f"| {label} | " + " | ".join(results[k][i][1] for k in kinds) + " |")


if __name__ == "__main__":
    main()
