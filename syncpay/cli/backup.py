"""``db:backup`` and ``db:restore``: an SQLite database's backups (``syncpay.backup``);
on MariaDB, what ``mariadb-dump`` and ``mariadb`` commands do it instead."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shlex
import sys
from pathlib import Path

from ..backup import Backup, BackupError, Restored, record, restore, take_backup, target_for
from ..config import Settings
from ..db import connect, migrate, tables_for
from .base import CliError, Context, command
from .output import words, words_n

# --------------------------------------------------------------------------- db:backup


def _backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="the backup file, or a folder for a file named syncpay-YYYYmmdd-HHMMSS.sqlite "
        "in it (default: BACKUP_PATH)",
    )
    parser.add_argument(
        "--gzip", action="store_true", help="gzip-compress it (also when PATH ends with .gz)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")


def size_text(size: int) -> str:
    """``812 B``, ``4.2 MB``: the size of a file, in the units every language reads."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _failure(exc: BackupError) -> CliError:
    return CliError(words(exc.key, **exc.values))


@command("db:backup", "back up the SQLite database (while it runs)", _backup_arguments,
         needs_db=False)  # fmt: skip
async def db_backup(ctx: Context) -> int:
    """Copy the SQLite database while the server and syncs run (SQLite's online backup:
    one consistent snapshot), check the copy (integrity_check, the rows of every table),
    and give it its name only when it is complete. On MariaDB: the mariadb-dump recipe."""
    s = ctx.settings
    if s.db_connection != "sqlite":
        ctx.out(mariadb_recipe(s))
        raise CliError(words("cli.backup.sqlite_only"))
    now = dt.datetime.now(dt.UTC)
    try:
        target, compressed = target_for(
            ctx.args.path, s.backup_path, now, gzip=ctx.args.gzip, force=ctx.args.force
        )
        backup = await take_backup(Path(s.db_database), target, compressed=compressed)
    except BackupError as exc:
        raise _failure(exc) from None
    for table, rows in backup.tables:
        ctx.say(words("cli.backup.table", table=table, rows=rows))
    await _record(ctx, backup)
    ctx.out(
        words(
            "cli.backup.done",
            path=str(backup.path),
            size=size_text(backup.size),
            seconds=f"{backup.seconds:.1f}",
        )
    )
    return 0


async def _record(ctx: Context, backup: Backup) -> None:
    """The last successful backup, in the database (for /healthz, /metrics)."""
    try:
        db = await connect(ctx.settings, create=False, retry_for=5.0)
        try:
            await record(db, backup)
        finally:
            await db.close()
    except Exception as exc:
        print(words("cli.backup.not_recorded", reason=str(exc)), file=sys.stderr)


def _mysql_options(s: Settings) -> str:
    return " ".join(
        [
            f"--host={shlex.quote(s.db_host)}",
            f"--port={s.db_port}",
            f"--user={shlex.quote(s.db_username)}",
            "-p",
            shlex.quote(s.db_database),
        ]
    )


def mariadb_recipe(s: Settings) -> str:
    """The backup and restore commands for this MariaDB database (no password: ``-p``
    asks for it)."""
    options = _mysql_options(s)
    name = "syncpay-$(date -u +%Y%m%d-%H%M%S).sql.gz"
    return "\n".join(
        [
            "# " + words("cli.backup.mysql_dump"),
            f"mariadb-dump --single-transaction --routines --triggers {options} | gzip > {name}",
            "# " + words("cli.backup.mysql_restore"),
            f"gunzip -c FILE.sql.gz | mariadb {options} && syncpay migrate",
            "# " + words("cli.backup.mysql_docs"),
        ]
    )


# --------------------------------------------------------------------------- db:restore


def _restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a backup file (.sqlite or .sqlite.gz)")


@command("db:restore", "restore the SQLite database from a backup (server stopped)",
         _restore_arguments, needs_db=False)  # fmt: skip
async def db_restore(ctx: Context) -> int:
    """Check the backup, refuse while a server, worker or command uses the database,
    keep the current database beside it (<db>.before-restore-<time>), put the backup in
    its place and bring it up to date (migrations)."""
    s = ctx.settings
    if s.db_connection != "sqlite":
        ctx.out(mariadb_recipe(s))
        raise CliError(words("cli.restore.sqlite_only"))
    database = Path(s.db_database)
    try:
        restored = await asyncio.to_thread(
            restore,
            database,
            Path(ctx.args.path),
            jobs_table=s.db_queue_table,
            now=dt.datetime.now(dt.UTC),
        )
    except BackupError as exc:
        raise _failure(exc) from None
    _report(ctx, restored)
    applied = await _migrate(s)
    if applied:
        for name in applied:
            ctx.say(words("cli.restore.migrated", name=name))
    else:
        ctx.say(words("cli.restore.up_to_date"))
    ctx.out(words("cli.restore.done", path=str(database)))
    return 0


def _report(ctx: Context, restored: Restored) -> None:
    for table, rows in restored.tables:
        ctx.say(words("cli.backup.table", table=table, rows=rows))
    if restored.before is not None:
        key = "cli.restore.kept_unreadable" if restored.unreadable else "cli.restore.kept"
        ctx.say(words(key, path=str(restored.before)))
    if restored.leases_freed:
        ctx.say(words_n("cli.restore.leases", restored.leases_freed))


async def _migrate(s: Settings) -> list[str]:
    try:
        db = await connect(s, create=False)
        try:
            return await migrate(db, tables_for(s))
        finally:
            await db.close()
    except Exception as exc:
        raise CliError(words("cli.restore.migrate_failed", reason=str(exc))) from None
