"""The sync end to end against the simulator, and the cost of dispatch.

    python bench/sync_bench.py                       # SQLite, N=5000, 20 ms, 8 workers
    python bench/sync_bench.py --db mysql --workers 32
    python bench/sync_bench.py --db mysql --rounds 5     # 5 alternating pairs, median
    python bench/sync_bench.py --in-process          # the old way: one process for all
    python bench/sync_bench.py --dispatch 100000     # dispatch time and peak RSS
    python bench/sync_bench.py --db mysql --dispatch 100000

For N students at a latency L with W workers the floor is N·L/W. Each pair times a
plain asyncio loop doing the same fetch, parse and write with a semaphore of W and no
queue, and syncpay: the ratio of the two is syncpay's overhead. Read ratios, not
seconds: the machine is shared.

By default (``--api-process``) the finance API is `syncpay simulator` in a process of its
own, and each contender is a command of its own timed around the whole process (start-up
included): ``syncpay sync --workers W`` and ``bench/plain_loop.py`` (one commit per
student), against the same prepared database (roster imported once; before each run
every stored answer, hash and total is cleared, so every answer is a change). The CPU
per student is each command's own (``os.wait4``). ``--in-process`` keeps the simulator,
the loop and the run inside this process, as before.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syncpay.config import Settings, load_settings
from syncpay.db import Database, connect, migrate, tables_for
from syncpay.db.queries import parse_queries
from syncpay.service import SyncPay
from syncpay.simulator import ROSTER_COLUMNS, Simulator, SimulatorOptions, demo_students
from syncpay.students import import_csv, import_rows
from syncpay.sync.money import compute_totals
from syncpay.sync.parsers import parse_flat
from syncpay.sync.sources import HttpSource

TABLES = ("jobs", "sync_runs", "sync_run_items", "sync_logs", "siswa")
RUN_TABLES = ("jobs", "failed_jobs", "sync_runs", "sync_run_items", "sync_logs", "siswa_history")
HERE = Path(__file__).resolve().parent
#: The commands import this checkout's syncpay (a `git archive` of an older commit too).
CHILD_ENV = {**os.environ, "PYTHONPATH": str(HERE.parent)}


def settings_for(kind: str, folder: str, url: str, workers: int) -> Settings:
    env = {
        "PAYMENT_SOURCE": "http",
        "PAYMENT_API_URL": url,
        "SYNC_WORKERS": str(workers),
        "SYNC_BACKOFF": "0",
    }
    if kind == "sqlite":
        env |= {"DB_CONNECTION": "sqlite", "DB_DATABASE": os.path.join(folder, "bench.sqlite")}
    else:
        env |= {
            "DB_CONNECTION": "mysql",
            "DB_DATABASE": "syncpay_sync_bench",
            "DB_HOST": os.environ.get("DB_HOST", "127.0.0.1"),
            "DB_PORT": os.environ.get("DB_PORT", "3306"),
            "DB_USERNAME": os.environ.get("DB_USERNAME", "root"),
            "DB_PASSWORD": os.environ.get("DB_PASSWORD", ""),
        }
    return load_settings(env, environ={}, env_file=None)


async def fresh(settings: Settings) -> Database:
    db = await connect(settings, create=True)
    await migrate(db, tables_for(settings))
    script = ";\n".join(f"DELETE FROM {t}" for t in TABLES)
    await db.run_script(script if settings.db_connection == "mysql" else script + ";")
    return db


async def plain_loop(db: Database, sim: Simulator, ids: list[str], workers: int) -> float:
    """The same fetch, parse, compute and write, with a semaphore and no queue."""
    source = HttpSource(sim.payments_url, concurrency=workers)
    gate = asyncio.Semaphore(workers)
    today = date.today()

    async def one(idperson: str) -> None:
        async with gate:
            text = await source.fetch(idperson)
            totals = compute_totals(parse_flat(text).items, today)
            row = {
                k: (str(v) if not isinstance(v, bool) else int(v))
                for k, v in totals.as_row().items()
            }
            digest = hashlib.sha256(text.encode()).hexdigest()
            await db.transact(
                lambda tx: tx.execute(
                    "siswa_store_payment",
                    {"idperson": idperson, "pembayaran": text, "hash": digest, **row},
                )
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in ids))
    elapsed = time.perf_counter() - started
    await source.close()
    return elapsed


async def end_to_end(
    kind: str, n: int, latency: float, workers: int, rounds: int = 1
) -> list[tuple[str, str]]:
    """The plain loop and a syncpay run over the same students, ``rounds`` times in
    alternating order (loop first, then syncpay first, …): on a shared machine the
    median of the paired ratios says more than one pair."""
    folder = tempfile.mkdtemp(prefix="syncpay-sync-bench-")
    loops: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    async with Simulator(SimulatorOptions(latency=latency, seed=1)) as sim:
        settings = settings_for(kind, folder, sim.payments_url, workers)
        db = await fresh(settings)
        try:
            students = demo_students(n, seed=1)
            await import_rows(db, enumerate(students, start=2))
            ids = [s["idperson"] for s in students]

            async def loop_once() -> None:
                await db.run_script("UPDATE siswa SET pembayaran = NULL, pembayaran_hash = NULL")
                cpu = time.process_time()
                seconds = await plain_loop(db, sim, ids, workers)
                loops.append((seconds, time.process_time() - cpu))

            async def syncpay_once() -> None:
                await db.run_script("UPDATE siswa SET pembayaran = NULL, pembayaran_hash = NULL")
                sp = SyncPay(settings, db)
                cpu = time.process_time()
                started = time.perf_counter()
                run = await sp.start(started_by="bench")
                run = await sp.wait(run.id, workers=workers)
                ours.append((time.perf_counter() - started, time.process_time() - cpu))
                await sp.close_runtime()
                assert run.processed == n and run.failed == 0, run

            for r in range(rounds):
                first, second = (
                    (loop_once, syncpay_once) if r % 2 == 0 else (syncpay_once, loop_once)
                )
                await first()
                await second()
        finally:
            if kind == "mysql":
                await db.run_script("DROP DATABASE IF EXISTS syncpay_sync_bench")
            await db.close()
    floor = n * latency / workers
    ratios = sorted(o[0] / lp[0] for o, lp in zip(ours, loops, strict=True))
    median = statistics.median(ratios)
    rows = [
        (
            f"floor N·latency/workers ({n:,} × {latency * 1000:.0f} ms / {workers})",
            f"{floor:.2f} s",
        ),
        (
            f"plain asyncio loop, semaphore of {workers}, no queue",
            ", ".join(f"{seconds:.2f} s" for seconds, _ in loops),
        ),
        (
            "syncpay run (start → completed, dispatch included)",
            ", ".join(f"{seconds:.2f} s" for seconds, _ in ours),
        ),
        ("syncpay / plain loop, each round", ", ".join(f"{r:.3f}×" for r in ratios)),
        ("syncpay / plain loop, median", f"{median:.3f}×"),
        (
            "CPU of this process (simulator included): loop, syncpay",
            "; ".join(f"{lp[1]:.1f} s, {o[1]:.1f} s" for o, lp in zip(ours, loops, strict=True)),
        ),
    ]
    return rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_env(path: str, settings: Settings, url: str, workers: int) -> None:
    """The .env both commands read: the bench's database, the simulator's URL."""
    lines = {
        "PAYMENT_SOURCE": "http",
        "PAYMENT_API_URL": url,
        "SYNC_WORKERS": str(workers),
        "SYNC_BACKOFF": "0",
        "DB_CONNECTION": settings.db_connection,
        "DB_DATABASE": str(settings.db_database),
    }
    if settings.db_connection == "mysql":
        for name in ("DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD"):
            lines[name] = str(getattr(settings, name.lower()) or "")
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(f"{k}={v}\n" for k, v in lines.items())


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def server_pid(settings: Settings) -> int | None:
    """The local MariaDB server's pid (from its ``pid_file``), to count its CPU; None
    for SQLite or a server on another machine."""
    if settings.db_connection != "mysql":
        return None
    db = await connect(settings)
    try:
        db.queries.update(parse_queries("-- name: pid_file\nSELECT @@pid_file\n", "%s", {}))
        path = str(await db.fetch_value("pid_file") or "")
    finally:
        await db.close()
    try:
        pid = int(Path(path).read_text(encoding="ascii").strip())
        process_cpu(pid)
    except (OSError, ValueError):
        return None
    return pid


def timed(command: list[str], log: str) -> tuple[float, float]:
    """Run ``command`` to its end: (wall seconds, its CPU seconds). Fails loudly."""
    with open(log, "ab") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=CHILD_ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{command[1:4]} exited {proc.returncode}: see {log}")
    return seconds, usage.ru_utime + usage.ru_stime


async def prepare(settings: Settings, n: int) -> list[str]:
    db = await fresh(settings)
    try:
        students = demo_students(n, seed=1)
        await import_rows(db, enumerate(students, start=2))
    finally:
        await db.close()
    return [s["idperson"] for s in students]


async def reset(settings: Settings) -> None:
    """Every stored answer gone: the next run stores (and records) every student."""
    db = await connect(settings)
    try:
        script = ";\n".join(
            [f"DELETE FROM {t}" for t in RUN_TABLES]
            + [
                "UPDATE siswa SET pembayaran = NULL, pembayaran_hash = NULL, "
                "total_tagihan = 0, total_dibayar = 0, total_tunggakan = 0, "
                "total_kelebihan = 0, is_lunas = 0, synced_at = NULL, sync_error = NULL"
            ]
        )
        await db.run_script(script if settings.db_connection == "mysql" else script + ";")
    finally:
        await db.close()


async def warm(url: str, ids: list[str]) -> None:
    """Ask the simulator for every answer once (it keeps what it made)."""
    import aiohttp

    gate = asyncio.Semaphore(50)
    async with aiohttp.ClientSession() as session:

        async def one(idperson: str) -> None:
            async with gate, session.get(url.replace("{idperson}", idperson)) as response:
                await response.read()

        await asyncio.gather(*(one(i) for i in ids))


def in_processes(
    kind: str, n: int, latency: float, workers: int, rounds: int, profile: str | None = None
) -> list[tuple[str, str]]:
    """Simulator, `syncpay sync` and the plain loop each in a process of their own;
    ``rounds`` pairs in alternating order, every pair printed as it ends."""
    folder = tempfile.mkdtemp(prefix="syncpay-sync-bench-")
    port = free_port()
    url = f"http://127.0.0.1:{port}/payments/{{idperson}}"
    settings = settings_for(kind, folder, url, workers)
    env_file, ids_file = os.path.join(folder, "bench.env"), os.path.join(folder, "ids")
    log = os.path.join(folder, "stderr.log")
    write_env(env_file, settings, url, workers)
    ids = asyncio.run(prepare(settings, n))
    Path(ids_file).write_text("\n".join(ids), encoding="utf-8")
    py = sys.executable
    sim_cmd = [py, "-m", "syncpay", "simulator", "--env-file", env_file, "--port", str(port)]
    sim_cmd += ["--latency", str(latency), "--seed", "1"]
    ours_cmd = [py, "-m", "syncpay", "sync", "--env-file", env_file, "--workers", str(workers)]
    if profile:  # the run under cProfile (its figures then include the profiler's cost)
        ours_cmd[1:1] = ["-m", "cProfile", "-o", profile]
    loop_cmd = [py, str(HERE / "plain_loop.py"), "--env-file", env_file]
    loop_cmd += ["--workers", str(workers), ids_file]
    results: dict[str, list[tuple[float, float, float, float]]] = {"loop": [], "syncpay": []}
    db_pid = asyncio.run(server_pid(settings))
    load_before = os.getloadavg()
    with open(log, "ab") as err:
        sim = subprocess.Popen(
            sim_cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=folder, env=CHILD_ENV
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or sim.poll() is not None:
                    raise SystemExit(f"the simulator did not start: see {log}") from None
                time.sleep(0.05)
        asyncio.run(warm(url, ids))
        commands = {"loop": loop_cmd, "syncpay": ours_cmd}
        for r in range(rounds):
            order = ("loop", "syncpay") if r % 2 == 0 else ("syncpay", "loop")
            for name in order:
                asyncio.run(reset(settings))
                sim_cpu = process_cpu(sim.pid)
                db_cpu = process_cpu(db_pid) if db_pid else 0.0
                seconds, cpu = timed(commands[name], log)
                db_used = process_cpu(db_pid) - db_cpu if db_pid else 0.0
                results[name].append((seconds, cpu, process_cpu(sim.pid) - sim_cpu, db_used))
            lp, us = results["loop"][-1], results["syncpay"][-1]
            print(
                f"pair {r + 1} ({order[0]} first): loop {lp[0]:.2f} s, syncpay {us[0]:.2f} s"
                f" → {us[0] / lp[0]:.3f}×; CPU/student loop {lp[1] / n * 1000:.2f} ms,"
                f" syncpay {us[1] / n * 1000:.2f} ms",
                flush=True,
            )
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
        if kind == "mysql":
            asyncio.run(drop_bench_database(settings))
    shutil.rmtree(folder, ignore_errors=True)  # kept when a command failed: its log
    return figures(results, n, latency, workers, load_before)


async def drop_bench_database(settings: Settings) -> None:
    db = await connect(settings)
    try:
        await db.run_script("DROP DATABASE IF EXISTS syncpay_sync_bench")
    finally:
        await db.close()


def figures(
    results: dict[str, list[tuple[float, float, float, float]]],
    n: int,
    latency: float,
    workers: int,
    load_before: tuple[float, float, float],
) -> list[tuple[str, str]]:
    loops, ours = results["loop"], results["syncpay"]
    floor = n * latency / workers
    ratios = [o[0] / lp[0] for o, lp in zip(ours, loops, strict=True)]

    def walls(runs: list[tuple[float, float, float, float]]) -> str:
        return ", ".join(f"{r[0]:.2f} s" for r in runs)

    def per_student(runs: list[tuple[float, float, float, float]], i: int) -> str:
        values = [r[i] / n * 1000 for r in runs]
        return f"{statistics.median(values):.2f} ms ({min(values):.2f}–{max(values):.2f})"

    load = os.getloadavg()
    return [
        (
            f"floor N·latency/workers ({n:,} × {latency * 1000:.0f} ms / {workers})",
            f"{floor:.2f} s",
        ),
        (f"plain asyncio loop, semaphore of {workers}, its own process", walls(loops)),
        (f"`syncpay sync --workers {workers}`, its own process", walls(ours)),
        ("syncpay / plain loop, each pair", ", ".join(f"{r:.3f}×" for r in ratios)),
        (
            "syncpay / plain loop, median (worst)",
            f"{statistics.median(ratios):.3f}× ({max(ratios):.3f}×)",
        ),
        ("syncpay / floor, median", f"{statistics.median(o[0] for o in ours) / floor:.3f}×"),
        ("CPU per student, plain loop (median, range)", per_student(loops, 1)),
        ("CPU per student, syncpay (median, range)", per_student(ours, 1)),
        (
            "simulator CPU per student: during loop, during syncpay",
            f"{per_student(loops, 2)}; {per_student(ours, 2)}",
        ),
        *(
            [
                (
                    "MariaDB server CPU per student: during loop, during syncpay",
                    f"{per_student(loops, 3)}; {per_student(ours, 3)}",
                )
            ]
            if any(r[3] for r in loops + ours)
            else []
        ),
        (
            "load average 1/5/15 min, before → after",
            f"{load_before[0]:.2f}/{load_before[1]:.2f}/"
            f"{load_before[2]:.2f} → {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}",
        ),
    ]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(*args: str) -> dict[str, float]:
    """Run a step of this script in a process of its own; the JSON it prints last."""
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_roster(path: str, n: int) -> dict[str, float]:
    """``n`` demo students as a roster CSV (the bench's data, not the importer's)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROSTER_COLUMNS))
        writer.writeheader()
        writer.writerows(demo_students(n, seed=2))
    return {"students": n}


