"""``sync`` and ``sync:*``: start a run and watch it; status, cancel, reset, failed, retry.

``syncpay sync`` starts a run and, unless ``--no-wait``, runs a worker pool of its own
until the run ends, showing its progress: a one-line bar on stderr when that is a
terminal, else a plain line at most every 2 s, plus the run's activity log. Exit
status: 0 every student synced, 3 the run completed with failed students, 1 the run was
cancelled (or refused), 130 the command stopped waiting and left the run running.

The commands' options are in ``sync_arguments.py``, what they print in
``sync_display.py``, the watching of a run (and its Ctrl-C policy) in ``sync_follow.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from ..queue import FailedJob, FailedJobs, Payload, PayloadError
from ..service import SyncPay
from ..sync.errors import NoStudents, SyncError
from ..sync.records import FailedStudent, Run
from ..sync.scope import Scope
from .base import CliError, Context, command
from .output import render_table, scope_words, terminal_width, words
from .sync_arguments import (
    cancel_arguments,
    check_scope,
    failed_arguments,
    operator,
    pool_size,
    retry_arguments,
    scope_of,
    status_arguments,
    sync_arguments,
    workers_override,
)
from .sync_display import iso, reason_words, refusal, status_text
from .sync_follow import start_and_follow

#: Failed students read per query by ``sync:failed``.
FAILED_PAGE = 1000


@contextlib.asynccontextmanager
async def _syncpay(ctx: Context) -> AsyncIterator[SyncPay]:
    """A ``SyncPay`` on the command's own database connection; its runtime is closed
    afterwards (the database is closed by the app)."""
    sp = SyncPay(ctx.settings, ctx.db)
    try:
        yield sp
    finally:
        await sp.close_runtime()


async def _pick_run(sp: SyncPay, run_id: int | None) -> Run | None:
    """``--run`` (must exist), else the latest run still on the page, else the latest."""
    if run_id is not None:
        return await sp.sync.get(run_id)
    latest = await sp.sync.latest()
    if latest is not None:
        return latest
    recent = await sp.sync.recent(1)
    return recent[0] if recent else None


@command(
    "sync",
    "sync the students' payments (all, a unit, a class or a list) and watch it",
    sync_arguments,
    overrides=workers_override,
    prepare=check_scope,
    pool_size=pool_size,
)
async def sync(ctx: Context) -> int:
    """Start a run and, unless --no-wait, run SYNC_WORKERS jobs at a time in this process
    until it ends, with a live progress bar. Ctrl-C asks whether to cancel the run.
    Exit status: 0 all synced, 3 some students failed, 1 cancelled or refused,
    130 stopped waiting (the run goes on)."""
    scope = scope_of(ctx.args)
    by = operator(ctx.args)
    async with _syncpay(ctx) as sp:

        async def start(who: str) -> Run:
            return await sp.sync.start(scope, who)

        return await start_and_follow(ctx, sp, start, by)


@command(
    "sync:retry-failed",
    "start a new run over the failed students of a run, and watch it",
    retry_arguments,
    overrides=workers_override,
    pool_size=pool_size,
)
async def sync_retry_failed(ctx: Context) -> int:
    """A new run over exactly the students that failed in --run (default: the latest
    run); waits for it like `sync` unless --no-wait."""
    by = operator(ctx.args)
    async with _syncpay(ctx) as sp:
        try:
            source = await _pick_run(sp, ctx.args.run)
        except SyncError as exc:
            raise refusal(exc) from None
        if source is None:
            raise CliError(words("js.sync.no_runs"), 1)
        source_id = source.id

        async def start(who: str) -> Run:
            return await sp.retry_failed(source_id, started_by=who)

        return await start_and_follow(ctx, sp, start, by)


async def retry_student_jobs(ctx: Context, jobs: Sequence[FailedJob]) -> str:
    """``queue:retry`` of failed student jobs: a job put back as it was would run and
    store nothing (no active run waits for the student any more, see record_success), so
    the students are synced again as a new run, and the failed jobs removed. The line to
    print."""
    numbers = ", ".join(str(f.id) for f in jobs)
    ids = sorted({_student_of(f) for f in jobs} - {""})
    if not ids:
        raise CliError(words("cli.queue.no_student", ids=numbers), 1)
    async with _syncpay(ctx) as sp:
        try:
            run = await sp.sync.start(Scope(idpersons=tuple(ids)), operator(ctx.args))
        except NoStudents:
            raise CliError(words("cli.queue.students_gone", ids=numbers), 1) from None
        except SyncError as exc:
            raise refusal(exc) from None
    await FailedJobs(ctx.queue()).delete(jobs)
    return words("cli.queue.students_retried", ids=numbers, run=run.id, n=run.total)


def _student_of(job: FailedJob) -> str:
    try:
        return str(Payload.parse(job.payload).data.get("idperson") or "")
    except PayloadError:
        return ""


@command("sync:status", "show the progress of the latest (or a given) run", status_arguments)
async def sync_status(ctx: Context) -> int:
    """The progress of the latest run (or --run ID) as the sync page shows it: status,
    counts, speed, time left and the last lines of its activity log. --json prints the
    progress object of the JSON API (GET /admin/sync-pembayaran/progress) as it is."""
    async with _syncpay(ctx) as sp:
        try:
            state = await sp.progress(ctx.args.run)
        except SyncError as exc:
            raise refusal(exc) from None
    if ctx.args.json:
        ctx.out_json(state.to_json())
        return 0
    ctx.out(status_text(state, ctx.settings.app_locale))
    return 0


@command("sync:cancel", "cancel the running sync", cancel_arguments)
async def sync_cancel(ctx: Context) -> int:
    """Cancel a running run: its queued students are removed, its counts freeze, jobs in
    flight write nothing for it."""
    async with _syncpay(ctx) as sp:
        try:
            run = await sp.cancel(ctx.args.run, by=operator(ctx.args))
        except SyncError as exc:
            raise refusal(exc) from None
    ctx.out(words("sync.msg.cancelled"))
    scope = scope_words(run.scope.detail(), run.scope_label)
    counts = {"processed": run.processed, "total": run.total}
    ctx.say(words("cli.sync.cancel_counts", run=run.id, scope=scope, **counts))
    return 0


@command("sync:reset", "clear the finished run from the sync page (back to Siap)")
async def sync_reset(ctx: Context) -> int:
    """Back to "Siap"; refused while a run is running. The run history is kept."""
    async with _syncpay(ctx) as sp:
        try:
            await sp.reset()
        except SyncError as exc:
            raise refusal(exc) from None
    ctx.out(words("sync.msg.reset"))
    return 0


@command("sync:failed", "list the students that failed in a run", failed_arguments)
async def sync_failed(ctx: Context) -> int:
    """The students that failed for good in --run (default: the latest run), with why."""
    async with _syncpay(ctx) as sp:
        try:
            run = await _pick_run(sp, ctx.args.run)
        except SyncError as exc:
            raise refusal(exc) from None
        failed: list[FailedStudent] = []
        if run is not None:
            while True:
                page = await sp.sync.failed_students(run.id, limit=FAILED_PAGE, offset=len(failed))
                failed += page
                if len(page) < FAILED_PAGE:
                    break
    if ctx.args.json:
        ctx.out_json([{**f.to_json(), "at": iso(f.at)} for f in failed])
        return 0
    if run is None:
        ctx.say(words("js.sync.no_runs"))
        return 0
    scope = scope_words(run.scope.detail(), run.scope_label)
    if not failed:
        ctx.say(words("cli.sync.no_failed", run=run.id, scope=scope))
        return 0
    ctx.say(words("cli.sync.failed_count", run=run.id, scope=scope, n=len(failed)))
    rows = [
        (f.idperson, f.nama or "", f.attempts, iso(f.at), reason_words(f.reason)) for f in failed
    ]
    headers = [
        "idperson",
        words("sync.col.nama"),
        words("sync.col.attempts"),
        words("cli.col.time_utc"),
        words("sync.col.reason"),
    ]
    ctx.out(render_table(headers, rows, width=terminal_width(), flex=4, right=[2]))
    return 0
