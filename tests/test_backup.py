"""Backups and their restore (``syncpay.backup``, ``db:backup``, ``db:restore``,
``BACKUP_SCHEDULE``): SQLite, whose backups they are; MariaDB's recipe once.

The backup of a running sync is read as a separate database and checked for a
consistent state; it is restored into another installation, where a real server
finishes the run it holds; a server using a database makes ``db:restore`` refuse.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from syncpay.backup import (
    BackupError,
    Backups,
    backup_name,
    last_backup,
    our_backups,
    record,
    restore,
    take_backup,
    target_for,
)
from syncpay.cli.output import set_language, words
from syncpay.config import Settings
from syncpay.db import connect, migrate, tables_for
from syncpay.db.cache import Cache
from syncpay.maintenance import Maintenance
from syncpay.queue import Queue
from syncpay.sync.money import compute_totals
from syncpay.sync.parsers import parse_flat
from syncpay.sync.runs import Sync
from syncpay.web import create_app
from tests.conftest import ROOT, settings_for
from tests.sync_helpers import Harness, siswa_rows, stored_mismatches, until

SQLITE_ONLY = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
#: The test's own environment's syncpay variables stay out of a child's.
_OURS = ("DB_", "SYNC_", "QUEUE_", "PAYMENT_", "APP_", "LOG_", "SISWA_", "BACKUP_")
APP_KEY = "k" * 40


# --------------------------------------------------------------------------- helpers


def child_env(tmp_path: Path, database: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    return env | {
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
        "DB_CONNECTION": "sqlite",
        "DB_DATABASE": str(database),
        "APP_KEY": APP_KEY,
        "APP_LOCALE": "en",
        "LOG_FILE": str(tmp_path / "syncpay.log"),
        **extra,
    }


def syncpay_cli(
    tmp_path: Path, database: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncpay", *args],
        cwd=tmp_path,
        env=child_env(tmp_path, database, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


class Server:
    """``syncpay serve`` as a process of its own, its output in a file."""

    def __init__(self, tmp_path: Path, database: Path, *args: str, **extra: str) -> None:
        self.log = tmp_path / f"server-{os.urandom(3).hex()}.out"
        with self.log.open("wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syncpay", "serve", "--port", "0", *args],
                cwd=tmp_path,
                env=child_env(tmp_path, database, **extra),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def serving(self) -> str:
        async def up() -> bool:
            assert self.proc.poll() is None, self.output()
            return "serving on" in self.output()

        await until(up, 30, every=0.05, what="the server to listen")
        found = re.search(r"serving on (http://\S+)", self.output())
        assert found, self.output()
        return found.group(1)

    async def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.proc.wait, 20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return await asyncio.to_thread(self.proc.wait)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait()


def read(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def inconsistencies(path: Path) -> list[str]:
    """What in the database file at ``path`` does not hold together: a synced student
    whose stored totals are not what its stored answer gives, a run whose counters are
    not its items' counts."""
    wrong: list[str] = []
    today = date.today()
    for row in read(path, "SELECT * FROM siswa WHERE synced_at IS NOT NULL"):
        totals = compute_totals(parse_flat(row["pembayaran"]).items, today)
        columns = ("total_tagihan", "total_dibayar", "total_tunggakan", "total_kelebihan")
        got = (*(_number(row[c]) for c in columns), bool(row["is_lunas"]))
        want = (
            totals.total_tagihan,
            totals.total_dibayar,
            totals.total_tunggakan,
            totals.total_kelebihan,
            totals.is_lunas,
        )
        if got != want:
            wrong.append(f"{row['idperson']}: stored {got} != its answer's {want}")
    counts = {
        int(r["run_id"]): (int(r["n"]), int(r["processed"]), int(r["failed"]))
        for r in read(
            path,
            "SELECT run_id, COUNT(*) AS n, SUM(status <> 'queued') AS processed,"
            " SUM(status = 'failed') AS failed FROM sync_run_items GROUP BY run_id",
        )
    }
    for run in read(path, "SELECT * FROM sync_runs"):
        n, processed, failed = counts.get(int(run["id"]), (0, 0, 0))
        if (run["processed"], run["failed"]) != (processed, failed):
            wrong.append(
                f"run {run['id']}: counters {run['processed']}/{run['failed']} != items "
                f"{processed}/{failed}"
            )
        if run["dispatched"] and run["total"] != n:
            wrong.append(f"run {run['id']}: total {run['total']} != its {n} items")
    return wrong


