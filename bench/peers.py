"""Against other queues: syncpay's queue beside huey, saq, arq and procrastinate.

    python bench/peers.py                          # --jobs 5000 --rounds 3 --workers 8
    python bench/peers.py --only huey,syncpay-sqlite --jobs 300 --rounds 1

Three figures per contender, each measured the same way for all of them:

- wall: ``--jobs`` jobs, each GETs one answer of the fake finance API (``python -m
  syncpay simulator --latency L``, a process of its own) and writes it into its row of a
  SQLite table of this bench (stdlib ``sqlite3``, WAL, ``synchronous=NORMAL``, one
  connection per process behind a lock, one commit per job), ``--workers`` at a time.
  The worker runs in a process of its own, started by this bench and idle (it has run
  one job); the clock starts before the first push (from this process) and stops at the
  last job's row write (the time the job writes). The plain asyncio loop does the same
  GET and write with no queue (one aiohttp session, a semaphore of ``--workers``); its
  clock starts when it is told to go. ``--rounds`` pairs (plain loop, contender), in
  alternating order; the figure is the contender's wall over the plain loop's of the
  same pair.
- time to the first job done: the worker is idle (2–2.5 s since its last job), this
  process pushes ONE job, and the job writes the time it ran; ``--pushes`` times,
  median and p90.
- no-op drain: ``--jobs`` no-op jobs pushed while no worker runs; then a worker starts
  and the time from just before its library's run call to the last no-op job's end
  (the job counts itself) gives jobs/s.

The worker CPU per job is read from /proc/PID/stat around the wall workload (the no-op
drain's from the worker's own ``time.process_time()``). Redis keys and the databases this
bench makes (``syncpay_peers`` in PostgreSQL and MariaDB) are removed at the end. A
contender whose package or service is missing is reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import importlib.util
import json
import logging
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHILD_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
DATABASE = "syncpay_peers"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname={db}"
MYSQL_URL = f"mysql://root@127.0.0.1:3306/{DATABASE}"

SCHEMA = (
    "CREATE TABLE rows (id INTEGER PRIMARY KEY, idperson TEXT NOT NULL, body TEXT,"
    " n INTEGER NOT NULL DEFAULT 0, done REAL, inflight INTEGER)",
    "CREATE TABLE marks (tag TEXT NOT NULL, t REAL NOT NULL, cpu REAL NOT NULL)",
    "CREATE INDEX marks_tag ON marks (tag)",
)


# --------------------------------------------------------------------------- the jobs


def open_sqlite(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class Work:
    """What every contender's jobs do, in the worker's process: ``fetch`` (GET one
    answer, write it into its row), ``mark`` (write the time) and ``noop`` (count)."""

    def __init__(self, db_path: str, api: str, drain: int = 0, run: str = "") -> None:
        self.db_path = db_path
        self.api = api
        self.drain = drain
        self.run = run
        self.lock = threading.Lock()
        self.conn: sqlite3.Connection | None = None
        self.count = 0
        self.inflight = 0
        self.http = threading.local()

    def db(self) -> sqlite3.Connection:
        if self.conn is None:
            self.conn = open_sqlite(self.db_path)
        return self.conn

    def store(self, row_id: int, body: str) -> None:
        with self.lock:
            db = self.db()
            db.execute(
                "UPDATE rows SET body = ?, n = n + 1, done = ?, inflight = ? WHERE id = ?",
                (body, time.time(), self.inflight, row_id),
            )
            db.commit()

    def mark(self, tag: str) -> None:
        with self.lock:
            db = self.db()
            db.execute(
                "INSERT INTO marks (tag, t, cpu) VALUES (?, ?, ?)",
                (tag, time.time(), time.process_time()),
            )
            db.commit()

    def noop(self) -> None:
        with self.lock:
            self.count += 1
            last = self.count == self.drain
        if last:
            self.mark(f"drained:{self.run}")

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Counts the jobs of this process in flight (``rows.inflight``: at most ``-w``)."""
        with self.lock:
            self.inflight += 1
        try:
            yield
        finally:
            with self.lock:
                self.inflight -= 1

    async def fetch(self, session: Any, row_id: int, idperson: str) -> None:
        with self.running():
            async with session.get(self.api + quote(idperson, safe="")) as response:
                response.raise_for_status()
                body = await response.text()
            self.store(row_id, body)

    def fetch_sync(self, row_id: int, idperson: str) -> None:
        """The same for a thread: a keep-alive ``http.client`` connection per thread."""
        with self.running():
            self.fetch_sync_inner(row_id, idperson)

    def fetch_sync_inner(self, row_id: int, idperson: str) -> None:
        parts = urlsplit(self.api)
        path = parts.path + quote(idperson, safe="")
        for attempt in (1, 2):
            conn = getattr(self.http, "conn", None)
            if conn is None:
                conn = self.http.conn = http.client.HTTPConnection(parts.netloc, timeout=30)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read().decode()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                self.http.conn = None
                if attempt == 2:
                    raise
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        self.store(row_id, body)


