"""Storage: named queries, migrations, transactions, and SQLite under write contention."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pymysql
import pytest

from syncpay.config import Settings
from syncpay.db import Database, DatabaseUnavailable, Tx, connect, migrate, tables_for
from syncpay.db.migrate import MIGRATIONS_DIR, available
from syncpay.db.queries import QUERY_DIR, QueryError, load_queries, parse_queries
from tests.conftest import MYSQL, ROOT, mysql_connect, settings_for
from tests.jobs import add_test_queries, cache_values, failed_rows, job_rows
from tests.sync_helpers import Harness, items_of, rows
from tests.test_cli import Cli, base_env, error_line


def _names(dialect: str) -> set[str]:
    return set(load_queries(dialect, "?", {"jobs": "jobs"}))


def push_row(n: int, queue: str = "default") -> dict[str, object]:
    return {
        "queue": queue,
        "payload": f'{{"job":"x","data":{{"n":{n}}}}}',
        "delay": 0,
        "sort_key": 0,
    }


# --- the query and migration files ------------------------------------------------------


def test_query_names_are_the_same_in_both_dialects():
    sqlite, mysql = _names("sqlite"), _names("mysql")
    assert sqlite, "no queries parsed"
    assert sqlite == mysql, (
        f"only in sqlite: {sorted(sqlite - mysql)}; only in mysql: {sorted(mysql - sqlite)}"
    )
    # Each area's file exists in both dialects and names the same queries.
    areas = sorted(p.name for p in (QUERY_DIR / "sqlite").glob("*.sql"))
    assert areas == sorted(p.name for p in (QUERY_DIR / "mysql").glob("*.sql"))
    for area in areas:
        names = [
            set(parse_queries((QUERY_DIR / d / area).read_text(encoding="utf-8"), "?", {}))
            for d in ("sqlite", "mysql")
        ]
        assert names[0] == names[1], area


def test_migration_names_are_the_same_in_both_dialects():
    sqlite = [m.name for m in available("sqlite")]
    mysql = [m.name for m in available("mysql")]
    assert sqlite and sqlite[0] == "0000_create_migrations_table"
    assert sqlite == mysql
    assert sorted(p.name for p in (MIGRATIONS_DIR / "sqlite").iterdir()) == sorted(
        p.name for p in (MIGRATIONS_DIR / "mysql").iterdir()
    )


# --- :param binding ---------------------------------------------------------------------


def _query(sql: str, placeholder: str = "?"):
    return parse_queries(f"-- name: q\n{sql}\n", placeholder, {"jobs": "my_jobs"})["q"]


def test_list_parameter_expands_to_one_placeholder_per_item():
    q = _query("SELECT * FROM {jobs} WHERE id IN (:ids) AND queue = :queue AND x = :ids2")
    sql, args = q.bind({"ids": [1, 2, 3], "queue": "a", "ids2": 7})
    assert sql == "SELECT * FROM my_jobs WHERE id IN (?, ?, ?) AND queue = ? AND x = ?"
    assert args == [1, 2, 3, "a", 7]
    sql, args = q.bind({"ids": (5,), "queue": "b", "ids2": 8})
    assert sql == "SELECT * FROM my_jobs WHERE id IN (?) AND queue = ? AND x = ?"
    assert args == [5, "b", 8]
    # An empty list matches nothing instead of producing invalid SQL.
    sql, args = q.bind({"ids": [], "queue": "c", "ids2": 9})
    assert sql == "SELECT * FROM my_jobs WHERE id IN (?) AND queue = ? AND x = ?"
    assert args == [None, "c", 9]


def test_params_in_literals_and_casts_are_left_alone():
    q = _query(
        "SELECT ':nope' AS a, x::text, :yes AS b, 'it''s :no' FROM t WHERE c LIKE '%a'", "%s"
    )
    sql, args = q.bind({"yes": 1})
    assert args == [1]
    assert "':nope'" in sql and "x::text" in sql and "'it''s :no'" in sql
    assert "%s AS b" in sql
    # pyformat drivers need a literal % doubled.
    assert "LIKE '%%a'" in sql


def test_missing_parameter_is_a_query_error():
    with pytest.raises(QueryError, match="needs parameter 'b'"):
        _query("SELECT :a, :b").bind({"a": 1})


def test_bind_many_repeats_the_values_group_and_keeps_the_tail():
    q = _query(
        "INSERT INTO t (a, b, c) VALUES (:a, :b + 1, now())"
        " ON CONFLICT (a) DO UPDATE SET b = excluded.b"
    )
    sql, args = q.bind_many([{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": 5, "b": 6}])
    assert sql == (
        "INSERT INTO t (a, b, c) VALUES (?, ? + 1, now()), (?, ? + 1, now()), (?, ? + 1, now())"
        " ON CONFLICT (a) DO UPDATE SET b = excluded.b"
    )
    assert args == [1, 2, 3, 4, 5, 6]
    with pytest.raises(QueryError, match="outside the VALUES group"):
        _query("INSERT INTO t (a) VALUES (:a) ON CONFLICT (a) DO UPDATE SET b = :b").bind_many(
            [{"a": 1, "b": 2}]
        )


async def test_list_expansion_and_multi_row_insert_on_the_database(db: Database):
    # 2,500 rows: more than one MySQL multi-row statement (1,000 rows each).
    written = await db.insert_many("push", [push_row(n) for n in range(2500)])
    assert written == 2500
    assert await db.fetch_value("count_jobs") == 2500
    rows = await job_rows(db)
    assert len({r["id"] for r in rows}) == 2500
    assert sorted(r["payload"] for r in rows) == sorted(push_row(n)["payload"] for n in range(2500))

    failed = [
        {"uuid": f"u{i}", "connection": "database", "queue": "q", "payload": "{}", "exception": "E"}
        for i in range(3)
    ]
    assert await db.insert_many("insert_failed", failed) == 3
    ids = [r["id"] for r in await failed_rows(db)]
    found = await db.fetch_all("failed_find", {"ids": [ids[0], ids[2]], "uuids": ["u1"]})
    assert [r["uuid"] for r in found] == ["u0", "u1", "u2"]
    assert await db.fetch_all("failed_find", {"ids": [], "uuids": []}) == []
    assert await db.execute("failed_delete", {"ids": ids[:2]}) == 2
    assert [r["uuid"] for r in await failed_rows(db)] == ["u2"]


async def test_multi_row_updates_write_every_row_exactly(db: Database):
    """Tx.execute_many: one UPDATE from a derived table for many rows (MySQL writes a
    round's answers and items this way, with the values in the SQL text): every
    character survives (quotes, backslashes, NUL, non-ASCII, a 2,500-row batch over
    more than one statement), only the named rows change, and the count is exact."""
    from syncpay.simulator.data import demo_students
    from syncpay.students.importing import import_rows

    db.queries.update(
        parse_queries(
            "-- name: siswa_by_ids_for_test\n"
            "SELECT idperson, pembayaran, pembayaran_hash, is_lunas, total_tunggakan,"
            " sync_error, synced_at FROM siswa WHERE idperson IN (:ids)\n"
            "-- name: items_for_test\n"
            "SELECT idperson, status, attempts, reason, changed, tunggakan_after, lunas_after"
            " FROM sync_run_items WHERE run_id = 987654 ORDER BY idperson\n",
            db.placeholder,
            {},
        )
    )
    roster = demo_students(2600, 7)
    report = await import_rows(db, enumerate(roster, start=2))
    assert not report.invalid
    ids = [s["idperson"] for s in roster]
    tricky = ["it's", 'back\\slash \\\' "q"', "nul\0byte", "émoji 🙂 ĳ", "%s %(x)s ?", ""]

    def payment(n: int) -> dict[str, object]:
        return {
            "idperson": ids[n].lower() if n % 7 == 0 else ids[n],  # compared as stored
            "pembayaran": json.dumps({"n": n, "t": tricky[n % len(tricky)]}, ensure_ascii=False),
            "hash": f"h{n}",
            "total_tagihan": f"{n}.00",
            "total_dibayar": "0",
            "total_tunggakan": f"{n}.50",
            "total_kelebihan": "0",
            "is_lunas": n % 2,
        }

    written = [payment(n) for n in range(2500)]
    changed = await db.execute_many("siswa_store_payments", written)
    assert changed == 2500
    stored = {
        str(r["idperson"]): r for r in await db.fetch_all("siswa_by_ids_for_test", {"ids": ids})
    }
    for n, row in enumerate(written):
        got = stored[ids[n]]
        assert got["pembayaran"] == row["pembayaran"], n
        assert (got["pembayaran_hash"], int(got["is_lunas"])) == (f"h{n}", n % 2)
        assert float(got["total_tunggakan"]) == n + 0.5
        assert got["sync_error"] is None and got["synced_at"] is not None
    for idperson in ids[2500:]:
        assert stored[idperson]["pembayaran_hash"] is None  # not named: untouched

    assert await db.execute_many("siswa_store_payments", []) == 0
    await db.execute("siswa_mark_synced_many", {"idpersons": ids[2500:2510]})
    marked = await db.fetch_all("siswa_by_ids_for_test", {"ids": ids[2500:2511]})
    assert [r["synced_at"] is not None for r in marked] == [True] * 10 + [False]

    # Items: only those still queued change (the status is the guard of "counted once").
    await db.run_script(
        "INSERT INTO sync_runs (id, scope_type, scope, scope_label, status, started_by,"
        " started_at) VALUES (987654, 'all', '', 'all', 'running', 't', 0);\n"
        "INSERT INTO sync_run_items (run_id, idperson, status, attempts, finished_at)"
        " VALUES (987654, 'A1', 'queued', 0, 0), (987654, 'A2', 'queued', 0, 0),"
        " (987654, 'A3', 'done', 1, 5), (987654, 'A4', 'queued', 0, 0);\n"
    )
    item = {
        "run_id": 987654,
        "status": "done",
        "attempts": 1,
        "reason": None,
        "changed": 0,
        "tunggakan_before": None,
        "tunggakan_after": None,
        "kelebihan_before": None,
        "kelebihan_after": None,
        "lunas_before": None,
        "lunas_after": None,
    }
    finished = [
        {**item, "idperson": "A1"},
        {**item, "idperson": "A2", "status": "failed", "attempts": 3, "reason": "it's \\ gone"},
        {**item, "idperson": "A3", "status": "failed"},
        {**item, "idperson": "A1x"},
    ]
    finished[0].update(changed=1, tunggakan_before="10", tunggakan_after="0", lunas_after=1)
    assert await db.execute_many("sync_items_finish_many", finished) == 2
    got = [tuple(r.values()) for r in await db.fetch_all("items_for_test")]
    assert [(g[0], g[1], int(g[2]), g[3], int(g[4] or 0)) for g in got] == [
        ("A1", "done", 1, None, 1),
        ("A2", "failed", 3, "it's \\ gone", 0),
        ("A3", "done", 1, None, 0),
        ("A4", "queued", 0, None, 0),
    ]
    assert float(got[0][5]) == 0 and int(got[0][6]) == 1


# --- migrations -------------------------------------------------------------------------


async def _fresh(settings, tmp_path: Path, mysql_name: str | None):
    """Settings for an empty database of the same kind (MySQL: created, dropped by caller)."""
    if settings.db_connection == "sqlite":
        return settings.replace(db_database=str(tmp_path / f"fresh_{secrets.token_hex(3)}.sqlite"))
    return settings.replace(db_database=mysql_name)


@pytest.fixture
def fresh_name(db_kind):
    """A MySQL database name of our own, dropped after the test."""
    name = f"syncpay_fresh_{os.getpid()}_{secrets.token_hex(3)}"
    yield name
    if db_kind == "mysql":
        conn = mysql_connect()
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


async def test_migrate_is_idempotent(db: Database, settings, tmp_path, fresh_name):
    # The fixture migrated already: nothing left to do.
    assert await migrate(db, tables_for(settings)) == []

    fresh = await _fresh(settings, tmp_path, fresh_name)
    other = await connect(fresh, create=True)
    try:
        first = await migrate(other, tables_for(fresh))
        assert first == [m.name for m in available(other.dialect)]
        assert await migrate(other, tables_for(fresh)) == []
        applied = await add_test_queries(other).fetch_all("migrations_applied")
        assert [r["migration"] for r in applied] == first
    finally:
        await other.close()


async def test_the_word_index_gets_the_names_of_students_already_there(
    settings, tmp_path, fresh_name, monkeypatch
):
    """0010 on a database that holds students (an upgrade): every name word carries its
    student's name, and the triggers keep it so for new and renamed students."""
    # The module (syncpay.db.migrate, the name, is the function).
    migrate_module = importlib.import_module("syncpay.db.migrate")
    from syncpay.students import import_rows

    fresh = await _fresh(settings, tmp_path, fresh_name)
    db = await connect(fresh, create=True)
    try:
        every = available(db.dialect)
        monkeypatch.setattr(
            migrate_module, "available", lambda d: [m for m in every if m.name < "0010"]
        )
        await migrate(db, tables_for(fresh))
        roster = [
            {"idperson": f"202500000{i}", "nama": nama, "UnitFormal": "SMP", "KelasFormal": "7A"}
            for i, nama in enumerate(["Siti Aminah", "Muhammad Rizki-Saputra", "Budi"])
        ]
        report = await import_rows(db, enumerate(roster, start=2))
        assert report.inserted == 3
        monkeypatch.setattr(migrate_module, "available", lambda d: every)
        assert "0010_siswa_kata_nama" in await migrate(db, tables_for(fresh))
        db.queries.update(
            parse_queries(
                "-- name: t_kata_names\nSELECT k.kata, k.nama AS kata_nama, s.nama FROM siswa_kata"
                " AS k JOIN siswa AS s ON s.id = k.siswa_id ORDER BY k.kata\n",
                db.placeholder,
                {},
            )
        )

        async def words() -> dict[str, str]:
            rows = await db.fetch_all("t_kata_names")
            assert all(r["kata_nama"] == r["nama"] for r in rows), rows
            return {r["kata"]: r["nama"] for r in rows}

        assert (await words())["rizki"] == "Muhammad Rizki-Saputra"
        roster[0]["nama"] = "Siti Nurhaliza"
        roster.append(
            {
                "idperson": "2025000009",
                "nama": "Dewi Lestari",
                "UnitFormal": "SMP",
                "KelasFormal": "7A",
            }
        )
        await import_rows(db, enumerate(roster, start=2))
        after = await words()
        assert after["nurhaliza"] == after["siti"] == "Siti Nurhaliza" and "aminah" not in after
        assert after["lestari"] == "Dewi Lestari"
    finally:
        await db.close()


async def test_two_concurrent_migrations_do_not_fail(settings, tmp_path, fresh_name):
    # The race is timing-dependent: try a few fresh databases.
    for round_ in range(10 if settings.db_connection == "sqlite" else 2):
        fresh = await _fresh(settings, tmp_path, fresh_name)
        first = await connect(fresh, create=True)
        second = await connect(fresh, create=True)
        try:
            results = await asyncio.gather(
                migrate(first, tables_for(fresh)),
                migrate(second, tables_for(fresh)),
                return_exceptions=True,
            )
            problems = [r for r in results if isinstance(r, BaseException)]
            assert not problems, f"round {round_}: concurrent migrate failed: {problems!r}"
            names = [m.name for m in available(fresh.db_connection)]
            ran = results[0] + results[1]  # type: ignore[operator]
            assert sorted(ran) == sorted(names), "each migration is applied by exactly one caller"
            applied = await first.fetch_all("migrations_applied")
            assert [r["migration"] for r in applied] == names
        finally:
            await first.close()
            await second.close()
        if fresh.db_connection == "mysql":
            conn = mysql_connect()
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{fresh_name}`")
            conn.close()


async def test_run_script_runs_raw_statements(db: Database):
    await db.insert_many("push", [push_row(n) for n in range(3)])
    ids = [r["id"] for r in await job_rows(db)]
    # Several statements, the last without a semicolon (as a test or a person writes them).
    await db.run_script(
        f"UPDATE jobs SET payload = '{{bad' WHERE id = {ids[0]};\n"
        f"UPDATE jobs SET attempts = 5 WHERE id = {ids[1]}"
    )
    rows = {r["id"]: r for r in await job_rows(db)}
    assert rows[ids[0]]["payload"] == "{bad"
    assert rows[ids[1]]["attempts"] == 5
    assert rows[ids[2]]["attempts"] == 0


# --- transactions -----------------------------------------------------------------------


async def test_after_commit_runs_only_after_commit(db: Database):
    calls: list[str] = []

    async def work(tx: Tx) -> str:
        await tx.insert("push", push_row(1))
        tx.after_commit(lambda: calls.append("first"))
        tx.after_commit(lambda: calls.append("second"))
        assert calls == [], "after_commit ran before the commit"
        return "ok"

    assert await db.transact(work) == "ok"
    assert calls == ["first", "second"]

    async def failing(tx: Tx) -> None:
        await tx.insert("push", push_row(2))
        tx.after_commit(lambda: calls.append("rolled back"))
        raise ValueError("no")

    with pytest.raises(ValueError):
        await db.transact(failing)
    assert calls == ["first", "second"]

    # Outside a transaction (autocommit) the callback runs at once.
    db.after_commit(lambda: calls.append("now"))
    assert calls == ["first", "second", "now"]


async def test_after_commit_callback_that_raises_does_not_undo_the_commit(db: Database):
    async def work(tx: Tx) -> None:
        await tx.insert("push", push_row(1))
        tx.after_commit(lambda: 1 / 0)

    await db.transact(work)
    assert await db.fetch_value("count_jobs") == 1


async def test_a_transaction_that_raises_rolls_back_everything(db: Database):
    async def work(tx: Tx) -> None:
        await tx.insert_many("push", [push_row(n) for n in range(5)])
        await tx.execute("cache_put", {"key": "k", "value": "v", "ttl": 0})
        await tx.insert_many(
            "insert_failed",
            [{"uuid": "u", "connection": "c", "queue": "q", "payload": "{}", "exception": "E"}],
        )
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await db.transact(work)
    assert await db.fetch_value("count_jobs") == 0
    assert await cache_values(db) == {}
    assert await failed_rows(db) == []


async def test_a_transient_error_reruns_the_whole_transaction(db: Database):
    transient: Exception = (
        sqlite3.OperationalError("database is locked")
        if db.dialect == "sqlite"
        else pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")
    )
    assert db.is_transient(transient)
    attempts = []

    async def work(tx: Tx) -> int:
        attempts.append(1)
        await tx.insert("push", push_row(len(attempts)))
        if len(attempts) == 1:
            raise transient
        return len(attempts)

    assert await db.transact(work) == 2
    rows = await job_rows(db)
    assert len(rows) == 1 and '"n":2' in rows[0]["payload"], "the first attempt was rolled back"


async def test_a_transient_error_that_persists_gives_up_after_retry_for(db: Database):
    transient: Exception = (
        sqlite3.OperationalError("database is locked")
        if db.dialect == "sqlite"
        else pymysql.err.OperationalError(1205, "Lock wait timeout exceeded")
    )
    db.retry_for = 0.3

    async def work(tx: Tx) -> None:
        raise transient

    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="still failing"):
        await db.transact(work)
    assert time.monotonic() - started < 3


async def test_an_occasional_deadlock_is_retried_at_debug_a_repeated_one_is_warned(
    db: Database, caplog: pytest.LogCaptureFixture
):
    """Issue #12, item 13: InnoDB may roll back one of two transactions that lock rows
    in a different order; running it again is the cure, and no one should read a
    WARNING for it. A transaction that keeps deadlocking is warned about. SQLite has no
    deadlocks: a writer that stayed locked out is warned about at once, as before (its
    further tries at DEBUG)."""
    caplog.set_level(logging.DEBUG, logger="syncpay.db")
    mysql = db.dialect == "mysql"
    error: Exception = (
        pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")
        if mysql
        else sqlite3.OperationalError("database is locked")
    )

    def failing(times: int) -> Callable[[Tx], Awaitable[int]]:
        tries: list[int] = []

        async def work(tx: Tx) -> int:
            tries.append(1)
            if len(tries) <= times:
                raise error
            return len(tries)

        return work

    def levels() -> list[str]:
        found = [r.levelname for r in caplog.records if "retrying" in r.getMessage()]
        caplog.clear()
        return found

    assert await db.transact(failing(1)) == 2
    assert levels() == (["DEBUG"] if mysql else ["WARNING"])
    assert await db.transact(failing(5)) == 6
    assert levels() == (["DEBUG"] * 4 + ["WARNING"] if mysql else ["WARNING"] + ["DEBUG"] * 4)


async def test_two_pools_and_a_fast_api_settle_without_a_deadlock(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
):
    """Issue #12, item 13: a server's pool and a second one (``syncpay sync`` or the
    library example) on one queue, the API answering in ~2 ms. Every round settles and
    claims without a deadlock (MariaDB rolled one back and retried it in every trial,
    with a WARNING on stderr), nothing is logged at WARNING, and every run counts each
    student once."""
    caplog.set_level(logging.DEBUG, logger="syncpay.db")
    h = await Harness(settings, db).setup()
    try:
        n, runs = 400, 3
        roster = await h.students(n, seed=13)
        ids = {s["idperson"] for s in roster}
        sim = await h.simulator(latency=0.002)
        # The harness's 0.5 s API timeout is for fault tests: here a loaded machine (the
        # suite runs in parallel) may stall this loop that long, and a timed-out fetch is
        # tried again (attempts 2) without any deadlock.
        server = h.syncpay(sim, payment_api_timeout="30")
        second = h.syncpay(sim, await h.connection(), payment_api_timeout="30")
        for sp in (server, second):
            h.worker(sp, 8).start()
        for _ in range(runs):
            run = await server.start(started_by="two pools")
            done = await asyncio.wait_for(server.sync.wait(run.id), 120)
            assert (done.status, done.total, done.processed, done.failed) == (
                "completed",
                n,
                n,
                0,
            )
            items = await items_of(db, run.id)
            assert set(items) == ids
            again = {i: it for i, it in items.items() if int(it["attempts"]) != 1}
            warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
            assert again == {}, (again, warned[-10:])
        assert await rows(db, "ts_jobs") == []
        assert all(w.stats.done > 0 for w in h.workers), [w.stats for w in h.workers]
        assert sum(w.stats.done for w in h.workers) == runs * (n + 1)  # + each dispatcher
        assert sum(w.stats.lost + w.stats.failed for w in h.workers) == 0
    finally:
        await h.close()
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retries == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []


# --- SQLite under contention ------------------------------------------------------------

WRITER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from syncpay.config import load_settings
    from syncpay.db import connect

    async def main(tag, count):
        db = await connect(load_settings(env_file=None))
        try:
            for n in range(count):
                async def work(tx, n=n):
                    row = {"queue": tag, "payload": "{}", "delay": 0, "sort_key": n}
                    await tx.insert("push", row)
                    put = {"key": f"{tag}:{n % 7}", "value": str(n), "ttl": 0}
                    await tx.execute("cache_put", put)
                await db.transact(work)
                await db.fetch_all("queue_stats")
        finally:
            await db.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    print("ok")
    """
)


async def test_sqlite_contention_never_reports_database_is_locked(tmp_path):
    settings = settings_for("sqlite", tmp_path, None)
    first = await connect(settings)
    await migrate(first, tables_for(settings))
    second = await connect(settings)
    env = {
        **os.environ,
        "DB_CONNECTION": "sqlite",
        "DB_DATABASE": settings.db_database,
        "PYTHONPATH": str(ROOT),
    }
    per_process, min_per_task, tasks = 60, 40, 16
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, f"proc{i}", str(per_process)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    stop_reading = asyncio.Event()
    reads = [0]
    written = [0] * tasks

    async def writer(index: int) -> None:
        # Keep writing while the other processes do (at least min_per_task each).
        db = (first, second)[index % 2]
        n = 0
        while n < min_per_task or (n < 3000 and any(p.poll() is None for p in procs)):

            async def work(tx: Tx, n: int = n) -> None:
                await tx.insert(
                    "push", {"queue": f"t{index}", "payload": "{}", "delay": 0, "sort_key": n}
                )
                await tx.execute("cache_put", {"key": f"t{index}", "value": str(n), "ttl": 0})

            await db.transact(work)
            n += 1
            written[index] = n

    async def reader(db: Database) -> None:
        while not stop_reading.is_set():
            await db.fetch_all("queue_stats")
            await db.fetch_value("count_jobs")
            reads[0] += 1

    try:
        readers = [asyncio.create_task(reader(db)) for db in (first, second, first)]
        results = await asyncio.gather(*(writer(i) for i in range(tasks)), return_exceptions=True)
        stop_reading.set()
        results += await asyncio.gather(*readers, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, f"errors reached the caller: {errors!r}"
        outputs = []
        for proc in procs:
            out, err = await asyncio.to_thread(proc.communicate, timeout=120)
            outputs.append((proc.returncode, out, err))
        for code, out, err in outputs:
            assert code == 0 and out.strip() == "ok", f"writer process failed: {err[-2000:]}"
            assert "locked" not in err
        assert reads[0] > 0
        total = await first.fetch_value("count_jobs")
        assert total == sum(written) + 2 * per_process
        values = await cache_values(first)
        assert all(values[f"t{i}"] == str(written[i] - 1) for i in range(tasks))
        assert values["proc0:6"] and values["proc1:6"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await first.close()
        await second.close()


@pytest.mark.parametrize("direct", [True, False])
async def test_sqlite_write_statements_run_in_the_loop_thread_and_stay_isolated(
    tmp_path: Path, direct: bool
):
    # Inside a write transaction the single statements run on the writer's connection in
    # the loop's thread (no trip through aiosqlite's thread); readers on their own
    # connections see nothing of it until COMMIT, and a raise rolls all of it back.
    from syncpay.db.sqlite import SqliteDatabase

    settings = settings_for("sqlite", tmp_path, None)
    db = await connect(settings)
    await migrate(db, tables_for(settings))
    assert isinstance(db, SqliteDatabase)
    db.direct_statements = direct
    seen: list[object] = []

    async def work(tx: Tx) -> None:
        seen.append(getattr(tx, "direct", None))
        await tx.execute("cache_put", {"key": "a", "value": "1", "ttl": 0})
        await tx.insert("push", {"queue": "q", "payload": "{}", "delay": 0, "sort_key": 1})
        rows = await tx.fetch_all("cache_get", {"key": "a"})
        seen.append([row["value"] for row in rows])
        seen.append(await db.fetch_value("count_jobs"))  # a reader: not committed yet

    try:
        await db.transact(work)
        assert (seen[0] is not None) is direct
        assert seen[1:] == [["1"], 0]
        assert await db.fetch_value("count_jobs") == 1
        assert await cache_values(db) == {"a": "1"}

        async def broken(tx: Tx) -> None:
            await tx.execute("cache_put", {"key": "b", "value": "2", "ttl": 0})
            await tx.insert("push", {"queue": "q", "payload": "{}", "delay": 0, "sort_key": 2})
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await db.transact(broken)
        assert await db.fetch_value("count_jobs") == 1
        assert await cache_values(db) == {"a": "1"}
    finally:
        await db.close()


# --- issue #12, item 14: the setting that is wrong; no database made by a read ----------


def _cli(tmp_path: Path, **variables: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return Cli(variables.get("DB_CONNECTION", "sqlite"), cwd, base_env(**variables))


def _mysql_databases() -> set[str]:
    conn = mysql_connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW DATABASES")
            return {str(row[0]) for row in cursor.fetchall()}
    finally:
        conn.close()


@pytest.fixture
def mysql_user(mysql_database: str) -> Iterator[tuple[str, str, str]]:
    """A MariaDB user with a password, allowed only a database of its own (name,
    password, database). Not the test run's shared database: the user's commands
    migrate it, and triggers made by a user that is dropped afterwards would fail every
    later write of every test (MariaDB 1449, "the definer does not exist")."""
    name, password = f"sp_t_{secrets.token_hex(4)}", secrets.token_hex(8)
    database = f"{mysql_database}_{name}"
    conn = mysql_connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
            cursor.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
            cursor.execute(f"GRANT ALL ON `{database}`.* TO '{name}'@'%'")
        yield name, password, database
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{name}'@'%'")
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        conn.close()


def test_a_wrong_password_or_database_name_is_named_as_such(
    mysql_user: tuple[str, str, str], tmp_path: Path
):
    """MariaDB's 1045 (user or password) names DB_PASSWORD and DB_USERNAME, 1044 (a
    database the user may not use: a misspelled name, for a user without global
    rights) DB_DATABASE; never "DB_USERNAME: access denied" for both."""
    user, password, mysql_database = mysql_user
    cli = _cli(tmp_path, **{**MYSQL, "DB_USERNAME": user}, DB_CONNECTION="mysql")
    right = cli.run("sync:status", env={"DB_DATABASE": mysql_database, "DB_PASSWORD": password})
    assert right.returncode == 0, right.stderr
    user_at = rf"'{user}'@'[^']+'"

    wrong = cli.run(
        "sync:status", env={"DB_DATABASE": mysql_database, "DB_PASSWORD": "x" + password}
    )
    assert wrong.returncode == 2
    assert re.fullmatch(
        rf"syncpay: DB_PASSWORD: access denied for user {user_at} "
        r"\(check DB_USERNAME and DB_PASSWORD\)",
        error_line(wrong),
    ), error_line(wrong)

    empty = cli.run("sync:status", env={"DB_DATABASE": mysql_database, "DB_PASSWORD": ""})
    assert empty.returncode == 2
    assert re.fullmatch(
        rf"syncpay: DB_PASSWORD: access denied for user {user_at} "
        r"\(check DB_USERNAME and DB_PASSWORD; DB_PASSWORD is empty\)",
        error_line(empty),
    ), error_line(empty)

    typo = mysql_database + "_typo"
    denied = cli.run("sync:status", env={"DB_DATABASE": typo, "DB_PASSWORD": password})
    assert denied.returncode == 2
    assert re.fullmatch(
        rf"syncpay: DB_DATABASE: access denied for user {user_at} to database '{typo}' "
        r"\(check DB_DATABASE, or the user's grants on it\)",
        error_line(denied),
    ), error_line(denied)
    # `migrate` may create a database, but not this user: still DB_DATABASE.
    refused = cli.run("migrate", env={"DB_DATABASE": typo, "DB_PASSWORD": password})
    assert refused.returncode == 2
    assert error_line(refused).startswith("syncpay: DB_DATABASE: "), error_line(refused)
    assert typo not in _mysql_databases()


def test_a_command_that_reads_never_creates_a_missing_database_migrate_does(
    db_kind: str, tmp_path: Path, request: pytest.FixtureRequest
):
    """A misspelled DB_DATABASE (a user allowed to create databases, or a SQLite path):
    `sync:status` and the other commands that only read stop with one line naming
    DB_DATABASE and create nothing; `migrate` creates it."""
    if db_kind == "mysql":
        request.getfixturevalue("mysql_database")  # skips (or fails in CI) without MariaDB
        name = f"syncpay_typo_{os.getpid()}_{secrets.token_hex(3)}"
        cli = _cli(tmp_path, **MYSQL, DB_CONNECTION="mysql", DB_DATABASE=name)

        def exists() -> bool:
            return name in _mysql_databases()

        shown = f"database '{name}'"
    else:
        name = str(tmp_path / "typo" / "syncpay.sqlite")
        cli = _cli(tmp_path, DB_CONNECTION="sqlite", DB_DATABASE=name)

        def exists() -> bool:
            return (tmp_path / "typo").exists()

        shown = f"database file '{name}'"
    try:
        for command in ("sync:status", "sync:failed", "queue:failed", "user:list", "token:list"):
            result = cli.run(*command.split())
            assert result.returncode == 2, (command, result.returncode, exists(), result.stdout)
            assert (result.returncode, error_line(result)) == (
                2,
                f"syncpay: DB_DATABASE: {shown} does not exist; run `syncpay migrate` to create it",
            ), command
            assert not exists(), f"{command} created the database"
        cli.ok("migrate")
        assert exists()
        cli.ok("sync:status")
    finally:
        if db_kind == "mysql":
            conn = mysql_connect()
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            conn.close()


async def test_a_transaction_cancelled_at_any_moment_leaves_the_connection_usable(
    db: Database,
) -> None:
    """A task cancelled while its write transaction is in flight (BEGIN, a statement,
    COMMIT: on SQLite each may be running in aiosqlite's thread) ends with the
    cancellation, never with another error in its place (a ROLLBACK of a transaction
    whose COMMIT was still running said "cannot rollback - no transaction is active",
    and a loop catching Exception then never ended: a worker took 10 s to stop), and the
    next transaction runs at once."""
    import random

    rng = random.Random(12)
    other: list[str] = []
    for n in range(60):

        async def write(tx: Tx, n: int = n) -> None:
            await tx.execute("cache_put", {"key": f"cancel-{n}", "value": "x", "ttl": 0})

        task = asyncio.ensure_future(db.transact(write))
        await asyncio.sleep(rng.choice([0, 0, 0.0002, 0.0005, 0.001, 0.002]))
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # anything but the cancellation is the defect
            other.append(f"{n}: {type(exc).__name__}: {exc}")
        await asyncio.wait_for(
            db.transact(lambda tx: tx.execute("cache_forget", {"key": "none"})), 5
        )
    assert other == []