def integrity(path: Path) -> str:
    return str(read(path, "PRAGMA integrity_check")[0][0])


async def new_installation(settings: Settings, folder: Path) -> Path:
    """An installation of its own (migrated, empty) in ``folder``; its database file."""
    folder.mkdir()
    database = folder / "syncpay.sqlite"
    db = await connect(settings.replace(db_database=str(database)))
    try:
        await migrate(db, tables_for(settings))
    finally:
        await db.close()
    return database


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


# --------------------------------------------------------------------------- a running sync


@pytest.mark.slow
@SQLITE_ONLY
async def test_a_backup_of_a_running_sync_restored_elsewhere_finishes_the_run(
    h: Harness, tmp_path: Path, servers: list[Server]
) -> None:
    """2,000 students synced by an in-process pool; the backup taken mid-run is whole
    (integrity_check), consistent (every student's totals are its stored answer's, every
    run's counters its items' counts) and holds the run mid-way. Restored into another,
    stopped installation, it is started by a real server, which finishes the run
    exactly: the leases of the jobs in flight at the backup are free at once (with
    DB_QUEUE_RETRY_AFTER an hour, they would otherwise hold the run for that long). While
    that server runs, a second restore is refused and changes nothing."""
    sim = await h.simulator(latency=0.002, fail_rate=0.02, seed=15)
    roster = await h.students(2000, seed=15)
    ids = {s["idperson"] for s in roster}
    failing = {i for i in ids if sim.category(i) == "fail"}
    assert failing
    sp = h.syncpay(sim, sync_tries="2")
    run = await sp.start(started_by="backup test")
    h.worker(sp, 8, sleep=0.05).start()

    async def under_way() -> bool:
        return (await sp.sync.get(run.id)).processed >= 300

    await until(under_way, 60, what="300 students synced")
    backup = await take_backup(
        Path(h.settings.db_database), tmp_path / "mid-run.sqlite.gz", compressed=True
    )
    assert backup.path.is_file() and backup.compressed
    plain = tmp_path / "mid-run.sqlite"
    plain.write_bytes(gzip.decompress(backup.path.read_bytes()))
    assert integrity(plain) == "ok"
    assert inconsistencies(plain) == []
    (held,) = read(plain, "SELECT status, processed, total FROM sync_runs WHERE id = ?", (run.id,))
    assert held["status"] == "running" and 300 <= held["processed"] < 2000, dict(held)
    assert dict(backup.tables)["siswa"] == 2000

    # Stop the pool here (the run is left unfinished in this database; it is not the
    # one the test goes on with).
    for worker in h.workers:
        await worker.close()
    h.workers.clear()

    site = tmp_path / "site"
    database = await new_installation(h.settings, site)
    env = {
        "PAYMENT_SOURCE": "http",
        "PAYMENT_API_URL": sim.payments_url,
        "PAYMENT_API_TIMEOUT": "5",
        "SYNC_BACKOFF": "0",
        "SYNC_TRIES": "2",
        "DB_QUEUE_RETRY_AFTER": "3600",
    }
    done = syncpay_cli(tmp_path, database, "db:restore", str(backup.path), **env)
    assert done.returncode == 0, done.stderr
    assert f"Restored into {database}" in done.stdout
    # Jobs were in flight when the backup was read: their leases are lapsed by the restore.
    assert re.search(
        r"\n(1 job|\d+ jobs) held by (a worker|workers) at the time of the backup", done.stdout
    )
    kept = [p for p in site.iterdir() if ".before-restore-" in p.name]
    assert len(kept) == 1 and str(kept[0]) in done.stdout

    server = Server(tmp_path, database, "--workers", "8", **env)
    servers.append(server)
    await server.serving()

    before = fingerprint(site)
    refused = syncpay_cli(tmp_path, database, "db:restore", str(backup.path), **env)
    assert refused.returncode == 1, refused.stdout
    assert refused.stderr.count("\n") == 1 and "is in use" in refused.stderr, refused.stderr
    assert [p.name for p in site.iterdir() if ".before-restore-" in p.name] == [kept[0].name]
    assert not [p for p in site.iterdir() if ".tmp-" in p.name]
    assert set(fingerprint(site)) == set(before)

    def status() -> sqlite3.Row:
        return read(database, "SELECT * FROM sync_runs WHERE id = ?", (run.id,))[0]

    async def finished() -> bool:
        assert server.proc.poll() is None, server.output()
        return status()["status"] != "running"

    await until(finished, 90, every=0.1, what="the restored run to finish")
    final = status()
    assert (final["status"], final["total"], final["processed"], final["failed"]) == (
        "completed",
        2000,
        2000,
        len(failing),
    )
    failed_items = read(
        database, "SELECT idperson FROM sync_run_items WHERE run_id = ? AND status = 'failed'",
        (run.id,),
    )  # fmt: skip
    assert {str(r["idperson"]) for r in failed_items} == failing
    assert inconsistencies(database) == []
    other = await connect(h.settings.replace(db_database=str(database)))
    try:
        stored = await siswa_rows(other)
    finally:
        await other.close()
    assert stored_mismatches(sim, stored, ids - failing) == []
    assert await server.stop() == 0, server.output()


