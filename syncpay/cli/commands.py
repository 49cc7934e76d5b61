"""The housekeeping commands: ``migrate``, ``queue:*`` (except ``work``), ``cache:clear``,
``sync:prune``."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time

from ..db import migrate as run_migrations
from ..db import tables_for
from ..db.cache import RESTART_KEY, Cache
from ..db.migrate import newer
from ..db.migrate import status as migration_status
from ..queue import FailedJob, FailedJobs, UnknownFailedJob
from ..sync.keys import STUDENT_JOB
from ..text import clean
from .base import CliError, Context, command, given, json_object, whole
from .output import format_age, render_table, terminal_width, words, words_n

# --------------------------------------------------------------------------- migrate


def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status", action="store_true", help="list every migration as Ran or Pending"
    )


def _dots(label: str, status: str) -> str:
    return f"  {label} {'.' * max(3, 60 - len(label))} {status}"


@command("migrate", "create or update the database tables", _migrate_arguments, migrate=False)
async def migrate_command(ctx: Context) -> int:
    """Apply the migrations that have not run yet (and create a missing MySQL database)."""
    if ctx.args.status:
        ran, pending = words("cli.migrate.ran"), words("cli.migrate.pending")
        rows = [(n, ran if r else pending) for n, r in await migration_status(ctx.db)]
        rows += [(n, words("cli.migrate.newer")) for n in await newer(ctx.db)]
        ctx.out(render_table([words("cli.migrate.col"), words("sync.col.status")], rows))
        return 0
    applied = await run_migrations(ctx.db, tables_for(ctx.settings))
    if not applied:
        ctx.say(words("cli.migrate.nothing"))
        return 0
    ctx.say(words("cli.migrate.running"))
    for name in applied:
        ctx.say(_dots(name, words("cli.migrate.done")))
    return 0


# --------------------------------------------------------------------------- failed jobs


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _failed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "id", nargs="?", metavar="ID", help="show this failed job whole (its ID or UUID)"
    )
    _json_flag(parser)


#: The least room the reason keeps beside its job's columns; a narrower terminal shows
#: it on a line of its own under the job (so an "HTTP 404 …" and an "HTTP 500 …" differ).
REASON_ROOM = 40


@command("queue:failed", "list the failed jobs, or show one whole", _failed_arguments)
async def queue_failed(ctx: Context) -> int:
    """List the jobs that failed for good, newest last, each with the first line of its
    reason; with an ID (or UUID), that job whole: its payload and the stored text."""
    jobs = FailedJobs(ctx.queue())
    if ctx.args.id is not None:
        try:
            (job,) = await jobs.find([ctx.args.id])
        except UnknownFailedJob as exc:
            raise CliError(words("cli.queue.unknown_id", id=exc)) from None
        if ctx.args.json:
            ctx.out_json(job.as_dict())
        else:
            ctx.out(_failed_detail(job))
        return 0
    failed = await jobs.all()
    if ctx.args.json:
        ctx.out_json([job.as_dict() for job in failed])
        return 0
    if not failed:
        ctx.say(words("cli.queue.no_failed"))
        return 0
    ctx.out(_failed_table(failed, terminal_width()))
    return 0


def _failed_table(failed: list[FailedJob], width: int) -> str:
    """One line per job with its reason's first line, cut to the terminal's width; when
    fewer than REASON_ROOM characters are left for it, the reason goes on the next line.
    (The UUID is in --json and in ``queue:failed ID``.)"""
    headers = ["ID", words("cli.col.queue"), words("cli.col.job"), words("cli.col.failed_at")]
    rows = [(f.id, f.queue, f.job_name, f.failed_at) for f in failed]
    columns = zip(headers, *rows, strict=True)
    widths = [max(len(str(cell)) for cell in column) for column in columns]
    if width - 2 - sum(widths) - 2 * len(widths) >= REASON_ROOM:
        full = [(*row, f.reason) for row, f in zip(rows, failed, strict=True)]
        headers.append(words("sync.col.reason"))
        return render_table(headers, full, width=width, flex=4, right=[0])
    lines = render_table(headers, rows, right=[0]).split("\n")
    out = lines[:2]
    for line, f in zip(lines[2:], failed, strict=True):
        out += [line, "    " + clean(f.reason, max(10, width - 4), one_line=True)]
    return "\n".join(out)


def _failed_detail(job: FailedJob) -> str:
    """One failed job whole: its fields, then the stored text (reason and traceback)."""
    fields = [
        ("ID", str(job.id)),
        ("UUID", job.uuid),
        (words("cli.col.queue"), job.queue),
        (words("cli.col.job"), job.job_name),
        (words("cli.col.failed_at"), job.failed_at),
        (words("cli.col.payload"), job.payload),
    ]
    wide = max(len(label) for label, _ in fields)
    lines = [f"  {label.ljust(wide)}  {clean(value)}" for label, value in fields]
    text = "\n".join(clean(line) for line in job.exception.split("\n"))
    return "\n".join([*lines, "", text])


def _retry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="+", metavar="ID", help="failed job IDs or UUIDs, or: all")
    parser.add_argument("--queue", metavar="Q", help="only the failed jobs of this queue")


@command("queue:retry", "push failed jobs back onto their queue", _retry_arguments)
async def queue_retry(ctx: Context) -> int:
    """Push failed jobs back onto their queue, all of them or none (an unknown ID
    retries nothing)."""
    from .sync import retry_student_jobs  # the sync commands import this module

    ids: list[str] = ctx.args.ids
    if "all" in ids and len(ids) > 1:
        raise CliError(words("cli.queue.ids_or_all"), 2)
    failed = FailedJobs(ctx.queue())
    wanted = None if ids == ["all"] else list(dict.fromkeys(ids))
    try:
        chosen = await failed.select(wanted, queue=ctx.args.queue)
    except UnknownFailedJob as exc:
        raise CliError(words("cli.queue.unknown_id", id=exc)) from None
    # A student's sync counts only for a run waiting for it: those go into a new run.
    students = [f for f in chosen if f.job_name == STUDENT_JOB]
    others = [str(f.id) for f in chosen if f.job_name != STUDENT_JOB]
    retried = await failed.retry(others) if others else []
    if not retried and not students:
        ctx.say(words("cli.queue.none_retryable"))
    for job in retried:
        ctx.say(words("cli.queue.retried", id=job.id))
    if students:
        ctx.say(await retry_student_jobs(ctx, students))
    return 0


def _forget_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="the failed job's ID or UUID")


@command("queue:forget", "delete one failed job", _forget_arguments)
async def queue_forget(ctx: Context) -> int:
    """Delete one failed job."""
    try:
        await FailedJobs(ctx.queue()).forget(ctx.args.id)
    except UnknownFailedJob:
        raise CliError(words("cli.queue.unknown_id", id=ctx.args.id)) from None
    ctx.say(words("cli.queue.forgotten"))
    return 0


def _flush_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hours", type=whole(0), metavar="H", help="only those that failed over H hours ago"
    )


@command("queue:flush", "delete the failed jobs", _flush_arguments)
async def queue_flush(ctx: Context) -> int:
    """Delete every failed job (or only those older than --hours)."""
    hours: int | None = ctx.args.hours
    count = await FailedJobs(ctx.queue()).flush(hours)
    if hours is None:
        ctx.say(words("cli.queue.flushed"))
    else:
        ctx.say(_flushed(count, hours))
    return 0


# --------------------------------------------------------------------------- queues


def _flushed(count: int, hours: int) -> str:
    """``3 failed jobs older than 24 hours deleted.``"""
    return words_n("cli.queue.flushed_older", count, hours=words_n("cli.unit.hour", hours))


def _queue_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--queue", metavar="Q", help=f"{what} (default: DB_QUEUE)")


def _queue_override(args: argparse.Namespace) -> dict[str, str | None]:
    return given({"DB_QUEUE": args.queue})


@command(
    "queue:clear",
    "delete every job of a queue",
    lambda p: _queue_option(p, "the queue to clear"),
    overrides=_queue_override,
)
async def queue_clear(ctx: Context) -> int:
    """Delete every job (waiting, delayed or running) of one queue."""
    name = ctx.settings.db_queue
    count = await ctx.queue().clear(name)
    ctx.say(words_n("cli.queue.cleared", count, queue=name))
    return 0


@command("queue:monitor", "show the size of every queue", _json_flag)
async def queue_monitor(ctx: Context) -> int:
    """Show, per queue, the jobs waiting, delayed and running, and the oldest wait."""
    stats = await ctx.queue().stats()
    if ctx.args.json:
        ctx.out_json([dataclasses.asdict(s) for s in stats])
        return 0
    if not stats:
        ctx.say(words("cli.queue.no_jobs"))
        return 0
    rows = [
        (s.queue, s.pending, s.delayed, s.reserved, format_age(s.oldest_seconds)) for s in stats
    ]
    headers = [
        words(f"cli.col.{name}") for name in ("queue", "pending", "delayed", "reserved", "oldest")
    ]
    ctx.out(render_table(headers, rows, right=[1, 2, 3, 4]))
    return 0


@command("queue:restart", "ask every worker to stop after its current jobs")
async def queue_restart(ctx: Context) -> int:
    """Tell every worker (on any machine) to stop between jobs; a process supervisor
    then starts it again with the new code."""
    await Cache(ctx.db).put(RESTART_KEY, repr(time.time()))
    ctx.say(words("cli.queue.restart"))
    return 0


def _push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB", help="the job's registered name")
    parser.add_argument(
        "--data",
        type=json_object,
        default={},
        metavar="JSON",
        help='the job\'s data, a JSON object, e.g. \'{"idperson": "2025000001"}\' (default {})',
    )
    _queue_option(parser, "the queue to push onto")
    parser.add_argument("--delay", type=whole(0), default=0, metavar="S", help="seconds")
    parser.add_argument("--count", type=whole(1), default=1, metavar="N", help="push N copies")


@command("queue:push", "queue a job by name (for operators and tests)", _push_arguments,
         overrides=_queue_override)  # fmt: skip
async def queue_push(ctx: Context) -> int:
    """Queue a job by name with JSON data; the name need not be registered here (the
    worker that runs it must know it)."""
    args, queue = ctx.args, ctx.queue()
    name = ctx.settings.db_queue
    if args.count == 1:
        job_id = await queue.push(args.job, args.data, delay=args.delay)
        ctx.say(words("cli.queue.pushed_one", id=job_id, queue=name))
        return 0
    count = await queue.push_many(
        args.job, itertools.repeat(args.data, args.count), delay=args.delay
    )
    ctx.say(words_n("cli.queue.pushed", count, queue=name))
    return 0


# --------------------------------------------------------------------------- cache


@command("cache:clear", "empty the application cache")
async def cache_clear(ctx: Context) -> int:
    """Empty the application cache (this also counts as a queue restart signal)."""
    await Cache(ctx.db).clear()
    ctx.say(words("cli.cache.cleared"))
    return 0


# --------------------------------------------------------------------------- retention


def _prune_failed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hours",
        type=whole(0),
        default=None,
        metavar="H",
        help="delete failed jobs that failed over H hours ago (default QUEUE_PRUNE_FAILED_HOURS)",
    )


@command("queue:prune-failed", "delete old failed jobs", _prune_failed_arguments)
async def queue_prune_failed(ctx: Context) -> int:
    """Delete the failed jobs older than --hours (Laravel's queue:prune-failed). The server
    also does this daily, keeping QUEUE_PRUNE_FAILED_HOURS."""
    hours = ctx.settings.queue_prune_failed_hours if ctx.args.hours is None else ctx.args.hours
    if ctx.args.hours is None and hours == 0:
        ctx.say(words("cli.queue.prune_off"))
        return 0
    count = await FailedJobs(ctx.queue()).flush(hours)
    ctx.say(_flushed(count, hours))
    return 0


#: The most days ``sync:prune`` takes (a hundred years, as SYNC_HISTORY_DAYS allows).
MAX_DAYS = 36500


def _days(text: str) -> int:
    """An argparse type: a number of days, 1 to MAX_DAYS."""
    value = whole(1)(text)
    if value > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{value} must be at most {MAX_DAYS}")
    return value


def _sync_prune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days",
        type=_days,
        default=None,
        metavar="D",
        help="delete ended runs older than D days with their logs (default SYNC_PRUNE_DAYS)",
    )
    parser.add_argument(
        "--history-days",
        type=_days,
        default=None,
        metavar="D",
        help="delete the students' history lines (the student page) older than D days, "
        "their run kept or not (default SYNC_HISTORY_DAYS)",
    )


@command(
    "sync:prune",
    "delete old sync runs with their activity logs, and old student history lines",
    _sync_prune_arguments,
)
async def sync_prune(ctx: Context) -> int:
    """Delete ended sync runs that finished more than --days days ago, with what they
    counted per student and their activity logs (a running run is never deleted), and
    the students' history lines older than --history-days days: what the server's daily
    clean-up does, by hand. An age of 0 in the settings keeps that kind for ever."""
    from ..maintenance import prune_history, prune_runs

    days = ctx.settings.sync_prune_days if ctx.args.days is None else ctx.args.days
    if days == 0:
        ctx.say(words("cli.sync.prune_off"))
    else:
        count = await prune_runs(ctx.db, days)
        ctx.say(words_n("cli.sync.pruned", count, days=words_n("cli.unit.day", days)))
    history_days = ctx.settings.sync_history_days
    if ctx.args.history_days is not None:
        history_days = ctx.args.history_days
    if history_days == 0:
        ctx.say(words("cli.sync.history_prune_off"))
    else:
        lines = await prune_history(ctx.db, history_days)
        days_text = words_n("cli.unit.day", history_days)
        ctx.say(words_n("cli.sync.history_pruned", lines, days=days_text))
    return 0
