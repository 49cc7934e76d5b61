"""Restoring a backup into a stopped installation (SQLite).

1. The file is checked first, on a copy made beside the database (decompressed when it
   is gzip): an SQLite database, ``PRAGMA integrity_check`` ok, syncpay's ``migrations``
   table, and no migration this version does not know (a backup of a newer syncpay).
2. The database must be unused, known two ways: SQLite's own locks (the database opened
   with ``locking_mode=EXCLUSIVE`` and ``BEGIN EXCLUSIVE``, which fails while any other
   connection has the file open: in WAL mode every open connection holds a shared lock
   on it; a server with no worker pool too), and the ``workers`` table (every worker
   pool, a server's, ``syncpay work``'s and ``syncpay sync``'s, renews its row every few
   seconds): a live row is refused, named. The lock is held to the end.
3. The copy is made ready: the job leases it holds belonged to processes of the past, so
   they are marked lapsed (the queue hands those jobs out again at once, counting the
   cut-off as usual), and the worker rows are dropped.
4. The current database is moved aside as ``<db>.before-restore-<UTC time>`` (its WAL
   folded in first, so that one file holds it all; kept), the copy renamed into place.
Migrations (an older backup brought up to date) are the caller's next step.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..db.migrate import available
from .errors import BackupError
from .files import (
    GZIP_MAGIC,
    SQLITE_MAGIC,
    copy,
    decompress,
    fsync_file,
    fsync_folder,
    head,
    remove_quietly,
    temp_beside,
)
from .take import TableRows, integrity_problem, table_rows

#: Seconds the exclusive lock is waited for (a process that only reads for a moment
#: gets this long to finish; a process that keeps the file open never lets go).
LOCK_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class Restored:
    database: Path
    #: Where the replaced database was kept (None: there was none).
    before: Path | None
    tables: TableRows
    migrations: int
    leases_freed: int
    #: The replaced database could not be read (damaged): moved aside as it was.
    unreadable: bool = False


def restore(database: Path, source: Path, *, jobs_table: str, now: dt.datetime) -> Restored:
    """Replace the SQLite database ``database`` with the backup ``source`` (blocking:
    run it in a thread). BackupError when refused; nothing changed then."""
    if not source.is_file():
        raise BackupError("cli.restore.no_file", path=str(source))
    database.parent.mkdir(parents=True, exist_ok=True)
    work = temp_beside(database)
    try:
        _unpack(source, work)
        tables, migrations, freed = _prepare(work, source, jobs_table)
        with _exclusive(database) as unreadable:
            before = _set_aside(database, now) if database.exists() else None
            os.replace(work, database)
            fsync_folder(database.parent)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BackupError("cli.restore.io", path=str(database), reason=reason) from exc
    finally:
        remove_quietly(work)
    return Restored(database, before, tables, migrations, freed, unreadable)


def _unpack(source: Path, work: Path) -> None:
    try:
        if head(source, 2) == GZIP_MAGIC:
            decompress(source, work)
        else:
            copy(source, work)
    except (EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise BackupError("cli.restore.bad_gzip", path=str(source)) from exc


def _prepare(work: Path, source: Path, jobs_table: str) -> tuple[TableRows, int, int]:
    """Check the copy (see the module's text) and make it ready; its tables, how many
    migrations it has, how many leases were freed."""
    if head(work, len(SQLITE_MAGIC)) != SQLITE_MAGIC:
        raise BackupError("cli.restore.not_sqlite", path=str(source))
    try:
        conn = sqlite3.connect(work, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError("cli.restore.not_sqlite", path=str(source)) from exc
    try:
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()
        problem = integrity_problem(conn)
        if problem is not None:
            raise BackupError("cli.restore.damaged", path=str(source), problem=problem)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "migrations" not in names:
            raise BackupError("cli.restore.not_ours", path=str(source))
        applied = [str(r[0]) for r in conn.execute("SELECT migration FROM migrations ORDER BY id")]
        known = {m.name for m in available("sqlite")}
        unknown = [name for name in applied if name not in known]
        if unknown:
            raise BackupError("cli.restore.newer", path=str(source), names=", ".join(unknown))
        freed = 0
        if jobs_table in names:
            quoted = '"' + jobs_table.replace('"', '""') + '"'
            cursor = conn.execute(
                f"UPDATE {quoted} SET reserved_at = 0 WHERE reserved_at IS NOT NULL"
            )
            freed = max(0, cursor.rowcount)
        if "workers" in names:
            conn.execute("DELETE FROM workers")
        tables = table_rows(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError("cli.restore.damaged", path=str(source), problem=str(exc)) from exc
    finally:
        conn.close()
    fsync_file(work)
    return tables, len(applied), freed


def _busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


@contextlib.contextmanager
def _exclusive(database: Path) -> Iterator[bool]:
    """Hold ``database`` exclusively (see the module's text), its WAL folded into the
    file; yields True when the file is not a database we can read (damaged: nobody can
    be using it either)."""
    if not database.exists():
        yield False
        return
    conn = sqlite3.connect(database, timeout=LOCK_WAIT, isolation_level=None)
    try:
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE").fetchall()
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise BackupError("cli.restore.in_use", path=str(database)) from exc
            yield True
            return
        except sqlite3.DatabaseError:
            yield True
            return
        live = _live_workers(conn)
        conn.execute("COMMIT")  # the lock stays: locking_mode=EXCLUSIVE never lets go
        if live:
            name, left = live[0]
            raise BackupError("cli.restore.worker_alive", name=name, seconds=left)
        # WAL folded into the database file, which is then the whole of it.
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()
        yield False
    finally:
        conn.close()


def _live_workers(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    try:
        rows = conn.execute(
            "SELECT name, expires_at - CAST(strftime('%s', 'now') AS INTEGER) FROM workers "
            "WHERE expires_at > CAST(strftime('%s', 'now') AS INTEGER) ORDER BY name"
        ).fetchall()
    except sqlite3.OperationalError:  # no workers table (a database older than 0014)
        return []
    return [(str(name), int(left)) for name, left in rows]


def _set_aside(database: Path, now: dt.datetime) -> Path:
    """Rename the database to ``<db>.before-restore-<UTC time>``; its -wal/-shm/-journal
    (empty now: nobody else has the file open, its WAL is folded in) are removed."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
    before = database.with_name(f"{database.name}.before-restore-{stamp}")
    os.replace(database, before)
    for suffix in ("-wal", "-shm", "-journal"):
        side = database.with_name(database.name + suffix)
        if side.exists():
            if suffix == "-wal" and side.stat().st_size > 0:
                os.replace(side, before.with_name(before.name + suffix))
            else:
                remove_quietly(side)
    return before
