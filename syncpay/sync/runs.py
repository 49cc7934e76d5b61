"""Sync runs: start, cancel, reset, progress — and the exact accounting of each student.

A run covers a scope of students and counts each of them once. Students are queued
one job per student (``unique_key`` = ``siswa:<idperson>``): a student in two active
runs is queued once, and when that job finishes it counts for every active run that
covers the student and has not counted it yet — in the transaction that removes the
job from the queue (see :func:`record_success` and :func:`record_failure`). The
primary key of ``sync_run_items`` (run, student) is the last guard of "counted once".
A transaction adds its counts to the runs' rows as its last statements (``_Counts``),
so workers' rounds only queue on a run's row for the moment of their commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ..db import Database, Row, Tx
from ..i18n import DEFAULT, LOG_PREFIX, REASON_PREFIX, catalogs
from ..queue import Queue
from ..queue.failed import forget_failed
from ..queue.worker import serving
from .money import Totals
from .progress import Progress, iso, percent
from .records import FailedStudent, LogLine, Run, RunSummary, stored_values
from .scope import Scope

DISPATCH_JOB = "sync.dispatch"
STUDENT_JOB = "sync.student"
#: Final failures logged one by one per run; past this, one summary line.
MAX_FAILURE_LINES = 200
#: The sliding window for the rate and the ETA (seconds).
RATE_WINDOW = 30
#: Seconds a run may go without any worker pool serving its queue before its progress
#: says ``waiting_for_worker`` (a pool writes its presence at once when it starts).
WORKER_GRACE = 3
#: The wait for the next retry is looked up only while the estimate is shorter than this
#: (seconds) or unknown: a longer estimate covers any backoff, and the lookup reads every
#: student the run still waits for (cheap near the end, where it matters).
RETRY_CHECK_BELOW = 300
#: The default language's words of two refusals (kept for library users and tests).
ALREADY_RUNNING = catalogs().text(DEFAULT, "sync.err.already_running")
NO_STUDENTS = catalogs().text(DEFAULT, "sync.err.no_students")

log = logging.getLogger("syncpay.sync")


class SyncError(Exception):
    """A refusal: its catalogue ``key`` (``sync.err.*``) and the ``values`` the key's
    text needs, for each caller to word it in its own language; ``message`` (and
    ``str()``) is that text in the catalogues' default language (Indonesian).

    ``status`` stays for the library's users (docs/library.md names it) and the web
    error middleware's fallback; the sync routes map the exception's type themselves."""

    status = 400

    def __init__(
        self, key: str, values: Mapping[str, Any] | None = None, run: Run | None = None
    ) -> None:
        self.key = key
        self.values: dict[str, Any] = dict(values or {})
        self.message = catalogs().text(DEFAULT, key, **self.values)
        super().__init__(self.message)
        self.run = run


class RunConflict(SyncError):
    status = 409


class NoStudents(SyncError):
    status = 400


class RunNotFound(SyncError):
    status = 404


def _duplicate_key(exc: BaseException) -> bool:
    """A unique key refused the write: SQLite's IntegrityError, or MySQL error 1062."""
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    return type(exc).__module__.startswith("pymysql") and exc.args[:1] == (1062,)


def student_key(idperson: str) -> str:
    return f"siswa:{idperson}"


def dispatch_key(run_id: int) -> str:
    return f"dispatch:{run_id}"


# --- accounting, inside the job's own transaction ------------------------------------------


def log_message(key: str, values: Mapping[str, Any]) -> str:
    """The Indonesian text of an activity-log line: the catalogue's ``js.log.<key>``
    filled with ``values`` (what ``message`` holds, and what the CLI prints)."""
    template = catalogs().messages[DEFAULT].get(LOG_PREFIX + key)
    if template is not None:
        try:
            return template.format_map(dict(values))
        except (KeyError, IndexError, ValueError, AttributeError):
            pass
    # A programming error (a test checks every key and its values); the line is kept.
    log.error("activity log: %s%s does not fit %r", LOG_PREFIX, key, sorted(values))
    return f"{key}: {json.dumps(dict(values), ensure_ascii=False, default=str)}"


