"""Work the server does by itself: the scheduled all-students run (``SYNC_SCHEDULE``),
the scheduled SQLite backup (``BACKUP_SCHEDULE``, ``backup/``) and the daily clean-up
(old runs and their logs, old failed jobs, the students' old history lines, expired
sessions and cache rows), so the database does not grow without bound over a school year.

With several servers on one MariaDB each slot is claimed once in the database (an insert
of the slot's key into ``cache`` that only one server wins): one server starts the run, the
others skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from .backup import Backup, Backups, LastBackup, last_backup
from .db import Database
from .queue import FailedJobs, Queue
from .schedule import Schedule, parse_schedule
from .sync.errors import RunConflict, SyncError
from .sync.runs import Sync

log = logging.getLogger("syncpay.maintenance")

#: Who the activity log names as the starter of a scheduled run.
SCHEDULED_BY = "jadwal"
#: How often a server looks whether today's clean-up was done (by it or another server).
PRUNE_EVERY = 3600.0
#: Seconds after start-up before the first clean-up (let the server settle first).
PRUNE_DELAY = 60.0
_BATCH = 200
#: History lines deleted per statement (small rows, many a day in a big school).
_HISTORY_BATCH = 1000


@dataclass
class PruneReport:
    runs: int = 0
    failed_jobs: int = 0
    history: int = 0
    sessions: int = 0
    cache: int = 0


async def prune_runs(db: Database, days: int) -> int:
    """Delete ended runs finished more than ``days`` days ago, with their items and
    logs (in batches; a running run is never touched). How many runs."""
    total = 0
    while True:
        rows = await db.fetch_all("runs_prunable", {"age": days * 86400, "limit": _BATCH})
        ids = [int(r["id"]) for r in rows]
        if not ids:
            return total

        async def delete(tx, ids: list[int] = ids) -> int:  # noqa: ANN001
            await tx.execute("run_items_delete", {"ids": ids})
            await tx.execute("run_logs_delete", {"ids": ids})
            return await tx.execute("runs_delete", {"ids": ids})

        total += await db.transact(delete)
        if len(ids) < _BATCH:
            return total


async def prune_history(db: Database, days: int) -> int:
    """Delete the students' history lines (``siswa_history``) older than ``days`` days,
    in batches. A line's age is its own (``changed_at``): its run may be gone already
    (``SYNC_PRUNE_DAYS``) or still kept. How many lines."""
    total = 0
    while True:
        rows = await db.fetch_all(
            "history_prunable", {"age": days * 86400, "limit": _HISTORY_BATCH}
        )
        ids = [int(r["id"]) for r in rows]
        if ids:
            total += await db.execute("history_delete", {"ids": ids})
        if len(ids) < _HISTORY_BATCH:
            return total


async def prune(
    db: Database, queue: Queue, *, run_days: int, failed_hours: int, history_days: int = 0
) -> PruneReport:
    """The daily clean-up (an age of 0 keeps that kind for ever)."""
    report = PruneReport()
    if run_days > 0:
        report.runs = await prune_runs(db, run_days)
    if history_days > 0:
        report.history = await prune_history(db, history_days)
    if failed_hours > 0:
        report.failed_jobs = await FailedJobs(queue).flush(failed_hours)
    report.sessions = await db.execute("sessions_prune")
    report.cache = await db.execute("cache_prune_expired")
    return report


async def claim(db: Database, key: str, ttl: int = 7 * 86400) -> bool:
    """Claim a one-off slot (``schedule:2026-11-29T02:00``) for this process; False
    when another process claimed it first."""
    return bool(await db.execute("slot_claim", {"key": f"syncpay:{key}", "value": "1", "ttl": ttl}))


class Maintenance:
    """The background task of a server process."""

    def __init__(
        self,
        db: Database,
        sync: Sync,
        queue: Queue,
        *,
        schedule: str = "",
        run_days: int = 180,
        failed_hours: int = 720,
        history_days: int = 365,
        backups: Backups | None = None,
    ) -> None:
        self.db = db
        self.sync = sync
        self.queue = queue
        self.schedule: Schedule | None = parse_schedule(schedule)
        self.run_days = run_days
        self.failed_hours = failed_hours
        self.history_days = history_days
        self.backups = backups
        self.backup_schedule = parse_schedule(backups.schedule) if backups is not None else None
        self._tasks: list[asyncio.Task[None]] = []

    def next_run(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """When the schedule starts the next run (local time), or None."""
        if self.schedule is None:
            return None
        return self.schedule.next_after(now or dt.datetime.now())

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._prune_loop(), name="syncpay prune"))
        if self.schedule is not None:
            self._tasks.append(asyncio.create_task(self._schedule_loop(), name="syncpay schedule"))
        if self.backup_schedule is not None:
            self._tasks.append(asyncio.create_task(self._backup_loop(), name="syncpay backup"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    # --- the schedule ---------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        while True:
            due = self.next_run()
            if due is None:
                return
            # Sleep in short steps: a clock change or a suspended machine is noticed.
            while (left := (due - dt.datetime.now()).total_seconds()) > 0:
                await asyncio.sleep(min(left, 30.0))
            try:
                await self.run_scheduled(due)
            except Exception:
                log.exception("Scheduled sync at %s failed to start", due.strftime("%H:%M"))

    async def run_scheduled(self, due: dt.datetime) -> int | None:
        """Start the all-students run of slot ``due`` unless another server did, or a run
        is active. The run's id, or None when skipped."""
        slot = due.strftime("%Y-%m-%dT%H:%M")
        if not await claim(self.db, f"schedule:{slot}"):
            log.info("Scheduled sync %s: started by another server.", slot)
            return None
        try:
            run = await self.sync.start(None, SCHEDULED_BY)
        except RunConflict as exc:
            log.warning("Scheduled sync %s skipped: %s", slot, exc.message)
            return None
        except SyncError as exc:
            log.warning("Scheduled sync %s not started: %s", slot, exc.message)
            return None
        log.info("Scheduled sync %s started: run #%d, %d students.", slot, run.id, run.total)
        return run.id

    # --- backups --------------------------------------------------------------------

    async def last_backup(self) -> LastBackup | None:
        """The last successful backup (any server's or command's), from the database."""
        return await last_backup(self.db)

    async def _backup_loop(self) -> None:
        while self.backup_schedule is not None:
            due = self.backup_schedule.next_after(dt.datetime.now())
            if due is None:
                return
            while (left := (due - dt.datetime.now()).total_seconds()) > 0:
                await asyncio.sleep(min(left, 30.0))
            try:
                await self.run_backup(due)
            except Exception:
                log.exception("Scheduled backup at %s failed", due.strftime("%H:%M"))

    async def run_backup(self, due: dt.datetime) -> Backup | None:
        """Take the backup of slot ``due`` unless another server did (claimed like the
        scheduled run); the backup, or None when skipped."""
        if self.backups is None:
            return None
        slot = due.strftime("%Y-%m-%dT%H:%M")
        if not await claim(self.db, f"backup:{slot}"):
            log.info("Scheduled backup %s: taken by another server.", slot)
            return None
        return await self.backups.take_scheduled(due)

    # --- clean-up -------------------------------------------------------------------

    async def _prune_loop(self) -> None:
        await asyncio.sleep(PRUNE_DELAY)
        while True:
            day = dt.date.today().isoformat()
            try:
                if await claim(self.db, f"prune:{day}", ttl=3 * 86400):
                    report = await prune(
                        self.db,
                        self.queue,
                        run_days=self.run_days,
                        failed_hours=self.failed_hours,
                        history_days=self.history_days,
                    )
                    log.info(
                        "Daily clean-up: %d runs, %d failed jobs, %d history lines, "
                        "%d sessions, %d cache rows deleted.",
                        report.runs,
                        report.failed_jobs,
                        report.history,
                        report.sessions,
                        report.cache,
                    )
            except Exception:
                log.exception("Daily clean-up failed")
            await asyncio.sleep(PRUNE_EVERY)
