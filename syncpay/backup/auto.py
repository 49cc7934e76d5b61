"""The server's scheduled backups (``BACKUP_SCHEDULE``) and the record of the last
successful backup, kept in the ``app_state`` table (``syncpay:backup:last``; migration
0020) so that every server, ``/healthz`` and ``/metrics`` see the same one, whoever took
it, and ``syncpay cache:clear`` does not make a monitor think there is none."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..db import Database
from ..db.cache import Cache
from .files import backup_name, make_folder, prune
from .take import Backup, take

log = logging.getLogger("syncpay.backup")

LAST_KEY = "syncpay:backup:last"


@dataclass(frozen=True, slots=True)
class LastBackup:
    at: dt.datetime
    path: str
    size: int

    def age(self, now: dt.datetime | None = None) -> int:
        """Whole seconds since the backup's snapshot (0 for a clock behind it)."""
        now = now or dt.datetime.now(dt.UTC)
        return max(0, int((now - self.at).total_seconds()))


async def take_backup(database: Path, target: Path, *, compressed: bool) -> Backup:
    """:func:`take` in a thread: the event loop (and the server's pages) go on."""
    return await asyncio.to_thread(take, database, target, compressed=compressed)


async def record(db: Database, backup: Backup) -> None:
    value = {
        "at": backup.taken_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "path": str(backup.path.resolve()),
        "size": backup.size,
    }
    await db.execute("state_put", {"name": LAST_KEY, "value": json.dumps(value)})


async def last_backup(db: Database) -> LastBackup | None:
    """The last successful backup recorded in the database, or None."""
    text = await db.fetch_value("state_get", {"name": LAST_KEY})
    if text is None:
        # Recorded by a version before migration 0020, in the cache.
        text = await Cache(db).get(LAST_KEY)
    if text is None:
        return None
    try:
        value = json.loads(text)
        at = dt.datetime.fromisoformat(str(value["at"]))
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        return LastBackup(at, str(value.get("path", "")), int(value.get("size", 0)))
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class Backups:
    """What the server's scheduled backup needs: the database, its file, the folder,
    how many to keep and the schedule's text."""

    db: Database
    database: Path
    folder: Path
    keep: int
    schedule: str

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> Backups | None:
        """None when ``BACKUP_SCHEDULE`` is empty, or on MariaDB (logged once: its
        backups are ``mariadb-dump``'s, docs/deploy.md)."""
        if not settings.backup_schedule:
            return None
        if settings.db_connection != "sqlite" or settings.db_database == ":memory:":
            log.warning(
                "BACKUP_SCHEDULE is set, but automatic backups are for an SQLite database "
                "only: back up MariaDB with mariadb-dump --single-transaction (docs/deploy.md, "
                "Backups). No automatic backup will be taken."
            )
            return None
        return cls(
            db,
            Path(settings.db_database),
            Path(settings.backup_path),
            settings.backup_keep,
            settings.backup_schedule,
        )

    async def take_scheduled(self, now: dt.datetime | None = None) -> Backup:
        """One scheduled backup (gzip-compressed, our name in the folder), recorded as the
        last one; then the folder pruned to ``keep`` of our files."""
        now = now or dt.datetime.now(dt.UTC)
        await asyncio.to_thread(make_folder, self.folder)
        target = self.folder / backup_name(now, compressed=True)
        backup = await take_backup(self.database, target, compressed=True)
        await record(self.db, backup)
        deleted = await asyncio.to_thread(prune, self.folder, self.keep)
        log.info(
            "Backup written: %s (%d bytes, %.1f s); %d older backup(s) deleted.",
            backup.path,
            backup.size,
            backup.seconds,
            len(deleted),
        )
        return backup