async def log_line(tx: Tx, run_id: int, key: str, level: str = "info", /, **values: Any) -> None:
    """Write a line of the run's activity log: the key of its template
    (``js.log.<key>`` in the catalogues) and its values, which a page words in its own
    language, and the Indonesian text as ``message``. Whatever comes from outside (a
    student's name, an API's error) is a value, never part of a template."""
    await tx.execute(
        "sync_log_insert",
        {
            "run_id": run_id,
            "level": level,
            "message": log_message(key, values),
            "key": key,
            "values": json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str),
        },
    )


async def _covering(tx: Tx, idperson: str) -> tuple[dict[str, Any] | None, list[Run]]:
    """The student's row, and the active runs that queued the student and have not
    counted it yet.

    Holds the shared side of the sync lock (MySQL) until the commit: counting
    transactions run side by side, a cancel waits for them, so a cancel and a student's
    write never interleave."""
    runs = await _active_runs(tx)
    if not runs:
        return None, []
    prefetched: dict[str, list[Row]] | None = tx.extras.get(PREFETCHED)
    # Taken once: a second job of the same student in this round reads its rows again.
    rows = prefetched.pop(idperson.lower(), None) if prefetched is not None else None
    if rows is None:
        rows = await tx.fetch_all(
            "sync_items_queued_for", {"idperson": idperson, "run_ids": [r.id for r in runs]}
        )
    waiting = {int(r["run_id"]) for r in rows}
    covering = [r for r in runs if r.id in waiting]
    if not covering:
        return None, []
    student = {k: v for k, v in rows[0].items() if k not in ("run_id", "item_idperson")}
    return (student if student["idperson"] is not None else None), covering


#: tx.extras key: the rows of ``sync_items_queued_for`` read ahead for a round's students
#: (by idperson lower-cased, as MySQL compares them; the roster stores them upper-cased).
PREFETCHED = "sync.covering"


async def prefetch_covering(tx: Tx, idpersons: Sequence[str]) -> None:
    """Read what :func:`_covering` needs for all of a round's students in one query
    (each student's hook then takes its rows instead of a round trip of its own). Read
    at the same point of the transaction as the first hook would, after the round's
    acks; only this round's students' own hooks change their rows meanwhile."""
    wanted = sorted(set(idpersons))
    if len(wanted) < 2:
        return
    runs = await _active_runs(tx)
    if not runs:
        return
    rows = await tx.fetch_all(
        "sync_items_queued_for_many", {"idpersons": wanted, "run_ids": [r.id for r in runs]}
    )
    found: dict[str, list[Row]] = {i.lower(): [] for i in wanted}
    for row in rows:
        found.setdefault(str(row["item_idperson"]).lower(), []).append(row)
    tx.extras[PREFETCHED] = found


async def _active_runs(tx: Tx) -> list[Run]:
    """The active runs, read once per transaction (with the shared side of the sync
    lock first, on MySQL). Read at the first student's hook, after the round has
    deleted all its jobs: a run whose dispatcher queued one of these students again
    committed before that delete (it waited for the job's row), so it is seen here."""
    runs: list[Run] | None = tx.extras.get("sync.active")
    if runs is None:
        if not tx.single_writer:
            await tx.fetch_all("sync_fence_share")
        runs = [Run.from_row(r) for r in await tx.fetch_all("sync_runs_active")]
        tx.extras["sync.active"] = runs
    return runs


