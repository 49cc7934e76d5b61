"""Issue #6, item 3: the database goes away mid-run.

* MariaDB stopped (SIGTERM to a private ``mariadbd``; and, a crash, SIGKILL) for a while
  and started again on the same data directory and port while a server process
  (``run.py --workers 8``)
  syncs simulator students: the server and its workers recover without a restart,
  ``/healthz`` answers 503 while the database is down and 200 after, and the run
  completes exactly.
* SQLite runs out of space (a small tmpfs filled up mid-run): one clear line in the
  log and on the page's log, no corrupted state, and the run completes once space
  returns.

Every figure is printed (``-s``) for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from syncpay.config import Settings, load_settings
from syncpay.db import Database, connect, migrate, tables_for
from syncpay.db.queries import parse_queries
from syncpay.service import SyncPay
from syncpay.simulator import Simulator, SimulatorOptions, demo_students
from syncpay.students import import_rows
from tests.reliability.conftest import scale
from tests.reliability.mariadb_instance import (
    Children,
    MariaDB,
    free_port,
    http_json,
    mariadb,
    mariadb_template,
    simulator_argv,
    wait_http,
)
from tests.sync_helpers import Monitor, items_of, rows, siswa_rows, stored_mismatches, teach, until

__all__ = ["mariadb", "mariadb_template"]  # fixtures, used by name

# Private mariadbd servers are stopped and started here, each on a free port of the
# moment: in a parallel run, a port one test's stopped server left free could be taken
# by another test's server holding a database of the same name. They run one at a time,
# on one test process (tests/run.sh: --dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("private-mariadb")]

SEED = 61
LATENCY = "0.02"


def figure(name: str, value: object) -> None:
    print(f"[figure] {name}: {value}", file=sys.stderr, flush=True)


def reference(seed: int) -> Simulator:
    """A simulator object that is never started: it predicts the answers (they depend only
    on the seed and the idperson) of the simulator process."""
    return Simulator(SimulatorOptions(seed=seed))


async def open_db(settings: Settings) -> Database:
    db = await connect(settings, create=True, retry_for=300.0)
    await migrate(db, tables_for(settings))
    return teach(db, settings.db_queue_table)


async def import_students(db: Database, n: int, seed: int) -> set[str]:
    roster = demo_students(n, seed)
    report = await import_rows(db, enumerate(roster, start=2))
    assert not report.invalid, report.invalid
    return {s["idperson"] for s in roster}


class HealthWatch:
    """``GET /healthz`` in a thread, over and over: every (seconds since start, status)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, int]] = []  # (seconds since t0, status)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.monotonic()

    def start(self) -> HealthWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, _ = http_json(self.url, timeout=15)
            except OSError:
                status = 0
            self.seen.append((time.monotonic() - self.t0, status))
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(20)

    def statuses_between(self, start: float, end: float) -> list[int]:
        return [s for at, s in self.seen if start <= at <= end]


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    pool = Children(cwd, {"LOG_FILE": str(cwd / "syncpay.log")})
    try:
        yield pool
    finally:
        pool.kill_left()


@pytest.fixture
async def mysql_db(mariadb: MariaDB) -> AsyncIterator[tuple[Settings, Database]]:
    name = f"syncpay_faults_{secrets.token_hex(3)}"
    settings = load_settings({**mariadb.env, "DB_DATABASE": name}, environ={}, env_file=None)
    db = await open_db(settings)
    try:
        yield settings, db
    finally:
        with contextlib.suppress(Exception):
            await db.close()


def sync_pay(settings: Settings, env: dict[str, str], db: Database) -> SyncPay:
    """The test's own handle on the run (start, progress) with the server's settings."""
    ours = {k.lower(): v for k, v in env.items() if k.startswith(("PAYMENT_", "SYNC_"))}
    return SyncPay(settings.replace(**ours), db)


