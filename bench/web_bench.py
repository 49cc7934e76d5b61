"""The live sync page under load: a run watched by many pages at once.

    python bench/web_bench.py                  # SQLite, N=5000, 20 ms, 8 workers, 50+50
    python bench/web_bench.py --db mysql
    python bench/web_bench.py --rounds 2       # alternate the two phases twice

The program runs as a user runs it: ``run.py simulator`` and ``run.py serve --workers 8``
in processes of their own, the clients here. Each phase gets a fresh database with the
same N demo students and runs one sync over all of them:

- *quiet*: nobody watches;
- *watched*: P pollers GET ``progress?after_log=`` every 500 ms (as the page's fallback
  does) and S WebSockets follow the run.

Both phases have a tight poller here reading the run's ``processed`` counter straight from
the database every few ms: the instant a value is first seen is the reference for the
WebSocket delay (a student's completion → the first message showing it). Figures:
``progress`` latency p50/p99, the watched/quiet wall-time ratio, the WebSocket delay
p50/p99. Read ratios, not seconds: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from syncpay.accounts import Accounts  # noqa: E402
from syncpay.config import Settings, load_settings  # noqa: E402
from syncpay.db import Database, connect, migrate, tables_for  # noqa: E402
from syncpay.db.queries import parse_queries  # noqa: E402
from syncpay.simulator import demo_students  # noqa: E402
from syncpay.students import import_rows  # noqa: E402

BASE = "/admin/sync-pembayaran"
PASSWORD = "bench-password-123"
RUN_QUERY = "-- name: bench_run\nSELECT status, processed FROM sync_runs WHERE id = :id\n"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


#: This process's priority before ``--nice``: the server and the simulator keep it.
BASE_PRIORITY = os.getpriority(os.PRIO_PROCESS, 0)


def _normal_priority() -> None:
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, BASE_PRIORITY)


class Child:
    """A ``python run.py …`` process whose first stdout line names its address."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.out_path = folder / f"{name}.out"
        self.err_path = folder / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "run.py"), *args],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=err,
                preexec_fn=_normal_priority,
            )

    def address(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"http://[^\s/]+", self.out_path.read_text(errors="replace"))
            if found:
                return found.group(0)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        tail = self.err_path.read_text(errors="replace")[-2000:]
        raise SystemExit(f"{self.name} did not start:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Phase:
    name: str
    wall: float = 0.0
    progress_ms: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    delays_ms: list[float] = field(default_factory=list)
    messages: int = 0
    polls: int = 0
    errors: int = 0


def settings_for(kind: str, folder: Path, tag: str) -> tuple[Settings, dict[str, str]]:
    env = {"SYNC_WORKERS": "8", "SYNC_BACKOFF": "0", "LOG_LEVEL": "warning"}
    if kind == "sqlite":
        env |= {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(folder / f"{tag}.sqlite")}
    else:
        env |= {
            "DB_CONNECTION": "mysql",
            "DB_DATABASE": f"syncpay_web_bench_{tag}",
            "DB_HOST": os.environ.get("DB_HOST", "127.0.0.1"),
            "DB_PORT": os.environ.get("DB_PORT", "3306"),
            "DB_USERNAME": os.environ.get("DB_USERNAME", "root"),
            "DB_PASSWORD": os.environ.get("DB_PASSWORD", ""),
        }
    return load_settings(env, environ={}, env_file=None), env


async def prepare(settings: Settings, students: int) -> tuple[Database, str]:
    """A fresh database with the demo roster and an admin token; the bench's connection."""
    drop_database(settings)
    db = await connect(settings, create=True)
    await migrate(db, tables_for(settings))
    roster = demo_students(students)
    report = await import_rows(db, enumerate(roster, start=2))
    assert not report.invalid, report.invalid
    accounts = Accounts(db)
    await accounts.create_user("bench", PASSWORD, "admin")
    token = await accounts.create_token("bench", "admin")
    db.queries.update(parse_queries(RUN_QUERY, db.placeholder, {"jobs": "jobs"}))
    return db, token


async def login(session: aiohttp.ClientSession, url: str) -> None:
    async with session.get(f"{url}/login") as r:
        found = re.search(r'name="_token" value="([^"]+)"', await r.text())
        assert found, "no CSRF token on the login page"
    form = {"_token": found.group(1), "username": "bench", "password": PASSWORD}
    async with session.post(f"{url}/login", data=form, allow_redirects=False) as r:
        assert r.status == 302, await r.text()


async def tight_poller(
    db: Database, run_id: int, seen: dict[int, float], done: asyncio.Event, every: float
) -> None:
    """The instant each value of ``processed`` is first seen in the database."""
    last = 0
    while True:
        row = await db.fetch_one("bench_run", {"id": run_id})
        now = time.monotonic()
        assert row is not None
        processed = int(row["processed"])
        for value in range(last + 1, processed + 1):
            seen[value] = now
        last = max(last, processed)
        if row["status"] != "running":
            done.set()
            return
        await asyncio.sleep(every)


async def poller(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    phase: Phase,
    done: asyncio.Event,
) -> None:
    """One page polling ``progress`` every 500 ms, following the log as the page does."""
    await asyncio.sleep(random.random() * 0.5)
    after = 0
    while not done.is_set():
        started = time.monotonic()
        try:
            async with session.get(f"{url}{BASE}/progress?after_log={after}", headers=headers) as r:
                body = await r.json()
                ok = r.status == 200
        except aiohttp.ClientError:
            ok = False
        elapsed = time.monotonic() - started
        if ok:
            phase.progress_ms.append(elapsed * 1000)
            phase.polls += 1
            if body["logs"]:
                after = max(after, max(line["id"] for line in body["logs"]))
        else:
            phase.errors += 1
        await asyncio.sleep(max(0.0, 0.5 - elapsed))


async def socket(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    received: list[tuple[float, int | None, int]],
    ready: asyncio.Event,
    done: asyncio.Event,
) -> None:
    """One page's WebSocket: (arrival, run, processed) of every progress message."""
    async with session.ws_connect(
        url.replace("http", "ws", 1) + BASE + "/ws", headers=headers
    ) as ws:
        ready.set()
        while True:
            try:
                message = await ws.receive(timeout=0.5)
            except TimeoutError:
                if done.is_set():
                    return
                continue
            if message.type != aiohttp.WSMsgType.TEXT:
                return
            body = message.json()
            received.append((time.monotonic(), body["run_id"], int(body["processed"])))
            if done.is_set() and body["status"] != "running":
                return


def delays(
    seen: dict[int, float], messages: list[tuple[float, int | None, int]], run_id: int
) -> list[float]:
    """For each processed value: first message showing it (or more) − first seen in the db."""
    mine = [(at, processed) for at, run, processed in messages if run == run_id]
    counts = [processed for _, processed in mine]
    found = []
    for value, at in seen.items():
        index = bisect.bisect_left(counts, value)
        if index < len(mine):
            found.append((mine[index][0] - at) * 1000)
    return found


async def phase_run(
    args: argparse.Namespace, folder: Path, sim_url: str, name: str, watched: bool
) -> Phase:
    phase = Phase(name)
    settings, env = settings_for(args.db, folder, name.replace(" ", "_"))
    db, token = await prepare(settings, args.students)
    env = os.environ | env | {"PAYMENT_API_URL": f"{sim_url}/payments/{{idperson}}"}
    server = Child(f"serve-{name}", ["-q", "serve", "--port", "0", "--workers", "8"], env, folder)
    try:
        url = server.address()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as session:
            # The pages poll with a login session (as a browser does); one for all of them.
            await login(session, url)
            headers: dict[str, str] = {}
            done = asyncio.Event()
            tasks: list[asyncio.Task[Any]] = []
            streams: list[list[tuple[float, int | None, int]]] = []
            if watched:
                readies = []
                for _ in range(args.sockets):
                    received: list[tuple[float, int | None, int]] = []
                    streams.append(received)
                    ready = asyncio.Event()
                    readies.append(ready)
                    tasks.append(
                        asyncio.create_task(socket(session, url, headers, received, ready, done))
                    )
                for ready in readies:
                    await asyncio.wait_for(ready.wait(), 30)
                for _ in range(args.pollers):
                    tasks.append(asyncio.create_task(poller(session, url, headers, phase, done)))
                await asyncio.sleep(1.0)  # everybody connected and polling
            else:
                # One page polling, for the latency of an otherwise unwatched server.
                tasks.append(asyncio.create_task(poller(session, url, headers, phase, done)))
            seen: dict[int, float] = {}
            cpu_before = cpu_seconds(server.proc.pid)
            started = time.monotonic()
            bearer = {"Authorization": f"Bearer {token}"}
            async with session.post(f"{url}{BASE}/start", json={}, headers=bearer) as r:
                body = await r.json()
                assert r.status == 200, body
            run_id = int(body["run_id"])
            await tight_poller(db, run_id, seen, done, args.every)
            phase.wall = time.monotonic() - started
            phase.server_cpu = cpu_seconds(server.proc.pid) - cpu_before
            if tasks:
                await asyncio.wait(tasks, timeout=5)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for received in streams:
                phase.messages += sum(1 for _, run, _ in received if run == run_id)
                phase.delays_ms.extend(delays(seen, received, run_id))
    finally:
        server.stop()
        await db.close()
        drop_database(settings)
    return phase


def drop_database(settings: Settings) -> None:
    """A phase's MariaDB database, dropped before and after it (SQLite: a temp folder)."""
    if settings.db_connection != "mysql":
        return
    import pymysql

    conn = pymysql.connect(
        host=settings.db_host,
        port=int(settings.db_port),
        user=settings.db_username,
        password=settings.db_password,
        autocommit=True,
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{settings.db_database}`")
    finally:
        conn.close()


def report(args: argparse.Namespace, quiet: list[Phase], watched: list[Phase]) -> None:
    n, latency = args.students, args.latency
    print()
    print(
        f"N = {n:,} students, {latency * 1000:g} ms latency, 8 workers, {args.db}; "
        f"watched = {args.pollers} pollers (500 ms) + {args.sockets} WebSockets"
        + (f"; clients at nice {args.nice}" if args.nice else "")
    )
    for q, w in zip(quiet, watched, strict=True):
        print(
            f"  round: quiet {q.wall:.2f} s (server CPU {q.server_cpu:.1f} s), "
            f"watched {w.wall:.2f} s (server CPU {w.server_cpu:.1f} s), "
            f"ratio {w.wall / q.wall:.3f}×"
        )
    q_wall = statistics.median(p.wall for p in quiet)
    w_wall = statistics.median(p.wall for p in watched)
    q_cpu = statistics.median(p.server_cpu for p in quiet)
    w_cpu = statistics.median(p.server_cpu for p in watched)
    alone = [ms for p in quiet for ms in p.progress_ms]
    progress = [ms for p in watched for ms in p.progress_ms]
    delay = [ms for p in watched for ms in p.delays_ms]
    polls = sum(p.polls for p in watched)
    errors = sum(p.errors for p in watched)
    messages = sum(p.messages for p in watched)
    sockets = args.sockets * len(watched)
    print("| | measured | target |")
    print("|---|---|---|")
    print(f"| run wall time, quiet (1 poller) | {q_wall:.2f} s | |")
    print(f"| run wall time, watched | {w_wall:.2f} s | |")
    print(f"| **watched / quiet** | **{w_wall / q_wall:.3f}×** | ≤ 1.05× |")
    print(f"| server CPU, quiet → watched | {q_cpu:.1f} s → {w_cpu:.1f} s | |")
    print(
        f"| progress latency p50 / p99, 1 poller (quiet) | "
        f"{percentile(alone, 50):.1f} / {percentile(alone, 99):.1f} ms | |"
    )
    print(
        f"| progress latency p50 / p99, {args.pollers} pollers ({polls:,} polls, "
        f"{errors} errors) | {percentile(progress, 50):.1f} / {percentile(progress, 99):.1f} ms"
        " | p99 < 20 ms |"
    )
    print(
        f"| WebSocket delay p50 / p99 ({len(delay):,} value×socket pairs) | "
        f"{percentile(delay, 50):.0f} / {percentile(delay, 99):.0f} ms | p99 < 250 ms |"
    )
    per_socket = messages / max(1, sockets) / max(0.001, w_wall)
    print(f"| WebSocket messages per socket per second | {per_socket:.1f} | ≤ ~10 |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--every", type=float, default=0.005, help="tight poller interval (s)")
    parser.add_argument(
        "--nice", type=int, default=0, help="lower this process's priority (the clients) by N"
    )
    args = parser.parse_args()
    if args.nice:
        os.nice(args.nice)
    with tempfile.TemporaryDirectory(prefix="syncpay-web-bench-") as tmp:
        folder = Path(tmp)
        sim = Child(
            "simulator",
            ["simulator", "--port", "0", "--latency", str(args.latency)],
            os.environ | {"LOG_LEVEL": "warning"},
            folder,
        )
        try:
            sim_url = sim.address()
            quiet: list[Phase] = []
            watched: list[Phase] = []
            for number in range(args.rounds):
                order = (False, True) if number % 2 == 0 else (True, False)
                for is_watched in order:
                    name = f"{'watched' if is_watched else 'quiet'}{number}"
                    print(f"{name}…", flush=True)
                    result = await phase_run(args, folder, sim_url, name, is_watched)
                    (watched if is_watched else quiet).append(result)
                    print(f"  {result.wall:.2f} s", flush=True)
            report(args, quiet, watched)
        finally:
            with contextlib.suppress(Exception):
                sim.stop()


if __name__ == "__main__":
    asyncio.run(main())