class _Counts:
    """What one transaction counted per run, added to the runs' rows just before its
    COMMIT: a run's row is locked for a few statements, not for a worker's whole round,
    so the rounds of several workers do not wait for each other."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.runs: dict[int, list[int]] = {}  # run id -> [processed, failed, unchanged]

    @classmethod
    def of(cls, tx: Tx) -> _Counts:
        counts: _Counts | None = tx.extras.get("sync.counts")
        if counts is None:
            counts = tx.extras["sync.counts"] = cls(tx)
            tx.before_commit("sync.counts", counts.flush)
        return counts

    def add(self, run_id: int, status: str) -> None:
        row = self.runs.setdefault(run_id, [0, 0, 0])
        row[0] += 1
        row[1] += status == "failed"
        row[2] += status == "unchanged"

    async def flush(self) -> None:
        for run_id in sorted(self.runs):  # one order everywhere: no deadlock between rounds
            processed, failed, unchanged = self.runs[run_id]
            counted = await self.tx.execute(
                "sync_run_count",
                {"id": run_id, "processed": processed, "failed": failed, "unchanged": unchanged},
            )
            if not counted:
                log.error("run %s: %s students not counted (beyond its total)", run_id, processed)
                continue
            if await self.tx.execute("sync_run_complete", {"id": run_id}):
                await log_completion(self.tx, run_id)
        self.runs.clear()


async def _count(
    tx: Tx, run: Run, idperson: str, status: str, attempts: int, reason: str | None, name: str
) -> None:
    finished = await tx.execute(
        "sync_item_finish",
        {
            "run_id": run.id,
            "idperson": idperson,
            "status": status,
            "attempts": attempts,
            "reason": reason,
        },
    )
    if not finished:
        return  # counted already (a duplicate delivery)
    _Counts.of(tx).add(run.id, status)
    if status == "failed":
        logged = int(await tx.fetch_value("sync_log_count", {"run_id": run.id, "level": "error"}))
        if logged < MAX_FAILURE_LINES:
            await log_line(
                tx, run.id, "student_failed", "error", name=name, idperson=idperson, reason=reason
            )
        elif logged == MAX_FAILURE_LINES:
            await log_line(tx, run.id, "failures_not_listed", "error")


async def log_completion(tx: Tx, run_id: int) -> None:
    row = await tx.fetch_one("sync_run_get", {"id": run_id})
    assert row is not None
    done = Run.from_row(row)
    await log_line(tx, run_id, "finished", "success", success=done.succeeded, failed=done.failed)
    retries = int(await tx.fetch_value("sync_item_retries", {"run_id": run_id}) or 0)
    if retries or done.unchanged:
        await log_line(
            tx, run_id, "unchanged_retries", "info", unchanged=done.unchanged, retries=retries
        )


async def record_success(
    tx: Tx, idperson: str, answer: str, digest: str, totals: Totals, attempts: int
) -> bool:
    """Store a student's answer and count it for every active run covering the student.

    Writes nothing when no active run covers the student any more (a cancelled run);
    does not rewrite the payment when the answer is unchanged. Whether it counted."""
    student, runs = await _covering(tx, idperson)
    if not runs:
        return False
    if student is None:
        # Removed from the roster meanwhile: nothing to store, but the runs that
        # queued the student still count it.
        for run in runs:
            gone = catalogs().messages[DEFAULT][REASON_PREFIX + "not_in_roster"]
            await _count(tx, run, idperson, "failed", attempts, gone, idperson)
        return True
    if student["sync_error"] is not None:
        # Its last sync failed: that failure leaves queue:failed (see forget_failures).
        await forget_failures(tx, idperson)
    unchanged = student["pembayaran_hash"] == digest
    if unchanged:
        await tx.execute("siswa_mark_synced", {"idperson": idperson})
    else:
        row = {
            k: (str(v) if not isinstance(v, bool) else int(v)) for k, v in totals.as_row().items()
        }
        await tx.execute(
            "siswa_store_payment",
            {"idperson": idperson, "pembayaran": answer, "hash": digest, **row},
        )
    status = "unchanged" if unchanged else "done"
    for run in runs:
        await _count(tx, run, idperson, status, attempts, None, str(student["nama"]))
    return True


async def forget_failures(tx: Tx, idperson: str, *, keep_latest: bool = False) -> None:
    """The rule of ``queue:failed`` for students: a student's failed ``sync.student`` jobs
    are gone once a later run counts the student — synced (a retry, or any run), or
    failed again, when only that newest failure is kept. In the counting transaction;
    called only for a student whose last sync failed (``siswa.sync_error`` set), so the
    usual success costs nothing."""
    await forget_failed(tx, STUDENT_JOB, {"idperson": idperson}, keep_latest=keep_latest)


async def record_retry(tx: Tx, idperson: str, reason: str, attempts: int) -> None:
    """Keep the error of a failed attempt on the student's queued items: the page shows
    it if a later attempt is cut off (its worker killed) and the student fails with the
    queue's "attempted too many times" instead of the API's own error."""
    runs = [run.id for run in await _active_runs(tx)]
    if runs:
        await tx.execute(
            "sync_item_note_error",
            {"run_ids": runs, "idperson": idperson, "reason": reason[:1000], "attempts": attempts},
        )


async def record_failure(
    tx: Tx, idperson: str, reason: str, attempts: int, *, cut_off: bool = False
) -> bool:
    """Count a student that failed for good (once, for every active run covering it).
    ``cut_off``: its attempts ran out without an error of their own (the workers that
    took it vanished); the student's last real error is shown with the queue's reason."""
    student, runs = await _covering(tx, idperson)
    if not runs:
        return False
    if cut_off:
        last = await tx.fetch_value(
            "sync_item_last_error", {"run_ids": [r.id for r in runs], "idperson": idperson}
        )
        if last:
            note = catalogs().messages[DEFAULT][REASON_PREFIX + "cut_off"]
            reason = f"{last} ({note}: {reason})"
    if student is not None:
        if student["sync_error"] is not None:
            await forget_failures(tx, idperson, keep_latest=True)
        await tx.execute("siswa_mark_error", {"idperson": idperson, "reason": reason[:1000]})
    name = str(student["nama"]) if student is not None else idperson
    for run in runs:
        await _count(tx, run, idperson, "failed", attempts, reason[:1000], name)
    return True


# --- the verbs --------------------------------------------------------------------------


class Sync:
    """Runs over one database and its queue."""

    def __init__(self, db: Database, queue: Queue) -> None:
        self.db = db
        self.queue = queue

    async def get(self, run_id: int) -> Run:
        row = await self.db.fetch_one("sync_run_get", {"id": run_id})
        if row is None:
            raise RunNotFound("sync.err.run_not_found", {"run": run_id})
        return Run.from_row(row)

    async def latest(self) -> Run | None:
        row = await self.db.fetch_one("sync_run_latest")
        return None if row is None else Run.from_row(row)

    async def active(self) -> list[Run]:
        return [Run.from_row(r) for r in await self.db.fetch_all("sync_runs_active")]

    async def recent(self, limit: int = 10) -> list[Run]:
        return [
            Run.from_row(r) for r in await self.db.fetch_all("sync_runs_recent", {"limit": limit})
        ]

    async def fingerprint(self) -> tuple[tuple[Any, ...], ...]:
        """A cheap "has anything changed?" value for live pages: it differs whenever a
        run starts, counts a student, ends or is reset, or a log line is written."""
        rows = await self.db.fetch_all("sync_live_fingerprint")
        return tuple(
            sorted(
                (
                    int(r["id"]),
                    str(r["status"]),
                    int(r["total"]),
                    int(r["processed"]),
                    int(r["failed"]),
                    r["cleared_at"],
                    r["max_log"],
                )
                for r in rows
            )
        )

    async def scopes(self) -> list[tuple[str | None, str | None]]:
        """The (unit, class) pairs the roster holds, sorted."""
        rows = await self.db.fetch_all("sync_scopes")
        return [(r["unit"], r["kelas"]) for r in rows]

    async def history(self, limit: int = 10) -> list[RunSummary]:
        """The recent runs (newest first), with their counts and durations."""
        runs = await self.recent(limit)
        now = int(await self.db.fetch_value("sync_now")) if runs else 0
        return [
            RunSummary(
                run_id=run.id,
                status=run.status,
                scope=run.scope_label,
                scope_type=run.scope.kind,
                scope_detail=run.scope.detail(),
                started_by=run.started_by,
                started_at=iso(run.started_at),
                finished_at=iso(run.finished_at),
                duration_seconds=max(0, (run.finished_at or now) - run.started_at),
                total=run.total,
                processed=run.processed,
                failed=run.failed,
                success_count=run.succeeded,
                unchanged=run.unchanged,
                percent=percent(run.processed, run.total),
            )
            for run in runs
        ]

    async def start(self, scope: Scope | None = None, started_by: str = "system") -> Run:
        """Record a run and queue its dispatcher; returns at once.

        Refused with :class:`RunConflict` while a run over all students is active (only
        "all students" is single-flight) and :class:`NoStudents` when the scope is empty.
        """
        scope = scope or Scope()

        async def begin(tx: Tx) -> int:
            if scope.is_all:
                active = await tx.fetch_one("sync_run_active_all")
                if active is not None:
                    raise RunConflict("sync.err.already_running", run=Run.from_row(active))
            if scope.idpersons is not None:
                total = int(await tx.fetch_value("siswa_count_ids", {"ids": list(scope.idpersons)}))
            else:
                params = {"unit": scope.unit, "kelas": scope.kelas}
                total = int(await tx.fetch_value("siswa_count_scope", params))
            if total == 0:
                raise NoStudents("sync.err.no_students" if scope.is_all else "sync.err.empty_scope")
            # Fair share: the new run's students interleave with the pending ones.
            head = await tx.fetch_value(
                "sync_min_pending_sort", {"queue": self.queue.default_queue}
            )
            base = int(head) if head is not None else 0
            run_id = await tx.insert(
                "sync_run_insert",
                {
                    "scope_type": scope.kind,
                    "scope": scope.to_json(),
                    "scope_label": scope.label(),
                    "active_all": 1 if scope.is_all else None,
                    "total": total,
                    "sort_base": base,
                    "started_by": started_by[:191],
                },
            )
            await log_line(
                tx,
                run_id,
                "started",
                "info",
                by=started_by,
                scope=scope.label(),
                total=total,
                # For a page to word the scope in its own language (as it does the run's).
                scope_detail=scope.detail(),
            )
            await self.queue.push(
                DISPATCH_JOB,
                {"run_id": run_id},
                sort_key=base - 1,
                unique_key=dispatch_key(run_id),
                tx=tx,
                max_tries=10,
            )
            return run_id

        try:
            run_id = await self.db.transact(begin)
        except SyncError:
            raise
        except Exception as exc:
            # Two "start all" at the same instant: the unique index on active_all refused
            # one (the only unique key this insert can break while such a run is active).
            if scope.is_all and _duplicate_key(exc):
                active = await self.db.fetch_one("sync_run_active_all")
                run = Run.from_row(active) if active else None
                raise RunConflict("sync.err.already_running", run=run) from exc
            raise
        return await self.get(run_id)

    async def cancel(self, run_id: int | None = None, by: str = "system") -> Run:
        """Stop a run: its counts freeze, its queued students are removed (unless another
        active run still needs them). Jobs in flight write nothing for it afterwards."""

        async def stop(tx: Tx) -> int:
            await tx.fetch_all("sync_fence_exclusive")  # waits for counting in flight
            target = run_id
            if target is None:
                running = [Run.from_row(r) for r in await tx.fetch_all("sync_runs_active_locked")]
                if not running:
                    raise RunConflict("sync.err.nothing_running")
                target = next((r.id for r in running if r.scope.is_all), running[-1].id)
            if not await tx.execute("sync_run_cancel", {"id": target}):
                raise RunConflict("sync.err.not_running")
            await log_line(tx, target, "cancelled_by", "warning", by=by)
            await tx.execute("sync_job_delete_key", {"key": dispatch_key(target)})
            await self._drop_unneeded_jobs(tx)
            return target

        if run_id is not None:
            await self.get(run_id)
        return await self.get(await self.db.transact(stop))

    async def _drop_unneeded_jobs(self, tx: Tx) -> None:
        """Delete queued student jobs that no active run still waits for."""
        remaining = [Run.from_row(r) for r in await tx.fetch_all("sync_runs_active_locked")]
        keep = await self.needed_students(tx, remaining)
        queued = await tx.fetch_all("sync_student_jobs", {"queue": self.queue.default_queue})
        drop = [int(j["id"]) for j in queued if str(j["unique_key"])[6:] not in keep]
        for start in range(0, len(drop), 500):
            await tx.execute("sync_jobs_delete", {"ids": drop[start : start + 500]})

    async def needed_students(self, tx: Tx, runs: list[Run]) -> set[str]:
        """The students some run of ``runs`` queued and has not counted yet."""
        if not runs:
            return set()
        rows = await tx.fetch_all("sync_items_queued_students", {"run_ids": [r.id for r in runs]})
        return {str(r["idperson"]) for r in rows}

    async def still_needed(self) -> Callable[[str], bool]:
        """A test for in-process cancellation: does an active run still wait for this
        student?"""
        runs = await self.active()
        keep = await self.db.transact(lambda tx: self.needed_students(tx, runs))
        return keep.__contains__

    async def reset(self) -> None:
        """Back to "Siap": hide the ended runs from the page (history stays)."""

        async def clear(tx: Tx) -> None:
            if await tx.fetch_all("sync_runs_active_locked"):
                raise RunConflict("sync.err.still_running")
            await tx.execute("sync_runs_clear")

        await self.db.transact(clear)

    async def failed_students(
        self, run_id: int, *, limit: int = 100, offset: int = 0
    ) -> list[FailedStudent]:
        rows = await self.db.fetch_all(
            "sync_items_failed", {"run_id": run_id, "limit": limit, "offset": offset}
        )
        return [FailedStudent.from_row(r) for r in rows]

    async def retry_failed(self, run_id: int, started_by: str = "system") -> Run:
        """A new run over exactly the students that failed in ``run_id``."""
        rows = await self.db.fetch_all("sync_items_failed_ids", {"run_id": run_id})
        if not rows:
            raise NoStudents("sync.err.no_failed")
        return await self.start(
            Scope(idpersons=tuple(str(r["idperson"]) for r in rows)), started_by
        )

    async def progress(self, run_id: int | None = None, after_log: int = 0) -> Progress:
        """SPEC §6's progress object (the latest run unless ``run_id``)."""
        run = await self.get(run_id) if run_id is not None else await self.latest()
        if run is None:
            return Progress.idle()
        now = int(await self.db.fetch_value("sync_now"))
        rate = 0.0
        if run.is_running:
            window = max(1, min(RATE_WINDOW, now - run.started_at))
            recent = int(
                await self.db.fetch_value(
                    "sync_items_recent_count", {"run_id": run.id, "window": window}
                )
            )
            rate = recent / window
        remaining = max(0, run.total - run.processed)
        eta = round(remaining / rate) if rate > 0 and run.is_running else None
        # Nobody works a run when no pool (here or elsewhere) serves its queue.
        waiting_for_worker = (
            run.is_running
            and now - run.started_at >= WORKER_GRACE
            and not await serving(self.db, self.queue.default_queue)
        )
        # Students waiting out a backoff: the run cannot end before the first is due.
        retry_waiting, next_retry = 0, None
        if run.is_running and remaining and (eta is None or eta < RETRY_CHECK_BELOW):
            wait = await self.db.fetch_one(
                "sync_run_retry_wait", {"run_id": run.id, "queue": self.queue.default_queue}
            )
            if wait is not None and int(wait["n"] or 0):
                retry_waiting, next_retry = int(wait["n"]), max(0, int(wait["wait"]))
        if after_log:
            newer = await self.db.fetch_all(
                "sync_logs_after", {"run_id": run.id, "after": after_log, "limit": 200}
            )
            logs = newer[::-1]  # newest first, like the full list
        else:
            logs = await self.db.fetch_all("sync_logs_latest", {"run_id": run.id, "limit": 200})
        return Progress(
            total=run.total,
            processed=run.processed,
            failed=run.failed,
            success_count=run.succeeded,
            unchanged=run.unchanged,
            percent=percent(run.processed, run.total),
            is_running=run.is_running,
            status=run.status,
            run_id=run.id,
            scope=run.scope_label,
            scope_detail=run.scope.detail(),
            started_at=iso(run.started_at),
            finished_at=iso(run.finished_at),
            started_by=run.started_by,
            elapsed_seconds=(run.finished_at or now) - run.started_at,
            eta_seconds=eta,
            rate_per_second=round(rate, 2),
            waiting_for_worker=waiting_for_worker,
            retry_waiting=retry_waiting,
            next_retry_seconds=next_retry,
            logs=tuple(
                LogLine(
                    id=int(r["id"]),
                    at=str(iso(int(r["at"]))),
                    level=str(r["level"]),
                    message=str(r["message"]),
                    # A line from before key and values were stored has neither.
                    key=r["message_key"] if values is not None else None,
                    values=values,
                )
                for r in logs
                for values in (stored_values(r["message_values"]),)
            ),
        )

    async def wait(
        self,
        run_id: int,
        on_progress: Callable[[Progress], Awaitable[None] | None] | None = None,
        *,
        poll: float = 0.5,
    ) -> Run:
        """Wait until the run ends; ``on_progress(progress)`` after each poll."""
        after = 0
        while True:
            state = await self.progress(run_id, after_log=after)
            if state.logs:
                after = max(line.id for line in state.logs)
            if on_progress is not None:
                result = on_progress(state)
                if asyncio.iscoroutine(result):
                    await result
            if not state.is_running:
                return await self.get(run_id)
            await asyncio.sleep(poll)