def server_env(settings: Settings, sim_port: int, **extra: str) -> dict[str, str]:
    return {
        "DB_CONNECTION": settings.db_connection,
        "DB_DATABASE": settings.db_database,
        "DB_HOST": settings.db_host,
        "DB_PORT": str(settings.db_port),
        "DB_USERNAME": settings.db_username,
        "DB_PASSWORD": settings.db_password,
        "PAYMENT_SOURCE": "http",
        "PAYMENT_API_URL": f"http://127.0.0.1:{sim_port}/payments/{{idperson}}",
        "PAYMENT_API_TIMEOUT": "5",
        "SYNC_TRIES": "3",
        "SYNC_BACKOFF": "1",
        **extra,
    }


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_mariadb_stopped_mid_run_server_recovers_and_counts_exactly(
    mariadb: MariaDB, mysql_db: tuple[Settings, Database], children: Children, how: signal.Signals
) -> None:
    settings, db = mysql_db
    n = scale(500, 2000)
    down_for = scale(5, 10)
    ids = await import_students(db, n, SEED)

    sim_port = free_port()
    sim = children.spawn(
        simulator_argv("127.0.0.1", sim_port, "--seed", str(SEED), "--latency", LATENCY)
    )
    wait_http(f"http://127.0.0.1:{sim_port}/_stats", sim)
    web_port = free_port()
    env = server_env(settings, sim_port)
    server = children.syncpay("--port", str(web_port), "--workers", "8", "-q", **env)
    health = f"http://127.0.0.1:{web_port}/healthz"
    await asyncio.to_thread(wait_http, health, server)
    assert (await asyncio.to_thread(http_json, health))[0] == 200

    sp = sync_pay(settings, env, db)
    run = await sp.start(started_by="db fault test")
    t0 = time.monotonic()
    monitor = Monitor(sp, run.id, every=0.1).start()

    async def a_third_done() -> bool:
        assert server.poll() is None, children.outputs()
        return (await sp.sync.get(run.id)).processed >= n // 3

    await until(a_third_done, 120, every=0.05, what="a third of the run")
    watch = HealthWatch(health).start()
    before = await sp.sync.get(run.id)
    stop_took = await asyncio.to_thread(mariadb.stop, 60.0, how)
    down_at = time.monotonic()
    # Down for `down_for` seconds, and at least until the health check has said so.
    while time.monotonic() - down_at < down_for or 503 not in [
        s for at, s in watch.seen if at + watch.t0 >= down_at
    ]:
        assert server.poll() is None, children.outputs()
        assert time.monotonic() - down_at < 60, f"no 503 from /healthz: {watch.seen[-5:]}"
        await asyncio.sleep(0.1)
    restart_at = time.monotonic()
    start_took = await asyncio.to_thread(mariadb.start)

    async def moving_again() -> bool:
        return (await sp.sync.get(run.id)).processed > before.processed + 8

    # What was counted before the stop is counted; the first new counts after it.
    recovered = await until(moving_again, 180, every=0.1, what="progress after the restart")

    async def ended() -> bool:
        assert server.poll() is None, children.outputs()
        return not (await sp.sync.get(run.id)).is_running

    await until(ended, 300, every=0.1, what="the run to end")
    wall = time.monotonic() - t0
    await monitor.stop()

    async def healthy() -> bool:
        return (await asyncio.to_thread(http_json, health))[0] == 200

    await until(healthy, 30, every=0.2, what="/healthz 200 after the restart")
    watch.stop()
    done = await sp.sync.get(run.id)
    assert (done.status, done.total, done.processed, done.failed) == ("completed", n, n, 0), (
        done,
        children.outputs(),
    )
    assert monitor.breaches == []
    items = await items_of(db, run.id)
    assert len(items) == n and set(items) == ids
    assert {i["status"] for i in items.values()} == {"done"}
    assert stored_mismatches(reference(SEED), await siswa_rows(db), ids) == []
    assert await rows(db, "ts_jobs") == []
    assert int((await rows(db, "ts_failed_jobs"))[0]["n"]) == 0
    # (A second's margin: an answer to a request made before the stop may arrive late.)
    while_down = [s for at, s in watch.seen if down_at + 1 <= at + watch.t0 <= restart_at]
    assert 503 in while_down, watch.seen
    assert 200 not in while_down, watch.seen
    _, stats = await asyncio.to_thread(http_json, f"http://127.0.0.1:{sim_port}/_stats?detail=1")
    per_student = stats["per_idperson"]
    assert set(per_student) == ids

    # The same server process, never restarted, runs a second sync without a fault.
    assert server.poll() is None
    t1 = time.monotonic()
    again = await sp.start(started_by="after the fault")
    await until(lambda: _ended(sp, again.id), 300, every=0.1, what="the second run")
    clean_wall = time.monotonic() - t1
    second = await sp.sync.get(again.id)
    assert (second.status, second.processed, second.failed) == ("completed", n, 0)

    figure("students", n)
    figure(f"mariadbd {how.name} to exit (s)", f"{stop_took:.2f}")
    figure("database down, process gone to restart (s)", f"{restart_at - down_at:.1f}")
    figure("mariadbd start (s)", f"{start_took:.2f}")
    figure("restart to first new counts (s)", f"{recovered:.1f}")
    figure("run wall time with the fault (s)", f"{wall:.1f}")
    figure("run wall time, same server, no fault (s)", f"{clean_wall:.1f}")
    figure("healthz 503 answers while down", while_down.count(503))
    figure("API requests (first run)", stats["requests"])
    figure("students fetched more than once", sum(1 for v in per_student.values() if v > 1))
    assert server.poll() is None
    assert children.end(server) == 0, children.outputs()