# --------------------------------------------------------------------------- the schedule


@SQLITE_ONLY
async def test_scheduled_backups_are_claimed_once_and_kept_to_backup_keep(
    h: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    settings = h.settings.replace(backup_schedule="03:00", backup_keep="3", backup_path=str(folder))
    await h.students(20)
    backups = Backups.from_settings(settings, h.db)
    assert backups is not None
    queue = Queue(h.db, default_queue=settings.db_queue)
    one = Maintenance(h.db, Sync(h.db, queue), queue, backups=backups)
    two = Maintenance(h.db, Sync(h.db, queue), queue, backups=backups)
    assert one.backup_schedule is not None
    folder.mkdir()
    foreign = [folder / "notes.txt", folder / "syncpay-manual.sqlite", folder / "syncpay.sqlite"]
    for path in foreign:
        path.write_text("not ours")
    # Temporary files of a backup cut off (a killed server): a day old, and a fresh one.
    stale = folder / "syncpay-20261101-030000.sqlite.gz.tmp-0123abcd"
    fresh = folder / "syncpay-20261130-030000.sqlite.gz.tmp-89abcdef"
    for path in (stale, fresh):
        path.write_bytes(b"half")
    os.utime(stale, (0, 0))
    assert await one.last_backup() is None

    start = dt.datetime(2026, 12, 1, 3, 0)
    taken = []
    for day in range(5):
        due = start + dt.timedelta(days=day)
        backup = await one.run_backup(due)
        assert backup is not None
        assert await two.run_backup(due) is None  # the slot is claimed: one backup a slot
        taken.append(backup)
    assert [p.name for p in our_backups(folder)] == [b.path.name for b in taken[-3:]]
    assert all(path.read_text() == "not ours" for path in foreign)
    assert not stale.exists() and fresh.exists()
    assert taken[-1].path.name == backup_name(start + dt.timedelta(days=4), compressed=True)
    with gzip.open(taken[-1].path) as gz:
        assert gz.read(16) == b"SQLite format 3\x00"
    last = await one.last_backup()
    assert last is not None and last.path == str(taken[-1].path.resolve())
    assert last.size == taken[-1].size and last.age() < 3600


async def test_backup_schedule_on_mariadb_is_logged_and_takes_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for("mysql", tmp_path, "syncpay", BACKUP_SCHEDULE="03:00")
    with caplog.at_level(logging.WARNING, logger="syncpay.backup"):
        assert Backups.from_settings(settings, None) is None  # type: ignore[arg-type]
    (line,) = [r.getMessage() for r in caplog.records]
    assert "SQLite database only" in line and "mariadb-dump" in line
    assert Backups.from_settings(settings.replace(backup_schedule=""), None) is None  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the command line


@SQLITE_ONLY
async def test_cli_gzip_round_trip_into_another_installation(h: Harness, tmp_path: Path) -> None:
    roster = await h.students(30, seed=3)
    live = Path(h.settings.db_database)
    out = syncpay_cli(tmp_path, live, "db:backup", str(tmp_path / "copy.sqlite.gz"))
    assert out.returncode == 0, out.stderr
    assert "  siswa: 30 rows" in out.stdout
    assert re.search(r"Backup written: \S+copy\.sqlite\.gz \(.+\), integrity ok\.", out.stdout)
    assert (tmp_path / "copy.sqlite.gz").stat().st_mode & 0o077 == 0
    assert out.stderr == ""

    site = await new_installation(h.settings, tmp_path / "site")
    done = syncpay_cli(tmp_path, site, "db:restore", str(tmp_path / "copy.sqlite.gz"))
    assert done.returncode == 0, done.stderr
    assert "  siswa: 30 rows" in done.stdout and "no migration to apply" in done.stdout
    names = {str(r["idperson"]) for r in read(site, "SELECT idperson FROM siswa")}
    assert names == {s["idperson"] for s in roster}
    assert integrity(site) == "ok"
    last = await last_backup(h.db)
    assert last is not None and last.path == str((tmp_path / "copy.sqlite.gz").resolve())


def test_where_a_backup_goes(tmp_path: Path) -> None:
    """No path: BACKUP_PATH (made) and our name; a folder: our name in it; a .gz name is
    compressed; an existing file is refused without --force."""
    now = dt.datetime(2026, 12, 6, 2, 0, 5, tzinfo=dt.UTC)
    folder = tmp_path / "bk"
    path, packed = target_for(None, str(folder), now, gzip=False, force=False)
    assert (path, packed) == (folder / "syncpay-20261206-020005.sqlite", False)
    assert folder.is_dir() and folder.stat().st_mode & 0o077 == 0
    assert target_for(str(folder), "x", now, gzip=True, force=False) == (
        folder / "syncpay-20261206-020005.sqlite.gz",
        True,
    )
    assert target_for(str(tmp_path / "a.sqlite.gz"), "x", now, gzip=False, force=False)[1]
    path.write_bytes(b"")
    with pytest.raises(BackupError) as refused:
        target_for(str(path), "x", now, gzip=False, force=False)
    set_language("en")
    assert words(refused.value.key, **refused.value.values) == (
        f"{path} already exists (--force replaces it)"
    )
    assert target_for(str(path), "x", now, gzip=False, force=True) == (path, False)
    with pytest.raises(BackupError) as refused:
        target_for(str(tmp_path / "no" / "b.sqlite"), "x", now, gzip=False, force=False)
    assert refused.value.key == "cli.backup.no_folder"


def _bad_files(tmp_path: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Files db:restore must refuse, each with what its one line says."""
    folder = tmp_path / "bad"
    folder.mkdir()
    text = folder / "notes.sqlite"
    text.write_text("hello, not a database\n" * 50)
    truncated = folder / "cut.sqlite.gz"
    truncated.write_bytes(gzip.compress(good.read_bytes())[:3000])
    foreign = folder / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    damaged = folder / "damaged.sqlite"
    data = bytearray(good.read_bytes())
    page = 4096
    for start in range(2 * page, len(data) - page, 3 * page):  # garbage in many pages
        data[start + 8 : start + 200] = os.urandom(192)
    damaged.write_bytes(bytes(data))
    newer = folder / "newer.sqlite"
    newer.write_bytes(good.read_bytes())
    conn = sqlite3.connect(newer)
    conn.execute("INSERT INTO migrations (migration, batch) VALUES ('9999_from_the_future', 9)")
    conn.commit()
    conn.close()
    return {
        "text": (text, "is not an SQLite database; nothing was changed"),
        "truncated": (truncated, "is not a complete gzip file; nothing was changed"),
        "foreign": (foreign, "is not a syncpay database (it has no migrations table)"),
        "damaged": (damaged, "damaged.sqlite is damaged ("),
        "newer": (newer, "was made by a newer syncpay (migrations 9999_from_the_future are"),
        "missing": (folder / "nothing-here.sqlite", "no such file"),
    }


@SQLITE_ONLY
async def test_restore_refuses_a_bad_file_with_one_line_and_changes_nothing(
    h: Harness, tmp_path: Path
) -> None:
    await h.students(5)
    good = tmp_path / "good.sqlite"
    await take_backup(Path(h.settings.db_database), good, compressed=False)
    site = await new_installation(h.settings, tmp_path / "site")
    before = fingerprint(site.parent)
    now = dt.datetime.now(dt.UTC)
    set_language("en")
    bad = _bad_files(tmp_path, good)
    for name, (path, said) in bad.items():
        with pytest.raises(BackupError) as refused:
            await asyncio.to_thread(restore, site, path, jobs_table="jobs", now=now)
        assert said in words(refused.value.key, **refused.value.values), name
        assert fingerprint(site.parent) == before, name
    # The command says it in one line (the wording does not depend on the fault).
    out = syncpay_cli(tmp_path, site, "db:restore", str(bad["newer"][0]))
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert bad["newer"][1] in out.stderr
    assert fingerprint(site.parent) == before


@SQLITE_ONLY
async def test_restore_refused_while_a_worker_pool_is_present(h: Harness, tmp_path: Path) -> None:
    """The exclusive lock is free (nobody has the file open) but the workers table has a
    live row: a pool that wrote it moments ago. Refused, named."""
    good = tmp_path / "good.sqlite"
    await take_backup(Path(h.settings.db_database), good, compressed=False)
    site = await new_installation(h.settings, tmp_path / "site")
    conn = sqlite3.connect(site)
    conn.execute(
        "INSERT INTO workers (name, queues, slots, seen_at, expires_at) VALUES "
        "('host:4242:abc', '[]', 8, strftime('%s','now'), strftime('%s','now') + 10)"
    )
    conn.commit()
    conn.close()
    before = fingerprint(site.parent)
    with pytest.raises(BackupError) as refused:
        restore(site, good, jobs_table="jobs", now=dt.datetime.now(dt.UTC))
    assert refused.value.key == "cli.restore.worker_alive"
    assert refused.value.values["name"] == "host:4242:abc"
    assert fingerprint(site.parent) == before


def test_mariadb_backup_and_restore_print_the_recipe(tmp_path: Path) -> None:
    """No database is opened: the recipe names the configured server, never the password."""
    extra = {
        "DB_CONNECTION": "mysql",
        "DB_DATABASE": "sekolah",
        "DB_HOST": "db.internal",
        "DB_PORT": "3307",
        "DB_USERNAME": "syncpay",
        "DB_PASSWORD": "s3cret-pass",
    }
    out = syncpay_cli(tmp_path, tmp_path / "x", "db:backup", **extra)
    assert out.returncode == 1, out
    assert (
        "mariadb-dump --single-transaction --routines --triggers --host=db.internal "
        "--port=3307 --user=syncpay -p sekolah" in out.stdout
    )
    assert "gunzip -c FILE.sql.gz | mariadb --host=db.internal" in out.stdout
    assert "s3cret" not in out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and "nothing was backed up" in out.stderr


# --------------------------------------------------------------------------- /healthz, /metrics


@SQLITE_ONLY
async def test_healthz_and_metrics_report_the_last_backup(
    settings: Settings, tmp_path: Path
) -> None:
    app = create_app(settings.replace(app_key=APP_KEY), workers=0)
    async with TestClient(TestServer(app)) as client:
        body = await (await client.get("/healthz")).json()
        assert body["backup"] == {"last_at": None, "age_seconds": None}
        text = await (await client.get("/metrics")).text()
        assert "\nsyncpay_backup_last_success_timestamp_seconds 0\n" in text

        db = await connect(settings)
        try:
            backup = await take_backup(
                Path(settings.db_database), tmp_path / "b.sqlite", compressed=False
            )
            await record(db, backup)
        finally:
            await db.close()
        body = await (await client.get("/healthz")).json()
        at = dt.datetime.fromisoformat(body["backup"]["last_at"])
        assert abs((at - backup.taken_at).total_seconds()) < 1
        assert 0 <= body["backup"]["age_seconds"] < 600
        assert body["status"] == "ok" and body["workers"]["state"] == "off"
        text = await (await client.get("/metrics")).text()
        found = re.search(r"\nsyncpay_backup_last_success_timestamp_seconds (\S+)\n", text)
        assert found and abs(float(found.group(1)) - backup.taken_at.timestamp()) < 1
        assert "# TYPE syncpay_backup_last_success_timestamp_seconds gauge" in text

        # `syncpay cache:clear` empties the cache, not the record (app_state): a
        # monitor must not see "no backup" after a deploy's cache:clear.
        db = await connect(settings)
        try:
            await Cache(db).clear()
        finally:
            await db.close()
        after = await (await client.get("/healthz")).json()
        assert after["backup"]["last_at"] == body["backup"]["last_at"]


async def test_a_record_of_an_older_version_in_the_cache_is_still_read(settings: Settings) -> None:
    """Before migration 0020 the last backup was recorded in the cache: still read until
    the next backup records it in app_state."""
    from syncpay.backup.auto import LAST_KEY, last_backup

    app = create_app(settings.replace(app_key=APP_KEY), workers=0)
    async with TestClient(TestServer(app)):  # migrates the database
        db = await connect(settings)
        try:
            await db.run_script("DELETE FROM app_state")  # no newer record
            value = '{"at": "2026-12-01T02:00:00+00:00", "path": "/b.sqlite", "size": 5}'
            await Cache(db).put(LAST_KEY, value, ttl=0)
            found = await last_backup(db)
            assert found is not None and (found.path, found.size) == ("/b.sqlite", 5)
            assert found.at == dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
        finally:
            await db.close()