def http_session(workers: int) -> Any:
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers))


# --------------------------------------------------------------------------- contenders


class Peer:
    """One contender: its client (pushes, in the bench's process) and its worker (in a
    process of its own: ``python bench/peers.py --role worker``)."""

    name = ""
    label = ""
    packages: tuple[str, ...] = ()
    setup_note = ""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.prefix: str = cfg["prefix"]

    def missing(self) -> str | None:
        for package in self.packages:
            try:
                found = importlib.util.find_spec(package) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return f"package {package!r} is not installed (pip install -e '.[bench]')"
        return None

    async def setup(self) -> None:
        """Make the storage, open the client."""

    async def push_fetch(self, items: list[tuple[int, str]]) -> None:
        raise NotImplementedError

    async def push_mark(self, tag: str) -> None:
        raise NotImplementedError

    async def push_noops(self, n: int) -> None:
        raise NotImplementedError

    async def teardown(self) -> None:
        """Close the client, remove what ``setup`` made."""

    def serve(self, work: Work) -> None:
        """Run the worker until SIGTERM (in the worker's process)."""
        asyncio.run(self.serve_async(work))

    async def serve_async(self, work: Work) -> None:
        raise NotImplementedError


def port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


async def delete_redis_keys(patterns: list[str]) -> int:
    """Delete this run's keys (SCAN MATCH each pattern; never FLUSHALL)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    deleted = 0
    try:
        for pattern in patterns:
            keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(keys), 1000):
                deleted += await client.delete(*keys[start : start + 1000])
    finally:
        await client.aclose()
    return deleted


class HueyPeer(Peer):
    name = "huey"
    label = "huey (SQLite)"
    packages = ("huey",)
    setup_note = (
        "SqliteHuey, its consumer with worker_type='thread', workers=N; default polling "
        "(0.1 s, x1.15 when idle, at most 10 s); the job's GET by http.client "
        "(keep-alive, one connection per thread)"
    )

    def app(self, work: Work) -> tuple[Any, dict[str, Any]]:
        from huey import SqliteHuey

        huey = SqliteHuey(name=self.prefix, filename=os.path.join(self.cfg["folder"], "huey.db"))

        def fetch(row_id: int, idperson: str) -> None:
            work.fetch_sync(row_id, idperson)

        def mark(tag: str) -> None:
            work.mark(tag)

        def noop(seq: int) -> None:
            work.noop()

        tasks = {f.__name__: huey.task(name=f.__name__)(f) for f in (fetch, mark, noop)}
        return huey, tasks

    async def setup(self) -> None:
        self.huey, self.tasks = self.app(Work(self.cfg["db"], self.cfg["api"]))

    async def push_fetch(self, items: list[tuple[int, str]]) -> None:
        for row_id, idperson in items:
            self.tasks["fetch"](row_id, idperson)

    async def push_mark(self, tag: str) -> None:
        self.tasks["mark"](tag)

    async def push_noops(self, n: int) -> None:
        for seq in range(n):
            self.tasks["noop"](seq)

    def serve(self, work: Work) -> None:
        huey, _tasks = self.app(work)
        consumer = huey.create_consumer(workers=self.cfg["workers"], worker_type="thread")
        work.mark(f"start:{work.run}")
        consumer.run()


class SaqPeer(Peer):
    name = "saq"
    label = "saq (Redis)"
    packages = ("saq", "redis")
    setup_note = "saq.Worker(concurrency=N), Redis queue (BLMOVE wait), defaults otherwise"

    def queue(self) -> Any:
        from saq import Queue

        return Queue.from_url(REDIS_URL, name=self.prefix)

    async def setup(self) -> None:
        if not port_open(REDIS_HOST, REDIS_PORT):
            raise RuntimeError(f"no Redis at {REDIS_HOST}:{REDIS_PORT}")
        self.q = self.queue()
        await self.q.connect()

    async def push_fetch(self, items: list[tuple[int, str]]) -> None:
        for row_id, idperson in items:
            await self.q.enqueue("fetch", row_id=row_id, idperson=idperson)

    async def push_mark(self, tag: str) -> None:
        await self.q.enqueue("mark", tag=tag)

    async def push_noops(self, n: int) -> None:
        for seq in range(n):
            await self.q.enqueue("noop", seq=seq)

    async def teardown(self) -> None:
        with contextlib.suppress(AttributeError):
            await self.q.disconnect()
        await delete_redis_keys([f"saq:{self.prefix}:*", f"saq:job:{self.prefix}:*"])

    async def serve_async(self, work: Work) -> None:
        from saq import Worker

        queue = self.queue()
        async with http_session(self.cfg["workers"]) as session:

            async def fetch(ctx: Any, *, row_id: int, idperson: str) -> None:
                await work.fetch(session, row_id, idperson)

            async def mark(ctx: Any, *, tag: str) -> None:
                work.mark(tag)

            async def noop(ctx: Any, *, seq: int) -> None:
                work.noop()

            functions = [("fetch", fetch), ("mark", mark), ("noop", noop)]
            worker = Worker(queue, functions, concurrency=self.cfg["workers"])
            await queue.connect()
            work.mark(f"start:{work.run}")
            try:
                await worker.start()
            finally:
                await queue.disconnect()


class ArqPeer(Peer):
    name = "arq"
    label = "arq (Redis, poll 10 ms)"
    packages = ("arq", "redis")
    setup_note = "arq.Worker(max_jobs=N, poll_delay=0.01), defaults otherwise"

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.queue_name = f"{self.prefix}:arq"
        self.pushed = 0

    def redis_settings(self) -> Any:
        from arq.connections import RedisSettings

        return RedisSettings(host=REDIS_HOST, port=REDIS_PORT)

    async def setup(self) -> None:
        from arq import create_pool

        if not port_open(REDIS_HOST, REDIS_PORT):
            raise RuntimeError(f"no Redis at {REDIS_HOST}:{REDIS_PORT}")
        self.pool = await create_pool(self.redis_settings(), default_queue_name=self.queue_name)

    def job_id(self) -> str:
        """A job id of this run: arq's job keys are ``arq:job:<id>`` whatever the queue."""
        self.pushed += 1
        return f"{self.prefix}-{self.pushed}"

    async def push_fetch(self, items: list[tuple[int, str]]) -> None:
        for row_id, idperson in items:
            await self.pool.enqueue_job("fetch", row_id, idperson, _job_id=self.job_id())

    async def push_mark(self, tag: str) -> None:
        await self.pool.enqueue_job("mark", tag, _job_id=self.job_id())

    async def push_noops(self, n: int) -> None:
        for seq in range(n):
            await self.pool.enqueue_job("noop", seq, _job_id=self.job_id())

    async def teardown(self) -> None:
        with contextlib.suppress(AttributeError):
            await self.pool.aclose()
        await delete_redis_keys([f"{self.queue_name}*", f"arq:*:{self.prefix}-*"])

    async def serve_async(self, work: Work) -> None:
        from arq.worker import Worker, func

        async with http_session(self.cfg["workers"]) as session:

            async def fetch(ctx: Any, row_id: int, idperson: str) -> None:
                await work.fetch(session, row_id, idperson)

            async def mark(ctx: Any, tag: str) -> None:
                work.mark(tag)

            async def noop(ctx: Any, seq: int) -> None:
                work.noop()

            worker = Worker(
                functions=[func(f, name=f.__name__) for f in (fetch, mark, noop)],
                redis_settings=self.redis_settings(),
                queue_name=self.queue_name,
                poll_delay=0.01,
                max_jobs=self.cfg["workers"],
            )
            work.mark(f"start:{work.run}")
            try:
                await worker.async_run()
            except asyncio.CancelledError:
                pass  # SIGTERM: arq cancels its main task
            finally:
                await worker.close()