async def _ended(sp: SyncPay, run_id: int) -> bool:
    return not (await sp.sync.get(run_id)).is_running


# --- a client that vanishes mid-transaction ------------------------------------------------

_PROBE = "-- name: tf_touch\nUPDATE cache SET value = :value WHERE `key` = 'probe'\n"

_FROZEN = """
import asyncio, os, signal
from syncpay.config import load_settings
from syncpay.db import connect
from syncpay.db.queries import parse_queries

async def main() -> None:
    db = await connect(load_settings(env_file=None))
    db.queries.update(parse_queries(PROBE_SQL, db.placeholder, {}))

    async def hold(tx) -> None:
        await tx.execute("tf_touch", {"value": "frozen"})
        print("locked", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)  # silent from now on, the row lock held

    await db.transact(hold)

asyncio.run(main())
""".replace("PROBE_SQL", repr(_PROBE))


async def test_mariadb_rolls_back_a_transaction_whose_client_went_silent(
    mariadb: MariaDB, mysql_db: tuple[Settings, Database], children: Children
) -> None:
    # A worker machine that loses its network (or freezes) mid-transaction keeps that
    # transaction's row locks on the server until TCP gives up, hours later; every other
    # worker then waits on them. syncpay's sessions tell MariaDB to roll back a
    # transaction left idle for min(30 s, DB_QUEUE_RETRY_AFTER).
    settings, db = mysql_db
    db.queries.update(parse_queries(_PROBE, db.placeholder, {}))
    mariadb.sql(
        "INSERT INTO cache (`key`, value, expiration) VALUES ('probe', 'start', 0)",
        settings.db_database,
    )
    env = {**mariadb.env, "DB_DATABASE": settings.db_database}
    frozen = children.spawn(
        [sys.executable, "-c", _FROZEN], SYNC_TIMEOUT="1", DB_QUEUE_RETRY_AFTER="4", **env
    )

    async def locked() -> bool:
        assert frozen.poll() is None, children.outputs()
        return "locked" in children.output(frozen)

    try:
        await until(locked, 30, every=0.05, what="the child to take the row lock")
        started = time.monotonic()
        await asyncio.wait_for(db.execute("tf_touch", {"value": "after"}), 30)
        waited = time.monotonic() - started
        figure("silent client's row lock released after (s)", f"{waited:.1f}")
        value = mariadb.sql("SELECT value FROM cache WHERE `key` = 'probe'", settings.db_database)
        assert value == [("after",)]
    finally:
        frozen.kill()  # SIGKILL ends a stopped process too
        frozen.wait()


# --- SQLite out of space -------------------------------------------------------------------


