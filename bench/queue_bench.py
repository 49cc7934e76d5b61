"""Queue throughput: no-op jobs, 8 slots in one process, SQLite and MariaDB.

    python bench/queue_bench.py                  # both databases
    python bench/queue_bench.py --db sqlite --jobs 10000 --big 100000

Prints a Markdown table (paste it into docs/performance.md). The machine is shared
and noisy: read the ratios within one run, not the absolute times.

    python bench/queue_bench.py --wake           # wake across processes, both databases
    python bench/queue_bench.py --wake --db mysql --pushes 100 --idle 20

``--wake``: a ``syncpay work`` process (``--sleep 3``) idles; this process pushes one
job at a time (``--pushes``, a random pause after each start) and reads when it started
(the job writes the wall clock): the latency from the push to the job's start, p50 and
p99; then the worker's CPU over ``--idle`` seconds of nothing to do.
``--syncpay-root DIR`` runs the worker from another checkout (an older commit: before).

    python bench/queue_bench.py --enqueue --db mysql --rounds 10

``--enqueue``: ``push_many`` of ``--jobs`` no-op jobs into an emptied table, ``--rounds``
times, plain and with a unique key. On MariaDB each round pushes twice, in alternating
order: the values written into the SQL text (now) and as the driver's parameters
(before issue #16, ``MysqlDatabase.inline_values = False``); medians, ranges and the
process's CPU. (Its own database, ``syncpay_bench_enqueue``, dropped at the end.)
MariaDB: 127.0.0.1:3306 root (override with DB_HOST / DB_PORT / DB_USERNAME /
DB_PASSWORD); a database ``syncpay_bench`` is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syncpay.config import Settings, load_settings
from syncpay.db import Database, connect, migrate, tables_for
from syncpay.db.mysql import MysqlDatabase
from syncpay.queue import JobContext, JobRegistry, Queue, Worker, WorkerOptions, job_type

JOB = "bench.noop"


def settings_for(kind: str, folder: str, database: str = "syncpay_bench") -> Settings:
    if kind == "sqlite":
        env = {"DB_CONNECTION": "sqlite", "DB_DATABASE": os.path.join(folder, "bench.sqlite")}
    else:
        env = {
            "DB_CONNECTION": "mysql",
            "DB_DATABASE": database,
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


# --- wake across processes --------------------------------------------------------------

WAKE_JOB = "bench.wake"
ROOT = Path(__file__).resolve().parent.parent


@job_type(WAKE_JOB)
async def wake_job(job: JobContext) -> None:
    """Runs in the ``syncpay work`` process (``--import bench.queue_bench``): one line
    ``n wall-clock-at-start process-cpu-seconds`` appended to the file in its data."""
    line = f"{job.data['n']} {time.time():.6f} {time.process_time():.6f}\n"
    with open(job.data["file"], "a", encoding="ascii") as out:
        out.write(line)


async def _started(path: Path, n: int, timeout: float = 30.0) -> tuple[float, float]:
    """When job ``n`` started (wall clock) and the worker's CPU seconds then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == str(n):
                    return float(parts[1]), float(parts[2])
        await asyncio.sleep(0.002)
    raise SystemExit(f"job {n} did not start within {timeout:g}s")


def _nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