def not_in_main_warning(record: logging.LogRecord) -> bool:
    return getattr(record, "action", None) != "app_defined_in___main__"


class ProcrastinatePeer(Peer):
    name = "procrastinate"
    label = "procrastinate (PostgreSQL)"
    packages = ("procrastinate", "psycopg")
    setup_note = (
        "app.run_worker_async(concurrency=N), LISTEN/NOTIFY on (polling fallback 5 s), "
        "done jobs kept (delete_jobs: never), PsycopgConnector(max_size=N+2): the pool's "
        "default of 4 connections is fewer than N slots plus the listener"
    )

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__(cfg)
        self.box: dict[str, Any] = {}  # the worker's aiohttp session

    def app(self, work: Work) -> tuple[Any, dict[str, Any]]:
        import procrastinate

        # Its warning that the app is made in ``__main__`` is about finding tasks by
        # their import path; these are found by name, in both processes.
        logging.getLogger("procrastinate.blueprints").addFilter(not_in_main_warning)
        connector = procrastinate.PsycopgConnector(
            conninfo=PG_DSN.format(db=DATABASE), max_size=self.cfg["workers"] + 2
        )
        app = procrastinate.App(connector=connector)
        box = self.box

        async def fetch(row_id: int, idperson: str) -> None:
            await work.fetch(box["session"], row_id, idperson)

        async def mark(tag: str) -> None:
            work.mark(tag)

        async def noop(seq: int) -> None:
            work.noop()

        tasks = {
            f.__name__: app.task(name=f.__name__, queue=self.prefix)(f) for f in (fetch, mark, noop)
        }
        return app, tasks

    async def admin(self, sql: str) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(PG_DSN.format(db="postgres"), autocommit=True)
        async with conn:
            await conn.execute(sql)

    async def setup(self) -> None:
        await self.admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await self.admin(f"CREATE DATABASE {DATABASE}")
        self.client, self.tasks = self.app(Work(self.cfg["db"], self.cfg["api"]))
        await self.client.open_async()
        await self.client.schema_manager.apply_schema_async()

    async def push_fetch(self, items: list[tuple[int, str]]) -> None:
        rows = [{"row_id": row_id, "idperson": idperson} for row_id, idperson in items]
        await self.tasks["fetch"].batch_defer_async(*rows)

    async def push_mark(self, tag: str) -> None:
        await self.tasks["mark"].defer_async(tag=tag)

    async def push_noops(self, n: int) -> None:
        await self.tasks["noop"].batch_defer_async(*({"seq": seq} for seq in range(n)))

    async def teardown(self) -> None:
        with contextlib.suppress(AttributeError):
            await self.client.close_async()
        await self.admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")

    async def serve_async(self, work: Work) -> None:
        app, _tasks = self.app(work)
        async with http_session(self.cfg["workers"]) as session, app.open_async():
            self.box["session"] = session
            work.mark(f"start:{work.run}")
            await app.run_worker_async(queues=[self.prefix], concurrency=self.cfg["workers"])