@contextlib.contextmanager
def small_filesystem(where: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of ``megabytes`` mounted on ``where`` (unmounted at the end)."""
    where.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        message = f"cannot mount a small tmpfs: {mount.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> int:
    """Write a file until the filesystem is full; the bytes written."""
    written = 0
    block = b"\0" * 65536
    with (directory / "filler").open("wb", buffering=0) as sink:
        with contextlib.suppress(OSError):
            while True:
                written += sink.write(block)
    return written


async def test_sqlite_out_of_space_clear_error_no_damage_and_recovery(
    tmp_path: Path, children: Children
) -> None:
    n = scale(500, 2000)
    with small_filesystem(tmp_path / "small", 48) as small:
        path = small / "syncpay.sqlite"
        settings = load_settings(
            {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(path)}, environ={}, env_file=None
        )
        db = await open_db(settings)
        try:
            await _out_of_space(settings, db, small, n, children)
        finally:
            children.kill_left()
            await db.close()


async def _out_of_space(
    settings: Settings, db: Database, small: Path, n: int, children: Children
) -> None:
    ids = await import_students(db, n, SEED)
    sim_port = free_port()
    sim = children.spawn(
        simulator_argv("127.0.0.1", sim_port, "--seed", str(SEED), "--latency", LATENCY)
    )
    wait_http(f"http://127.0.0.1:{sim_port}/_stats", sim)
    web_port = free_port()
    env = server_env(settings, sim_port)
    server = children.syncpay("--port", str(web_port), "--workers", "8", "-q", **env)
    health = f"http://127.0.0.1:{web_port}/healthz"
    await asyncio.to_thread(wait_http, health, server)
    sp = sync_pay(settings, env, db)
    run = await sp.start(started_by="disk full test")
    t0 = time.monotonic()

    async def a_third_done() -> bool:
        assert server.poll() is None, children.outputs()
        return (await sp.sync.get(run.id)).processed >= n // 3

    await until(a_third_done, 120, every=0.05, what="a third of the run")
    await asyncio.to_thread(fill, small)
    full_at = time.monotonic()

    async def refused() -> bool:
        assert server.poll() is None, children.outputs()
        return "disk is full" in children.output(server)

    await until(refused, 60, every=0.1, what="the server to meet the full disk")
    status, body = await asyncio.to_thread(http_json, health)
    assert status == 503 and body["database"].startswith("error: disk full"), body
    stalled = (await sp.sync.get(run.id)).processed
    await asyncio.sleep(scale(4, 10))
    # Nothing can be written: the run waits (nothing counted, nothing failed) …
    during = await sp.sync.get(run.id)
    assert during.is_running and during.failed == 0, during
    assert during.processed - stalled <= 8, (stalled, during)
    (small / "filler").unlink()
    freed_at = time.monotonic()

    async def ended() -> bool:
        assert server.poll() is None, children.outputs()
        return not (await sp.sync.get(run.id)).is_running

    # … and goes on by itself once there is space again.
    await until(ended, 120, every=0.1, what="the run to end after space returned")
    ended_at = time.monotonic()
    done = await sp.sync.get(run.id)
    assert (done.status, done.total, done.processed, done.failed) == ("completed", n, n, 0), done
    items = await items_of(db, run.id)
    assert len(items) == n and set(items) == ids
    assert {i["status"] for i in items.values()} == {"done"}
    # A result that could not be stored was kept and stored later: no attempt was spent.
    assert {int(i["attempts"]) for i in items.values()} == {1}, sorted(
        (k, i["attempts"]) for k, i in items.items() if int(i["attempts"]) != 1
    )
    assert stored_mismatches(reference(SEED), await siswa_rows(db), ids) == []
    assert await rows(db, "ts_jobs") == []
    assert int((await rows(db, "ts_failed_jobs"))[0]["n"]) == 0
    with contextlib.closing(sqlite3.connect(settings.db_database)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert (await asyncio.to_thread(http_json, health))[0] == 200
    assert server.poll() is None
    assert children.end(server) == 0, children.outputs()
    # The error, as the server's console showed it: one line each, no traceback.
    output = children.output(server)
    assert "Traceback" not in output, output[-3000:]
    full_lines = [line for line in output.splitlines() if "disk is full" in line]
    assert full_lines and all(len(line) < 300 for line in full_lines), full_lines
    figure("SQLite: full for (s)", f"{freed_at - full_at:.1f}")
    figure("SQLite: space back to run end (s)", f"{ended_at - freed_at:.1f}")
    figure("SQLite: run wall time with the full disk (s)", f"{ended_at - t0:.1f}")
    figure("SQLite: error lines in the console", len(full_lines))
    figure("SQLite: first error line", full_lines[0])


async def test_sqlite_full_is_waited_out_without_a_mount(tmp_path: Path) -> None:
    # The same fault where no filesystem can be mounted: PRAGMA max_page_count on the
    # writer connection caps the file. A write that does not fit waits (it is not an
    # error of the job), and lands as soon as the cap is lifted.
    settings = load_settings(
        {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(tmp_path / "capped.sqlite")},
        environ={},
        env_file=None,
    )
    db = await connect(settings, retry_for=30.0)
    try:
        await migrate(db, tables_for(settings))
        db.queries.update(
            parse_queries(
                "-- name: tf_put\nINSERT INTO cache (key, value, expiration)"
                " VALUES (:key, :value, 0)\n",
                db.placeholder,
                {},
            )
        )
        writer = db._writer  # the test's hook: the one connection that writes
        assert writer is not None
        pages = (await writer.execute_fetchall("PRAGMA page_count"))[0][0]
        await writer.execute_fetchall(f"PRAGMA max_page_count = {pages}")
        big = "x" * 2_000_000
        put = asyncio.create_task(db.execute("tf_put", {"key": "big", "value": big}))
        await asyncio.sleep(1.5)
        assert not put.done(), put  # waiting, not failed
        await writer.execute_fetchall("PRAGMA max_page_count = 1073741823")
        assert await asyncio.wait_for(put, 20) == 1
        with contextlib.closing(sqlite3.connect(settings.db_database)) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert raw.execute("SELECT length(value) FROM cache WHERE key = 'big'").fetchall() == [
                (len(big),)
            ]
    finally:
        await db.close()
