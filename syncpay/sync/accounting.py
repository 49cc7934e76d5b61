"""The exact accounting of each student, inside the transaction that acks its job.

A run covers a scope of students and counts each of them once. Students are queued
one job per student (``unique_key`` = ``siswa:<idperson>``): a student in two active
runs is queued once, and when that job finishes it counts for every active run that
covers the student and has not counted it yet — in the transaction that removes the
job from the queue (see :func:`record_success` and :func:`record_failure`). The
primary key of ``sync_run_items`` (run, student) is the last guard of "counted once".
A transaction adds its counts to the runs' rows as its last statements (:class:`_Counts`),
so workers' rounds only queue on a run's row for the moment of their commit.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from ..db import Row, Tx
from ..i18n import DEFAULT, REASON_PREFIX, catalogs
from ..queue.failed import forget_failed
from . import ended
from .activity import log_completion, log_failure
from .keys import STUDENT_JOB
from .money import Totals
from .records import CHANGE_COUNTERS, Run, StudentChange, to_decimal

log = logging.getLogger("syncpay.sync")


class CountMismatch(RuntimeError):
    """A round's items were no longer all queued when written: its transaction is
    rolled back rather than count a student twice (the last guard on MySQL)."""


@dataclass
class _RunCount:
    """What one transaction counted for one run: the counts and the change summary."""

    processed: int = 0
    failed: int = 0
    unchanged: int = 0
    changes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANGE_COUNTERS, 0))
    tunggakan_before: Decimal = Decimal(0)
    tunggakan_after: Decimal = Decimal(0)

    def params(self, run_id: int) -> dict[str, Any]:
        return {
            "id": run_id,
            "processed": self.processed,
            "failed": self.failed,
            "unchanged": self.unchanged,
            **self.changes,
            "tunggakan_before": str(self.tunggakan_before),
            "tunggakan_after": str(self.tunggakan_after),
        }


class _Counts:
    """What one transaction counted per run, added to the runs' rows just before its
    COMMIT: a run's row is locked for a few statements, not for a worker's whole round,
    so the rounds of several workers do not wait for each other."""

    def __init__(self) -> None:
        self.runs: dict[int, _RunCount] = {}

    def add(self, run_id: int, status: str, change: StudentChange | None = None) -> None:
        """Count a student for a run; ``change``: its totals before and after when it
        was synced (done or unchanged), for the run's change summary."""
        row = self.runs.setdefault(run_id, _RunCount())
        row.processed += 1
        row.failed += status == "failed"
        row.unchanged += status == "unchanged"
        if change is None:
            return
        row.tunggakan_before += change.tunggakan_before or 0
        row.tunggakan_after += change.tunggakan_after
        if change.changed:
            for name, n in change.counters().items():
                row.changes[name] += n

    async def flush(self, tx: Tx) -> None:
        for run_id in sorted(self.runs):  # one order everywhere: no deadlock between rounds
            row = self.runs[run_id]
            counted = await tx.execute("sync_run_count", row.params(run_id))
            if not counted:
                log.error(
                    "run %s: %s students not counted (beyond its total)", run_id, row.processed
                )
                continue
            if await tx.execute("sync_run_complete", {"id": run_id}):
                await log_completion(tx, run_id)
                await ended.run_ended(tx, run_id)
        self.runs.clear()


@dataclass
class _Round:
    """What the accounting keeps in one transaction (``tx.state(_Round)``): a worker's
    round acks many students in one transaction, and they share these."""

    #: The active runs, read at the first student's hook (see :func:`_active_runs`).
    active: list[Run] | None = None
    #: The rows of ``sync_items_queued_for`` read ahead for the round's students, by
    #: idperson lower-cased (as MySQL compares them; the roster stores them upper-cased).
    prefetched: dict[str, list[Row]] | None = None
    #: The counts added to the runs' rows before the COMMIT.
    counts: _Counts = field(default_factory=_Counts)
    #: The round's lines of student history, written in one INSERT before the COMMIT.
    history: list[dict[str, Any]] = field(default_factory=list)
    #: (run id, idperson lower-cased) of the items this transaction counted.
    counted: set[tuple[int, str]] = field(default_factory=set)
    #: MySQL: the round's writes of students' rows and items, each kind in one
    #: statement before the COMMIT (see :func:`_flush_rows`).
    payments: list[dict[str, Any]] = field(default_factory=list)
    synced: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)