class SyncpayPeer(Peer):
    """syncpay's queue the documented way (docs/queue.md, "Using the queue on its own")."""

    packages = ()
    setup_note = (
        "open_queue(URL, queue=...).run_worker(concurrency=N), defaults otherwise "
        "(sleep 3 s; an idle pool looks for other processes' pushes every {watch})"
    )

    def __init__(self, cfg: dict[str, Any], kind: str) -> None:
        super().__init__(cfg)
        self.kind = kind
        self.name = f"syncpay-{kind}"
        if kind == "sqlite":
            self.label = "syncpay queue, SQLite"
            self.url = "sqlite:///" + os.path.join(cfg["folder"], "syncpay-queue.sqlite")
            self.setup_note = self.setup_note.format(watch="0.05 s") + "; its own SQLite file"
        else:
            self.label = "syncpay queue, MariaDB"
            self.url = MYSQL_URL
            self.setup_note = self.setup_note.format(watch="0.1 s") + f"; database {DATABASE}"

    async def drop_database(self) -> None:
        import aiomysql

        conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="")
        try:
            async with conn.cursor() as cursor:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the database may not exist
                    await cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        finally:
            conn.close()

    async def setup(self) -> None:
        from syncpay.queue import open_queue

        if self.kind == "mariadb":
            await self.drop_database()
        self.q = await open_queue(self.url, queue=self.prefix)

    async def push_fetch(self, items: list[tuple[int, str]]) -> None:
        rows = ({"row_id": row_id, "idperson": idperson} for row_id, idperson in items)
        await self.q.push_many("fetch", rows)

    async def push_mark(self, tag: str) -> None:
        await self.q.push("mark", {"tag": tag})

    async def push_noops(self, n: int) -> None:
        await self.q.push_many("noop", ({"seq": seq} for seq in range(n)))

    async def teardown(self) -> None:
        with contextlib.suppress(AttributeError):
            await self.q.close()
        if self.kind == "mariadb":
            await self.drop_database()

    async def serve_async(self, work: Work) -> None:
        from syncpay.queue import JobContext, open_queue

        async with (
            await open_queue(self.url, queue=self.prefix) as q,
            http_session(self.cfg["workers"]) as session,
        ):

            @q.job("fetch")
            async def fetch(job: JobContext) -> None:
                await work.fetch(session, job.data["row_id"], job.data["idperson"])

            @q.job("mark")
            async def mark(job: JobContext) -> None:
                work.mark(job.data["tag"])

            @q.job("noop")
            async def noop(job: JobContext) -> None:
                work.noop()

            work.mark(f"start:{work.run}")
            await q.run_worker(concurrency=self.cfg["workers"])


