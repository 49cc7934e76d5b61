"""Taking a backup of a live SQLite database and checking it.

The copy is SQLite's online backup (``sqlite3.Connection.backup``) on a connection of
its own, in one step: in WAL mode that is one read transaction, a consistent snapshot,
and the server's writers go on meanwhile (a copy in several steps would start again
each time another connection writes, and might never end during a sync). The copy is
written to a temporary name beside the target, fsynced, checked (``PRAGMA
integrity_check`` and every table's rows counted), gzip-compressed when asked, and only
then renamed to its name: a backup file is whole or absent.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import BackupError
from .files import (
    backup_name,
    compress,
    fsync_file,
    fsync_folder,
    make_folder,
    private,
    remove_quietly,
    temp_beside,
)

#: Seconds the copy may wait for a lock (a WAL database's reader hardly ever waits).
BUSY_TIMEOUT = 30.0

TableRows = tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    size: int
    seconds: float
    #: When the snapshot was read (UTC).
    taken_at: dt.datetime
    #: Every table of the copy with its rows, by name.
    tables: TableRows
    compressed: bool


def target_for(
    given: str | None, folder: str, now: dt.datetime, *, gzip: bool, force: bool
) -> tuple[Path, bool]:
    """Where a backup goes and whether it is compressed: ``given`` (a file, or a folder
    for a file of our name in it), else ``folder``/our name. An existing file is refused
    unless ``force``."""
    if given is None:
        path = Path(folder) / backup_name(now, compressed=gzip)
        make_folder(path.parent)
    else:
        path = Path(given)
        if path.is_dir():
            path = path / backup_name(now, compressed=gzip)
        gzip = gzip or path.name.endswith(".gz")
        if not path.parent.is_dir():
            raise BackupError("cli.backup.no_folder", path=str(path.parent))
    if path.exists() and (not force or not path.is_file()):
        raise BackupError("cli.backup.exists", path=str(path))
    return path, gzip


def table_rows(conn: sqlite3.Connection) -> TableRows:
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    counted: list[tuple[str, int]] = []
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        counted.append((name, int(conn.execute(f"SELECT COUNT(*) FROM {quoted}").fetchone()[0])))
    return tuple(counted)


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """None when ``PRAGMA integrity_check`` says ok, else its first complaint."""
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    if [tuple(r) for r in rows] == [("ok",)]:
        return None
    return str(rows[0][0]) if rows else "no answer"


def verify(path: Path) -> TableRows:
    """Check a (plain) database file: integrity, then the rows of each table."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT)
    try:
        problem = integrity_problem(conn)
        if problem is not None:
            raise BackupError("cli.backup.integrity", path=str(path), problem=problem)
        return table_rows(conn)
    finally:
        conn.close()


def take(database: Path, target: Path, *, compressed: bool) -> Backup:
    """Back up the SQLite database ``database`` into ``target`` (blocking: run it in a
    thread). BackupError when it cannot; nothing is left at ``target`` then."""
    if not database.is_file():
        raise BackupError("cli.backup.no_database", path=str(database))
    started = time.monotonic()
    taken_at = dt.datetime.now(dt.UTC)
    plain = temp_beside(target)
    packed = temp_beside(target)
    try:
        _copy(database, plain)
        tables = verify(plain)
        if compressed:
            compress(plain, packed)
            remove_quietly(plain)
            final = packed
        else:
            final = plain
        os.replace(final, target)
        fsync_folder(target.parent)
    except sqlite3.Error as exc:
        raise BackupError("cli.backup.failed", path=str(database), reason=str(exc)) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BackupError("cli.backup.write_failed", path=str(target), reason=reason) from exc
    finally:
        remove_quietly(plain, packed)
    return Backup(
        path=target,
        size=target.stat().st_size,
        seconds=time.monotonic() - started,
        taken_at=taken_at,
        tables=tables,
        compressed=compressed,
    )


def _copy(database: Path, plain: Path) -> None:
    """The online copy: one snapshot of ``database`` into the new file ``plain``, which
    is left a self-contained file (journal mode DELETE: no -wal beside a backup)."""
    source = sqlite3.connect(database, timeout=BUSY_TIMEOUT)
    try:
        copy = sqlite3.connect(plain)
        try:
            private(plain)
            source.backup(copy)  # pages=-1: the whole database in one step
            copy.execute("PRAGMA journal_mode=DELETE").fetchall()
        finally:
            copy.close()
    finally:
        source.close()
    fsync_file(plain)