async def wake(kind: str, pushes: int, idle: float, root: Path) -> list[tuple[str, str]]:
    folder = tempfile.mkdtemp(prefix="syncpay-wake-")
    settings = settings_for(kind, folder)
    db = await connect(settings, create=True)
    names = ("DB_CONNECTION", "DB_DATABASE", "DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "SYNC_", "QUEUE_"))}
    env |= {name: str(getattr(settings, name.lower())) for name in names}
    env |= {"PYTHONPATH": os.pathsep.join([str(root), str(ROOT)]), "LOG_LEVEL": "warning"}
    worker: subprocess.Popen[bytes] | None = None
    try:
        await migrate(db, tables_for(settings))
        queue = Queue(db, default_queue=settings.db_queue)
        await queue.clear()
        path = Path(folder) / "started.txt"
        command = [sys.executable, "-m", "syncpay", "work", "--import", "bench.queue_bench"]
        worker = subprocess.Popen(
            [*command, "--sleep", "3", "--workers", "8"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        # The first job waits for the worker's start (and its first empty claim).
        await queue.push(WAKE_JOB, {"n": 0, "file": str(path)})
        await _started(path, 0, timeout=60)
        await asyncio.sleep(0.5)
        latencies, after_commit = [], []
        for n in range(1, pushes + 1):
            pushed = time.time()
            await queue.push(WAKE_JOB, {"n": n, "file": str(path)})
            committed = time.time()
            started, _cpu = await _started(path, n)
            latencies.append(started - pushed)
            after_commit.append(started - committed)
            await asyncio.sleep(random.uniform(0.05, 0.25))
        # Idle: nothing to do for `idle` seconds, between two jobs that read the CPU.
        await queue.push(WAKE_JOB, {"n": -1, "file": str(path)})
        first, cpu_first = await _started(path, -1)
        await asyncio.sleep(idle)
        await queue.push(WAKE_JOB, {"n": -2, "file": str(path)})
        last, cpu_last = await _started(path, -2)
        ms = [1000 * value for value in latencies]
        after = [1000 * value for value in after_commit]
        return [
            (f"push call to start, p50 ({pushes} pushes)", f"{_nearest_rank(ms, 0.5):.0f} ms"),
            (f"push call to start, p99 ({pushes} pushes)", f"{_nearest_rank(ms, 0.99):.0f} ms"),
            ("push call to start, max", f"{max(ms):.0f} ms"),
            ("push committed to start, p50", f"{_nearest_rank(after, 0.5):.0f} ms"),
            ("push committed to start, p99", f"{_nearest_rank(after, 0.99):.0f} ms"),
            (
                f"idle worker CPU ({last - first:.0f} s)",
                f"{100 * (cpu_last - cpu_first) / (last - first):.2f} % of a core",
            ),
        ]
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if kind == "mysql":
            await db.run_script("DROP DATABASE IF EXISTS syncpay_bench")
        await db.close()
        shutil.rmtree(folder, ignore_errors=True)


def wake_main(args: argparse.Namespace, kinds: list[str]) -> None:
    root = Path(args.syncpay_root).resolve() if args.syncpay_root else ROOT
    results = {kind: asyncio.run(wake(kind, args.pushes, args.idle, root)) for kind in kinds}
    labels = [label for label, _ in next(iter(results.values()))]
    print("| wake across processes, `syncpay work --sleep 3` | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for i, label in enumerate(labels):
        print(f"| {label} | " + " | ".join(results[k][i][1] for k in kinds) + " |")


# --- enqueue ----------------------------------------------------------------------------

ENQUEUE_DATABASE = "syncpay_bench_enqueue"


async def _timed_push(queue: Queue, jobs: int, unique: bool) -> tuple[float, float]:
    """Wall and process CPU seconds of one push of ``jobs`` into an emptied table."""
    await queue.clear()
    key = (lambda item: f"bench:{item['n']}") if unique else None
    wall, cpu = time.perf_counter(), time.process_time()
    await queue.push_many(JOB, ({"n": i} for i in range(jobs)), unique_key=key)
    return time.perf_counter() - wall, time.process_time() - cpu


def _spread(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{statistics.median(ordered):.3f} s ({ordered[0]:.3f}–{ordered[-1]:.3f})"


async def enqueue(kind: str, jobs: int, rounds: int) -> list[tuple[str, str]]:
    folder = tempfile.mkdtemp(prefix="syncpay-enqueue-")
    settings = settings_for(kind, folder, ENQUEUE_DATABASE)
    db = await connect(settings, create=True)
    ways = ["now", "before"] if isinstance(db, MysqlDatabase) else ["now"]
    walls: dict[tuple[str, bool], list[float]] = {}
    cpus: dict[tuple[str, bool], list[float]] = {}
    try:
        await migrate(db, tables_for(settings))
        queue = Queue(db, default_queue="bench")
        await _timed_push(queue, jobs, False)  # warm up: pages, connections
        for n in range(rounds):
            for way in ways if n % 2 == 0 else ways[::-1]:
                if isinstance(db, MysqlDatabase):
                    db.inline_values = way == "now"
                for unique in (False, True):
                    wall, cpu = await _timed_push(queue, jobs, unique)
                    walls.setdefault((way, unique), []).append(wall)
                    cpus.setdefault((way, unique), []).append(cpu)
        await queue.clear()
    finally:
        if kind == "mysql":
            await db.run_script(f"DROP DATABASE IF EXISTS {ENQUEUE_DATABASE}")
        await db.close()
        shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for way, unique in [("now", False), ("before", False), ("now", True), ("before", True)]:
        label = f"push {jobs:,}{', unique keys' if unique else ''}: {way}"
        if (way, unique) not in walls:
            rows.append((label, "— (one way only)"))
            continue
        cpu = statistics.median(cpus[(way, unique)])
        rows.append((label, f"{_spread(walls[(way, unique)])}, CPU {cpu:.3f} s"))
    return rows


def enqueue_main(args: argparse.Namespace, kinds: list[str]) -> None:
    results = {kind: asyncio.run(enqueue(kind, args.jobs, args.rounds)) for kind in kinds}
    labels = [label for label, _ in next(iter(results.values()))]
    print(f"| enqueue, median of {args.rounds} (min–max) | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for i, label in enumerate(labels):
        print(f"| {label} | " + " | ".join(results[k][i][1] for k in kinds) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wake", action="store_true", help="wake across processes only")
    parser.add_argument("--pushes", type=int, default=100, help="--wake: jobs pushed")
    parser.add_argument("--idle", type=float, default=20.0, help="--wake: idle seconds")
    parser.add_argument("--syncpay-root", help="--wake: run the worker from this checkout")
    parser.add_argument("--enqueue", action="store_true", help="enqueue only, now vs before")
    parser.add_argument("--rounds", type=int, default=10, help="--enqueue: rounds")
    parser.add_argument("--db", choices=["sqlite", "mysql", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    kinds = ["sqlite", "mysql"] if args.db == "both" else [args.db]
    if args.wake:
        wake_main(args, kinds)
        return
    if args.enqueue:
        enqueue_main(args, kinds)
        return
    results = {kind: asyncio.run(run(kind, args.jobs, args.big, args.workers)) for kind in kinds}
    labels = [label for label, _ in next(iter(results.values()))]
    print(f"| no-op jobs, {args.workers} slots, 1 process | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for i, label in enumerate(labels):
        print(f"| {label} | " + " | ".join(results[k][i][1] for k in kinds) + " |")


if __name__ == "__main__":
    main()
