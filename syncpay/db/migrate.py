"""Versioned, forward-only migrations: ``migrations/<dialect>/NNNN_name.sql``.

Both dialects have the same file names (a test checks), so a migration means the
same on SQLite and MySQL. Applied names are recorded in ``migrations`` (Laravel's
table); running again applies only what is missing. Two processes starting at once
are serialised: SQLite by the immediate transaction each file runs in, MySQL by a
named server lock.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from .base import Database, Tx
from .mysql import MysqlDatabase

# A Path, or a zipfile.Path when running from syncpay.pyz.
MIGRATIONS_DIR = resources.files("syncpay") / "db" / "migrations"
log = logging.getLogger("syncpay.db")
BOOTSTRAP = "0000_create_migrations_table"
LOCK_NAME = "syncpay:migrate"


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    path: Traversable

    def script(self, tables: dict[str, str]) -> str:
        text = self.path.read_text(encoding="utf-8")
        for key, table in tables.items():
            text = text.replace("{" + key + "}", table)
        return text


def available(dialect: str) -> list[Migration]:
    folder = MIGRATIONS_DIR / dialect
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [Migration(p.name.removesuffix(".sql"), p) for p in files]


async def applied(db: Database) -> list[str]:
    return [row["migration"] for row in await db.fetch_all("migrations_applied")]


async def newer(db: Database) -> list[str]:
    """Applied migrations this version does not know: a newer syncpay upgraded the
    database (run the newer version, or restore the backup taken before the upgrade)."""
    known = {m.name for m in available(db.dialect)}
    try:
        done = await applied(db)
    except Exception:
        return []
    return [name for name in done if name not in known]


async def migrate(
    db: Database, tables: dict[str, str], *, only: Collection[str] | None = None
) -> list[str]:
    """Apply what is missing; the names applied now (empty when up to date). Logs a
    warning when the database holds migrations of a newer version. ``only``: just these
    migrations (by name; the queue's tables alone, for ``syncpay.queue.open_queue``)."""
    lock = None
    if isinstance(db, MysqlDatabase):
        lock = await db.named_lock(LOCK_NAME, 60)
    try:
        migrations = available(db.dialect)
        bootstrap = migrations[0]
        assert bootstrap.name == BOOTSTRAP
        await db.run_script(bootstrap.script(tables))

        async def apply(tx: Tx) -> list[str]:
            # Read and apply under one write transaction (SQLite: BEGIN IMMEDIATE), so a
            # second process starting now waits and then finds everything applied.
            done = {row["migration"] for row in await tx.fetch_all("migrations_applied")}
            batch = int(await tx.fetch_value("migrations_last_batch") or 0) + 1
            ran: list[str] = []
            for migration in migrations:
                if migration.name in done or (only is not None and migration.name not in only):
                    continue
                await tx.run_statements(migration.script(tables))
                await tx.execute("migrations_record", {"migration": migration.name, "batch": batch})
                ran.append(migration.name)
            return ran

        ran = await db.transact(apply)
        unknown = await newer(db)
        if unknown:
            log.warning(
                "The database was upgraded by a newer syncpay (migrations %s are unknown to "
                "this version): run the newer version.",
                ", ".join(unknown),
            )
        return ran
    finally:
        if lock is not None and isinstance(db, MysqlDatabase):
            await db.named_unlock(lock, LOCK_NAME)


async def status(db: Database) -> list[tuple[str, bool]]:
    """Every migration this version knows, and whether it has been applied."""
    try:
        done = set(await applied(db))
    except Exception:
        done = set()
    return [(m.name, m.name in done) for m in available(db.dialect)]