def make_peers(cfg: dict[str, Any]) -> list[Peer]:
    return [
        HueyPeer(cfg),
        SaqPeer(cfg),
        ArqPeer(cfg),
        ProcrastinatePeer(cfg),
        SyncpayPeer(cfg, "sqlite"),
        SyncpayPeer(cfg, "mariadb"),
    ]


NAMES = tuple(p.name for p in make_peers({"prefix": "", "folder": "", "workers": 8}))


# --------------------------------------------------------------------------- child processes


def worker_main(cfg: dict[str, Any]) -> int:
    """``--role worker``: one contender's worker, until SIGTERM."""
    peer = next(p for p in make_peers(cfg) if p.name == cfg["peer"])
    work = Work(cfg["db"], cfg["api"], drain=cfg.get("drain", 0), run=cfg["run"])
    peer.serve(work)
    return 0


async def plain_loop(cfg: dict[str, Any]) -> None:
    """``--role plain``: no queue; one aiohttp session, a semaphore of ``workers``."""
    work = Work(cfg["db"], cfg["api"])
    rows = work.db().execute("SELECT id, idperson FROM rows ORDER BY id").fetchall()
    gate = asyncio.Semaphore(cfg["workers"])
    loop = asyncio.get_running_loop()
    async with http_session(cfg["workers"]) as session:

        async def one(row_id: int, idperson: str) -> None:
            async with gate:
                await work.fetch(session, row_id, idperson)

        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # "go"
        await asyncio.gather(*(one(row_id, idperson) for row_id, idperson in rows))
    print("done", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # the bench has read our CPU


# --------------------------------------------------------------------------- measuring


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (every thread), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


@dataclass
class Wall:
    seconds: float
    cpu_per_job: float
    peak: int
    push: float = 0.0  # seconds the pushes took (the plain loop: 0)


@dataclass
class Pair:
    plain: Wall
    peer: Wall
    plain_first: bool

    @property
    def ratio(self) -> float:
        return self.peer.seconds / self.plain.seconds


@dataclass
class Outcome:
    peer: Peer
    pairs: list[Pair] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    drain_rate: float | None = None
    drain_cpu: float | None = None
    skipped: str | None = None
    errors: list[str] = field(default_factory=list)


class ChildFailed(RuntimeError):
    pass


class Bench:
    def __init__(self, args: argparse.Namespace, folder: str, api: str) -> None:
        self.args = args
        self.folder = folder
        self.api = api
        self.db_path = os.path.join(folder, "work.sqlite")
        self.prefix = f"{DATABASE}_{os.getpid()}"
        self.runs = 0
        self.reader: sqlite3.Connection | None = None

    def cfg(self, **extra: Any) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "folder": self.folder,
            "db": self.db_path,
            "api": self.api,
            "workers": self.args.workers,
            **extra,
        }

    # the work table

    def make_rows(self, idpersons: list[str]) -> None:
        conn = open_sqlite(self.db_path)
        for statement in SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO rows (id, idperson) VALUES (?, ?)", enumerate(idpersons, start=1)
        )
        conn.commit()
        conn.close()
        self.reader = open_sqlite(self.db_path)
        self.items = list(enumerate(idpersons, start=1))

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        assert self.reader is not None
        rows = self.reader.execute(sql, params).fetchall()
        self.reader.commit()  # end the read: the next one sees new writes
        return rows

    def reset_rows(self) -> None:
        assert self.reader is not None
        self.reader.execute("UPDATE rows SET body = NULL, n = 0, done = NULL, inflight = NULL")
        self.reader.commit()
        self.reader.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # child processes

    def spawn(self, role: str, cfg: dict[str, Any], name: str) -> subprocess.Popen[str]:
        log = open(os.path.join(self.folder, f"{name}.log"), "a", encoding="utf-8")
        command = [sys.executable, str(Path(__file__).resolve()), "--role", role]
        command += ["--config", json.dumps(cfg)]
        with log:
            return subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE if role == "plain" else log,
                stderr=log,
                env=CHILD_ENV,
                cwd=self.folder,
                text=True,
            )

    def log_tail(self, name: str) -> str:
        path = os.path.join(self.folder, f"{name}.log")
        lines = Path(path).read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else "(no output)"

    def check_alive(self, proc: subprocess.Popen[str], name: str) -> None:
        if proc.poll() is not None:
            raise ChildFailed(f"{name} exited {proc.returncode}: {self.log_tail(name)}")

    @staticmethod
    def stop(proc: subprocess.Popen[str]) -> None:
        end(proc, 30)
        if proc.stdin:
            proc.stdin.close()
        if proc.stdout:
            proc.stdout.close()

    def start_worker(self, peer: Peer, drain: int = 0) -> tuple[subprocess.Popen[str], str]:
        self.runs += 1
        run = f"{peer.name}-{self.runs}"
        cfg = self.cfg(peer=peer.name, run=run, drain=drain)
        return self.spawn("worker", cfg, peer.name), run

    async def wait_mark(
        self, tag: str, proc: subprocess.Popen[str], name: str, timeout: float
    ) -> tuple[float, float]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.query("SELECT t, cpu FROM marks WHERE tag = ?", tag)
            if found:
                return float(found[0][0]), float(found[0][1])
            self.check_alive(proc, name)
            if time.monotonic() > deadline:
                raise ChildFailed(f"{name}: no {tag!r} after {timeout:g} s")
            await asyncio.sleep(0.005)

    async def ready(self, peer: Peer, proc: subprocess.Popen[str], run: str) -> None:
        """The worker has run one job: it is up, connected and idle."""
        await peer.push_mark(f"ready:{run}")
        await self.wait_mark(f"ready:{run}", proc, peer.name, timeout=120)

    async def wait_rows(self, proc: subprocess.Popen[str], name: str) -> tuple[float, int]:
        n = len(self.items)
        floor = n * self.args.latency / self.args.workers
        deadline = time.monotonic() + 60 + 10 * floor
        while True:
            done, last, peak = self.query("SELECT count(done), max(done), max(inflight) FROM rows")[
                0
            ]
            if done == n:
                return float(last), int(peak)
            self.check_alive(proc, name)
            if time.monotonic() > deadline:
                raise ChildFailed(f"{name}: only {done} of {n} jobs done in time")
            await asyncio.sleep(0.1)

    def check_rows(self, name: str) -> None:
        twice = self.query("SELECT count(*) FROM rows WHERE n != 1")[0][0]
        if twice:
            print(f"  note: {name}: {twice} rows not written exactly once", flush=True)

    # the three measurements

    async def wall_plain(self) -> Wall:
        self.reset_rows()
        proc = self.spawn("plain", self.cfg(), "plain")
        assert proc.stdin is not None and proc.stdout is not None
        try:
            line = await asyncio.to_thread(proc.stdout.readline)
            if line.strip() != "ready":
                self.check_alive(proc, "plain")
                raise ChildFailed(f"plain loop said {line!r}")
            cpu0 = cpu_seconds(proc.pid)
            started = time.time()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            last, peak = await self.wait_rows(proc, "plain")
            cpu1 = cpu_seconds(proc.pid)
        finally:
            self.stop(proc)
        self.check_rows("plain")
        return Wall(last - started, (cpu1 - cpu0) / len(self.items), peak)

    async def wall_peer(self, peer: Peer) -> Wall:
        self.reset_rows()
        proc, run = self.start_worker(peer)
        try:
            await self.ready(peer, proc, run)
            cpu0 = cpu_seconds(proc.pid)
            started = time.time()
            await peer.push_fetch(self.items)
            push = time.time() - started
            last, peak = await self.wait_rows(proc, peer.name)
            cpu1 = cpu_seconds(proc.pid)
        finally:
            self.stop(proc)
        self.check_rows(peer.name)
        return Wall(last - started, (cpu1 - cpu0) / len(self.items), peak, push)

    async def latency(self, peer: Peer) -> list[float]:
        proc, run = self.start_worker(peer)
        seconds = []
        try:
            await self.ready(peer, proc, run)
            for k in range(self.args.pushes):
                await asyncio.sleep(random.uniform(2.0, 2.5))
                tag = f"first:{run}:{k}"
                pushed = time.time()
                await peer.push_mark(tag)
                done, _cpu = await self.wait_mark(tag, proc, peer.name, timeout=60)
                seconds.append(done - pushed)
        finally:
            self.stop(proc)
        return seconds

    async def drain(self, peer: Peer) -> tuple[float, float]:
        n = self.args.jobs
        await peer.push_noops(n)
        proc, run = self.start_worker(peer, drain=n)
        try:
            start, cpu0 = await self.wait_mark(f"start:{run}", proc, peer.name, timeout=120)
            end, cpu1 = await self.wait_mark(f"drained:{run}", proc, peer.name, timeout=600)
        finally:
            self.stop(proc)
        return n / (end - start), (cpu1 - cpu0) / n

    async def pairs(self, outcome: Outcome) -> None:
        peer = outcome.peer
        for r in range(self.args.rounds):
            plain_first = r % 2 == 0
            if plain_first:
                plain = await self.wall_plain()
                theirs = await self.wall_peer(peer)
            else:
                theirs = await self.wall_peer(peer)
                plain = await self.wall_plain()
            pair = Pair(plain, theirs, plain_first)
            outcome.pairs.append(pair)
            order = "plain first" if plain_first else f"{peer.name} first"
            print(
                f"  pair {r + 1} ({order}): plain {plain.seconds:.2f} s"
                f" ({plain.cpu_per_job * 1000:.2f} ms CPU/job, {plain.peak} at a time),"
                f" {peer.name} {theirs.seconds:.2f} s ({theirs.cpu_per_job * 1000:.2f} ms"
                f" CPU/job, {theirs.peak} at a time, pushed in {theirs.push:.2f} s):"
                f" {pair.ratio:.3f}",
                flush=True,
            )

    async def contender(self, peer: Peer) -> Outcome:
        outcome = Outcome(peer)
        why = peer.missing()
        if why is None:
            try:
                await peer.setup()
            except Exception as exc:
                why = one_line(exc)
                with contextlib.suppress(Exception):
                    await peer.teardown()
        if why is not None:
            outcome.skipped = why
            print(f"{peer.label}: skipped: {why}", flush=True)
            return outcome
        print(f"{peer.label}: {peer.setup_note.replace('=N', f'={self.args.workers}')}")
        try:
            await self.measure(outcome)
        finally:
            try:
                await peer.teardown()
            except Exception as exc:
                print(f"  cleanup failed: {one_line(exc)}", flush=True)
        return outcome

    async def measure(self, outcome: Outcome) -> None:
        steps = (("wall", self.pairs), ("first job", self.first_job), ("drain", self.drain_step))
        for what, step in steps:
            try:
                await step(outcome)
            except Exception as exc:
                outcome.errors.append(f"{what}: {one_line(exc)}")
                print(f"  error ({what}): {one_line(exc)}", flush=True)

    async def first_job(self, outcome: Outcome) -> None:
        seconds = await self.latency(outcome.peer)
        outcome.latencies = seconds
        print(
            f"  first job done after a push from this process: median"
            f" {statistics.median(seconds):.3f} s, p90 {p90(seconds):.3f} s,"
            f" max {max(seconds):.3f} s ({len(seconds)} pushes)",
            flush=True,
        )

    async def drain_step(self, outcome: Outcome) -> None:
        rate, cpu = await self.drain(outcome.peer)
        outcome.drain_rate, outcome.drain_cpu = rate, cpu
        print(
            f"  no-op drain of {self.args.jobs}: {rate:,.0f} jobs/s ({cpu * 1000:.2f} ms CPU/job)",
            flush=True,
        )