async def _active_runs(tx: Tx) -> list[Run]:
    """The active runs, read once per transaction (with the shared side of the sync
    lock first, on MySQL). Read at the first student's hook, after the round has
    deleted all its jobs: a run whose dispatcher queued one of these students again
    committed before that delete (it waited for the job's row), so it is seen here."""
    state = tx.state(_Round)
    if state.active is None:
        if not tx.single_writer:
            await tx.fetch_all("sync_fence_share")
        state.active = [Run.from_row(r) for r in await tx.fetch_all("sync_runs_active")]
    return state.active


async def _covering(tx: Tx, idperson: str) -> tuple[dict[str, Any] | None, list[Run]]:
    """The student's row, and the active runs that queued the student and have not
    counted it yet.

    Holds the shared side of the sync lock (MySQL) until the commit: counting
    transactions run side by side, a cancel waits for them, so a cancel and a student's
    write never interleave."""
    runs = await _active_runs(tx)
    if not runs:
        return None, []
    prefetched = tx.state(_Round).prefetched
    # Taken once: a second job of the same student in this round reads its rows again.
    rows = prefetched.pop(idperson.lower(), None) if prefetched is not None else None
    if rows is None:
        rows = await tx.fetch_all(
            "sync_items_queued_for", {"idperson": idperson, "run_ids": [r.id for r in runs]}
        )
    # Items this transaction counted already (a second job of the same student in the
    # round) may still read as queued: their writes wait for the COMMIT (_flush_rows).
    counted = tx.state(_Round).counted
    key = idperson.lower()
    waiting = {int(r["run_id"]) for r in rows if (int(r["run_id"]), key) not in counted}
    covering = [r for r in runs if r.id in waiting]
    if not covering:
        return None, []
    student = {k: v for k, v in rows[0].items() if k not in ("run_id", "item_idperson")}
    return (student if student["idperson"] is not None else None), covering


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
    tx.state(_Round).prefetched = found


#: ``sync_item_finish``'s before/after columns for a student the sync did not change.
_NO_CHANGE: dict[str, Any] = {
    "changed": 0,
    **dict.fromkeys(StudentChange(None, Decimal(0), None, Decimal(0), None, False).as_params()),
}


async def _count(
    tx: Tx,
    run: Run,
    idperson: str,
    status: str,
    attempts: int,
    reason: str | None,
    name: str,
    change: StudentChange | None = None,
) -> bool:
    """Count the student for ``run`` (``change``: its totals before and after, when it
    was synced). Whether it counted (False: counted already, a duplicate delivery)."""
    item = {"changed": 1, **change.as_params()} if change and change.changed else _NO_CHANGE
    params = {
        "run_id": run.id,
        "idperson": idperson,
        "status": status,
        "attempts": attempts,
        "reason": reason,
        **item,
    }
    state = tx.state(_Round)
    key = (run.id, idperson.lower())
    if key in state.counted:
        return False
    if tx.single_writer:
        if not await tx.execute("sync_item_finish", params):
            return False
    else:
        # The item was read FOR UPDATE and found queued (_covering): it is this
        # transaction's to count, and its write joins the round's one statement.
        state.items.append(params)
        tx.before_commit("sync.rows", partial(_flush_rows, tx, state))
    state.counted.add(key)
    state.counts.add(run.id, status, change)
    # Once per transaction; the history first, so the runs' rows (counts) stay the last
    # rows locked before the COMMIT.
    tx.before_commit("sync.history", partial(_flush_history, tx, state))
    tx.before_commit("sync.counts", partial(state.counts.flush, tx))
    if status == "failed":
        await log_failure(tx, run.id, name, idperson, reason)
    return True