async def import_roster(kind: str, folder: str, path: str) -> dict[str, float]:
    """Import the roster CSV into a fresh database, as ``syncpay siswa:import`` does."""
    settings = settings_for(kind, folder, "http://127.0.0.1:9/payments/{idperson}", 8)
    db = await fresh(settings)
    try:
        started = time.perf_counter()
        report = await import_csv(db, path)
        seconds = time.perf_counter() - started
    finally:
        await db.close()
    assert report.inserted and not report.invalid, report.summary()
    return {"seconds": seconds, "rss": peak_rss_mb()}


async def dispatch_cost(kind: str, n: int) -> list[tuple[str, str]]:
    """Start + dispatch of ``n`` students in this process, the roster imported by
    another one: the peak RSS is the sync's alone."""
    folder = tempfile.mkdtemp(prefix="syncpay-sync-bench-")
    roster = os.path.join(folder, "siswa.csv")
    child("--step", "csv", "--dispatch", str(n), "--folder", folder, roster)
    imported = child("--step", "import", "--db", kind, "--folder", folder, roster)
    settings = settings_for(kind, folder, "http://127.0.0.1:9/payments/{idperson}", 8)
    db = await connect(settings)
    try:
        sp = SyncPay(settings, db)
        started = time.perf_counter()
        run = await sp.start(started_by="bench")
        start_seconds = time.perf_counter() - started
        worker = sp.worker(1, max_jobs=1, stop_when_empty=True)  # just the dispatcher
        began, cpu = time.perf_counter(), time.process_time()
        await worker.run()
        dispatch_seconds = time.perf_counter() - began
        dispatch_cpu = time.process_time() - cpu
        run = await sp.sync.get(run.id)
        queued = await sp.queue.size()
        peak = peak_rss_mb()
        assert run.dispatched and run.total == n and queued == n, (run, queued)
    finally:
        if kind == "mysql":
            await db.run_script("DROP DATABASE IF EXISTS syncpay_sync_bench")
        await db.close()
    return [
        (f"start a run over {n:,} students (returns at once)", f"{start_seconds * 1000:.0f} ms"),
        (
            f"dispatch {n:,} student jobs (CPU of this process)",
            f"{dispatch_seconds:.2f} s ({dispatch_cpu:.2f} s)",
        ),
        ("peak RSS of the sync process (start + dispatch)", f"{peak:.0f} MB"),
        (
            f"roster import of {n:,} students from CSV (its own process)",
            f"{imported['seconds']:.2f} s, peak RSS {imported['rss']:.0f} MB",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=1, help="loop and syncpay pairs, alternating (1)"
    )
    parser.add_argument(
        "--api-process",
        choices=["yes", "no"],
        default="yes",
        help="the simulator and each contender in processes of their own (yes)",
    )
    parser.add_argument(
        "--in-process",
        dest="api_process",
        action="store_const",
        const="no",
        help="simulator, loop and run in this process (= --api-process no)",
    )
    parser.add_argument("--dispatch", type=int, default=0, help="measure dispatch of N instead")
    parser.add_argument("--profile", metavar="FILE", help="run syncpay under cProfile -o FILE")
    parser.add_argument("--step", choices=["csv", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("roster", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "csv":
        print(json.dumps(write_roster(args.roster, args.dispatch)))
        return
    if args.step == "import":
        print(json.dumps(asyncio.run(import_roster(args.db, args.folder, args.roster))))
        return
    if args.dispatch:
        rows = asyncio.run(dispatch_cost(args.db, args.dispatch))
    elif args.api_process == "yes":
        rows = in_processes(
            args.db, args.students, args.latency, args.workers, args.rounds, args.profile
        )
    else:
        rows = asyncio.run(
            end_to_end(args.db, args.students, args.latency, args.workers, args.rounds)
        )
    print(f"| {args.db} | |")
    print("|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
