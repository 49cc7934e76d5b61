"""Sync runs: the verbs over them — start, cancel, reset, retry the failed, wait — and
what the pages and the command line ask about them.

The rooms around it: the exact accounting of each student inside the transaction that
acks its job (:mod:`.accounting`), the runs' activity log (:mod:`.activity`), the
progress read model (:mod:`.progress`), the typed records (:mod:`.records`), the job
names and queue keys (:mod:`.keys`) and the refusals (:mod:`.errors`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..db import Database, Tx
from ..officers import OfficerScope, scope_params
from ..queue import Queue
from ..waiting import wait_any
from . import ended, notify
from .activity import log_line
from .errors import NoStudents, OutsideScope, RunConflict, RunNotFound, SyncError
from .keys import DISPATCH_JOB, dispatch_key, idperson_of_key
from .progress import Progress, read_history, read_progress
from .records import ChangedStudent, FailedStudent, Run, RunSummary
from .scope import Scope


def _duplicate_key(exc: BaseException) -> bool:
    """A unique key refused the write: SQLite's IntegrityError, or MySQL error 1062."""
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    return type(exc).__module__.startswith("pymysql") and exc.args[:1] == (1062,)


class Sync:
    """Runs over one database and its queue."""

    def __init__(self, db: Database, queue: Queue, *, notify_urls: Sequence[str] = ()) -> None:
        self.db = db
        self.queue = queue
        #: The webhooks told when a run started here ends (``SYNC_NOTIFY_URL``).
        self.notify_urls = tuple(notify_urls)

    async def get(self, run_id: int) -> Run:
        row = await self.db.fetch_one("sync_run_get", {"id": run_id})
        if row is None:
            raise RunNotFound("sync.err.run_not_found", {"run": run_id})
        return Run.from_row(row)

    async def latest(self, started_by: str | None = None) -> Run | None:
        """The newest run not reset (of those ``started_by`` started, when given)."""
        if started_by is not None:
            row = await self.db.fetch_one("sync_run_latest_by", {"started_by": started_by})
        else:
            row = await self.db.fetch_one("sync_run_latest")
        return None if row is None else Run.from_row(row)

    async def active(self) -> list[Run]:
        return [Run.from_row(r) for r in await self.db.fetch_all("sync_runs_active")]

    async def recent(self, limit: int = 10, started_by: str | None = None) -> list[Run]:
        if started_by is not None:
            by = {"limit": limit, "started_by": started_by}
            return [Run.from_row(r) for r in await self.db.fetch_all("sync_runs_recent_by", by)]
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

    async def history(self, limit: int = 10, started_by: str | None = None) -> list[RunSummary]:
        """The recent runs (newest first), with their counts and durations."""
        return await read_history(self.db, await self.recent(limit, started_by))

    async def officer_scope(
        self, officer: OfficerScope, by: str, scope: Scope | None = None
    ) -> Scope:
        """What a scoped officer may run (issue #15): ``scope`` when every student of it
        is theirs (else :class:`OutsideScope`), and their own students for no scope (or
        "all students", which an officer never runs)."""
        if scope is None or scope.is_all:
            return Scope(officer=officer, officer_name=by)
        if scope.idpersons is not None:
            rows = await self.db.fetch_all("roster_find", {"ids": list(scope.idpersons)})
            inside = sum(1 for row in rows if officer.covers(row))
            outside = len(scope.idpersons) - inside  # an unknown id counts as outside
        else:
            params = {"unit": scope.unit, "kelas": scope.kelas} | scope_params(officer)
            outside = int(await self.db.fetch_value("siswa_count_outside", params) or 0)
        if outside:
            raise OutsideScope("sync.err.outside_scope", {"n": outside})
        return scope

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
            if scope.officer is not None:
                officer = scope_params(scope.officer)
                total = int(await tx.fetch_value("siswa_count_officer", officer))
            elif scope.idpersons is not None:
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
            await notify.remember(tx, run_id, self.notify_urls, self.queue.default_queue)
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

    async def cancel(
        self, run_id: int | None = None, by: str = "system", owner: str | None = None
    ) -> Run:
        """Stop a run: its counts freeze, its queued students are removed (unless another
        active run still needs them). Jobs in flight write nothing for it afterwards.
        With ``owner`` (a scoped officer), only a run that ``owner`` started: without
        ``run_id`` their newest active one; another's is :class:`OutsideScope`."""

        async def stop(tx: Tx) -> int:
            await tx.fetch_all("sync_fence_exclusive")  # waits for counting in flight
            target = run_id
            if target is None:
                running = [Run.from_row(r) for r in await tx.fetch_all("sync_runs_active_locked")]
                if owner is not None:
                    running = [r for r in running if r.started_by == owner]
                if not running:
                    raise RunConflict("sync.err.nothing_running")
                target = next((r.id for r in running if r.scope.is_all), running[-1].id)
            if not await tx.execute("sync_run_cancel", {"id": target}):
                raise RunConflict("sync.err.not_running")
            await log_line(tx, target, "cancelled_by", "warning", by=by)
            await ended.run_ended(tx, target)
            await tx.execute("sync_job_delete_key", {"key": dispatch_key(target)})
            await self._drop_unneeded_jobs(tx)
            return target

        if run_id is not None:
            run = await self.get(run_id)
            if owner is not None and run.started_by != owner:
                raise OutsideScope("sync.err.not_your_run")
        return await self.get(await self.db.transact(stop))

    async def _drop_unneeded_jobs(self, tx: Tx) -> None:
        """Delete queued student jobs that no active run still waits for."""
        remaining = [Run.from_row(r) for r in await tx.fetch_all("sync_runs_active_locked")]
        keep = await self.needed_students(tx, remaining)
        queued = await tx.fetch_all("sync_student_jobs", {"queue": self.queue.default_queue})
        drop = [int(j["id"]) for j in queued if idperson_of_key(str(j["unique_key"])) not in keep]
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

    async def changes(
        self, run_id: int, *, limit: int = 100, offset: int = 0
    ) -> tuple[int, list[ChangedStudent]]:
        """The students the run changed (their totals or state), with before and after,
        by idperson: how many in all, and the page ``offset`` … ``offset + limit``."""
        total = int(await self.db.fetch_value("sync_items_changed_count", {"run_id": run_id}))
        if total <= offset:
            return total, []
        rows = await self.db.fetch_all(
            "sync_items_changed", {"run_id": run_id, "limit": limit, "offset": offset}
        )
        return total, [ChangedStudent.from_row(r) for r in rows]

    async def retry_failed(
        self, run_id: int, started_by: str = "system", officer: OfficerScope | None = None
    ) -> Run:
        """A new run over exactly the students that failed in ``run_id`` (with
        ``officer``: only of a run ``started_by`` started, and of their students)."""
        if officer is not None and (await self.get(run_id)).started_by != started_by:
            raise OutsideScope("sync.err.not_your_run")
        rows = await self.db.fetch_all("sync_items_failed_ids", {"run_id": run_id})
        if not rows:
            raise NoStudents("sync.err.no_failed")
        scope = Scope(idpersons=tuple(str(r["idperson"]) for r in rows))
        if officer is not None:
            scope = await self.officer_scope(officer, started_by, scope)
        return await self.start(scope, started_by)

    async def progress(self, run_id: int | None = None, after_log: int = 0) -> Progress:
        """SPEC §6's progress object (the latest run unless ``run_id``); with
        ``after_log``, only the log lines written after that id."""
        run = await self.get(run_id) if run_id is not None else await self.latest()
        if run is None:
            return Progress.idle()
        return await read_progress(self.db, self.queue.default_queue, run, after_log)

    async def wait(
        self,
        run_id: int,
        on_progress: Callable[[Progress], Awaitable[None] | None] | None = None,
        *,
        poll: float = 0.5,
    ) -> Run:
        """Wait until the run ends; ``on_progress(progress)`` after each poll. Every
        ``poll`` seconds, and at once when a transaction of this process ends the run."""
        after = 0
        ending = ended.watch(run_id)
        try:
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
                await wait_any(ending, timeout=poll)
        finally:
            ended.unwatch(run_id, ending)