def _change(student: dict[str, Any], totals: Totals | None) -> StudentChange:
    """The student's totals before (its row) and after (``totals``; None: the answer
    is unchanged, so are the totals)."""
    lunas = student["is_lunas"]
    before = StudentChange(
        tunggakan_before=to_decimal(student["total_tunggakan"]),
        tunggakan_after=Decimal(0),
        kelebihan_before=to_decimal(student["total_kelebihan"]),
        kelebihan_after=Decimal(0),
        lunas_before=None if lunas is None else bool(int(lunas)),
        lunas_after=False,
    )
    if totals is None:
        return dataclasses.replace(
            before,
            tunggakan_after=before.tunggakan_before or Decimal(0),
            kelebihan_after=before.kelebihan_before or Decimal(0),
            lunas_after=bool(before.lunas_before),
        )
    return dataclasses.replace(
        before,
        tunggakan_after=totals.total_tunggakan,
        kelebihan_after=totals.total_kelebihan,
        lunas_after=totals.is_lunas,
    )


async def _record_change(tx: Tx, idperson: str, run_ids: list[int], change: StudentChange) -> None:
    """One line of the student's history, when this sync changed its totals or state
    and counted it for at least one run (``run_ids``; the newest is named)."""
    if run_ids and change.changed:
        state = tx.state(_Round)
        state.history.append({"idperson": idperson, "run_id": max(run_ids), **change.as_params()})
        tx.before_commit("sync.history", partial(_flush_history, tx, state))


async def _flush_rows(tx: Tx, state: _Round) -> None:
    """MySQL: the round's answers, "synced" marks and items, one statement each instead
    of one or two per student: a round's statements go one after another on one
    connection, each waiting its turn of a busy event loop (issue #16). SQLite writes
    them as they come (a transaction's single statements run in the loop's thread in
    microseconds). Before the history and the runs' counts (registered first)."""
    payments, state.payments = state.payments, []
    if payments:
        await tx.execute_many("siswa_store_payments", payments)
    synced, state.synced = state.synced, []
    if synced:
        await tx.execute("siswa_mark_synced_many", {"idpersons": synced})
    items, state.items = state.items, []
    if items:
        changed = await tx.execute_many("sync_items_finish_many", items)
        if changed != len(items):
            # Cannot happen while the items are read FOR UPDATE: never count blindly.
            raise CountMismatch(
                f"sync_run_items: {changed} of {len(items)} queued items finished; "
                "the round is rolled back"
            )


async def _flush_history(tx: Tx, state: _Round) -> None:
    """The round's history lines: on MySQL in one multi-row INSERT (one round trip for
    the round instead of one per changed student: a round's statements go one after
    another). SQLite runs a transaction's single statements in the loop's thread in
    microseconds, but a multi-row insert through aiosqlite's thread: one row at a time."""
    rows, state.history = state.history, []
    if not rows:
        return
    if tx.single_writer:
        for row in rows:
            await tx.execute("siswa_history_insert", row)
    else:
        await tx.insert_many("siswa_history_insert", rows)


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
    state = tx.state(_Round)
    if unchanged:
        if tx.single_writer:
            await tx.execute("siswa_mark_synced", {"idperson": idperson})
        else:
            state.synced.append(idperson)
            tx.before_commit("sync.rows", partial(_flush_rows, tx, state))
    else:
        row = {
            k: (str(v) if not isinstance(v, bool) else int(v)) for k, v in totals.as_row().items()
        }
        payment = {"idperson": idperson, "pembayaran": answer, "hash": digest, **row}
        if tx.single_writer:
            await tx.execute("siswa_store_payment", payment)
        else:
            state.payments.append(payment)
            tx.before_commit("sync.rows", partial(_flush_rows, tx, state))
    status = "unchanged" if unchanged else "done"
    change = _change(student, None if unchanged else totals)
    counted = [
        run.id
        for run in runs
        if await _count(tx, run, idperson, status, attempts, None, str(student["nama"]), change)
    ]
    await _record_change(tx, idperson, counted, change)
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