# --------------------------------------------------------------------------- the report


def end(proc: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM a process we started (by its pid), SIGKILL it after ``timeout`` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def span(values: list[float], fmt: str = "{:.2f}") -> str:
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}–{high}"


def table(outcomes: list[Outcome]) -> list[str]:
    plain = [pair.plain for o in outcomes for pair in o.pairs]
    lines = [
        "| | wall / plain asyncio loop (median, range) | time to the first job done"
        " (median, p90) | no-op drain, jobs/s | worker CPU per job (workload; no-op) |",
        "|---|---|---|---|---|",
    ]
    if plain:
        walls = [w.seconds for w in plain]
        cpu = statistics.median(w.cpu_per_job for w in plain) * 1000
        lines.append(
            f"| plain asyncio loop, no queue | 1.00 ({span(walls)} s) | — | — | {cpu:.2f} ms; — |"
        )
    for o in outcomes:
        if o.skipped is not None:
            lines.append(f"| {o.peer.label} | skipped: {o.skipped} | | | |")
            continue
        ratios = [p.ratio for p in o.pairs]
        wall = f"{statistics.median(ratios):.2f} ({span(ratios)})" if ratios else "error"
        first = (
            f"{statistics.median(o.latencies):.3f} s, p90 {p90(o.latencies):.3f} s"
            if o.latencies
            else "error"
        )
        drain = f"{o.drain_rate:,.0f}" if o.drain_rate else "error"
        cpu_wall = (
            f"{statistics.median(p.peer.cpu_per_job for p in o.pairs) * 1000:.2f} ms"
            if o.pairs
            else "—"
        )
        cpu_noop = f"{o.drain_cpu * 1000:.2f} ms" if o.drain_cpu is not None else "—"
        lines.append(f"| {o.peer.label} | {wall} | {first} | {drain} | {cpu_wall}; {cpu_noop} |")
    return lines


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def simulator(folder: str, port: int, latency: float) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "syncpay", "simulator", "--port", str(port)]
    command += ["--latency", str(latency), "--seed", "1"]
    with open(os.path.join(folder, "simulator.log"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=log, env=CHILD_ENV, cwd=folder
        )
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the simulator did not start: see {folder}/simulator.log")
            time.sleep(0.05)
        yield proc
    finally:
        end(proc, 10)


async def warm(api: str, idpersons: list[str]) -> None:
    """Ask the simulator for every answer once (it keeps what it made)."""
    gate = asyncio.Semaphore(32)
    async with http_session(32) as session:

        async def one(idperson: str) -> None:
            async with gate, session.get(api + quote(idperson, safe="")) as response:
                await response.read()

        await asyncio.gather(*(one(i) for i in idpersons))


def selected(only: str | None) -> list[str]:
    if not only:
        return list(NAMES)
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    if "syncpay" in wanted:
        wanted |= {"syncpay-sqlite", "syncpay-mariadb"}
        wanted.discard("syncpay")
    unknown = wanted - set(NAMES)
    if unknown:
        raise SystemExit(f"--only: unknown {sorted(unknown)}; known: {', '.join(NAMES)}")
    return [name for name in NAMES if name in wanted]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


async def run(args: argparse.Namespace, folder: str, port: int) -> list[Outcome]:
    from syncpay.simulator import demo_students

    api = f"http://127.0.0.1:{port}/payments/"
    idpersons = [s["idperson"] for s in demo_students(args.jobs, seed=1)]
    await warm(api, idpersons)
    bench = Bench(args, folder, api)
    bench.make_rows(idpersons)
    names = selected(args.only)
    outcomes = []
    for peer in make_peers(bench.cfg()):
        if peer.name in names:
            outcomes.append(await bench.contender(peer))
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per run (5000)")
    parser.add_argument("--rounds", type=int, default=3, help="pairs per contender (3)")
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(NAMES)} (syncpay: both)")
    parser.add_argument("--latency", type=float, default=0.02, help="the API's latency (0.02 s)")
    parser.add_argument("--workers", type=int, default=8, help="jobs at a time (8)")
    parser.add_argument("--pushes", type=int, default=20, help="single pushes timed (20)")
    parser.add_argument("--keep", action="store_true", help="keep the folder of the logs")
    parser.add_argument("--role", choices=("worker", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "worker":
        sys.path.insert(0, str(ROOT))
        return worker_main(json.loads(args.config))
    if args.role == "plain":
        asyncio.run(plain_loop(json.loads(args.config)))
        return 0
    sys.path.insert(0, str(ROOT))
    selected(args.only)
    floor = args.jobs * args.latency / args.workers
    print(f"{now()}, load average {load()}", flush=True)
    print(
        f"{args.jobs} jobs, {args.workers} at a time, API latency {args.latency:g} s:"
        f" floor N·L/C = {floor:.2f} s; {args.rounds} pairs per contender",
        flush=True,
    )
    folder = tempfile.mkdtemp(prefix="syncpay-peers-")
    load_before = load()
    try:
        port = free_port()
        with simulator(folder, port, args.latency):
            outcomes = asyncio.run(run(args, folder, port))
    finally:
        if args.keep:
            print(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print()
    print("\n".join(table(outcomes)))
    print()
    print(f"{now()}: load average {load_before} -> {load()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
