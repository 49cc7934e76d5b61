"""``syncpay work``: a worker process (Laravel's ``queue:work``)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import os
import sys
from types import ModuleType

from .. import metrics
from ..config import Settings
from ..queue import Worker, WorkerOptions
from ..service import SyncPay
from ..signals import Signals, exit_status, signal_name
from .base import CliError, Context, command, given, seconds, whole

console = logging.getLogger("syncpay.console")
log = logging.getLogger("syncpay.cli")

_DEFAULTS = WorkerOptions()

#: Seconds a second Ctrl-C / SIGTERM leaves the cancelled jobs to be put back.
FORCE_TIMEOUT = 5.0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "connection", nargs="?", metavar="CONNECTION", help="queue driver (QUEUE_CONNECTION)"
    )
    parser.add_argument(
        "--queue", metavar="A,B", help="queues to take jobs from, first first (default: DB_QUEUE)"
    )
    parser.add_argument("--tries", metavar="N", help="attempts per job (SYNC_TRIES)")
    parser.add_argument("--timeout", metavar="S", help="seconds a job may run (SYNC_TIMEOUT)")
    parser.add_argument(
        "--backoff", metavar="S,S,…", help="seconds before each retry (SYNC_BACKOFF)"
    )
    parser.add_argument("--workers", metavar="N", help="jobs run at once (SYNC_WORKERS)")
    parser.add_argument(
        "--sleep", type=seconds, default=3.0, metavar="S", help="poll interval when idle"
    )
    parser.add_argument(
        "--max-jobs", type=whole(0), default=0, metavar="N", help="stop after N jobs"
    )
    parser.add_argument(
        "--max-time", type=seconds, default=0.0, metavar="S", help="stop after S seconds"
    )
    parser.add_argument(
        "--stop-when-empty", action="store_true", help="stop when no job is waiting"
    )
    parser.add_argument(
        "--grace",
        type=seconds,
        default=_DEFAULTS.grace,
        metavar="S",
        help="seconds running jobs get to finish when stopping",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, for the job types it defines (repeatable)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, str | None]:
    return given(
        {
            "QUEUE_CONNECTION": args.connection,
            "SYNC_TRIES": args.tries,
            "SYNC_TIMEOUT": args.timeout,
            "SYNC_BACKOFF": args.backoff,
            "SYNC_WORKERS": args.workers,
        }
    )


def queue_names(args: argparse.Namespace, settings: Settings) -> tuple[str, ...]:
    """``--queue=a,b`` as names, each checked as DB_QUEUE is; DB_QUEUE when not given."""
    names = [n.strip() for n in (args.queue or "").split(",") if n.strip()]
    for name in names:
        settings.replace(db_queue=name)  # raises ConfigError for a bad name
    return tuple(dict.fromkeys(names)) or (settings.db_queue,)


def import_jobs(modules: list[str]) -> list[ModuleType]:
    """Import the job modules (the current directory first on sys.path)."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    imported = []
    for name in modules:
        try:
            imported.append(importlib.import_module(name))
        except Exception as exc:
            raise CliError(f"--import {name}: {type(exc).__name__}: {exc}", 2) from exc
    return imported


def _prepare(args: argparse.Namespace, settings: Settings) -> None:
    queue_names(args, settings)
    import_jobs(args.imports)


@command(
    "work",
    "run queued jobs until stopped",
    _arguments,
    overrides=_overrides,
    prepare=_prepare,
    aliases=("queue:work",),
    pool_size=lambda s: s.sync_workers + 4,
)
async def work(ctx: Context) -> int:
    """Take jobs from the queues and run them, SYNC_WORKERS at a time, until stopped by
    SIGTERM / Ctrl-C (a second one cancels the running jobs and puts them back),
    queue:restart, --max-jobs, --max-time or --stop-when-empty."""
    args, settings = ctx.args, ctx.settings
    options = WorkerOptions(
        queues=queue_names(args, settings),
        concurrency=settings.sync_workers,
        tries=settings.sync_tries,
        timeout=float(settings.sync_timeout),
        backoff=settings.sync_backoff,
        sleep=args.sleep,
        retry_after=settings.db_queue_retry_after,
        max_jobs=args.max_jobs,
        max_time=args.max_time,
        stop_when_empty=args.stop_when_empty,
        grace=args.grace,
    )
    for name in ctx.migrated:
        console.info("Migrated: %s", name)
    # The sync's jobs and syncpay.noop, the job types of the --import modules, and what
    # the sync jobs need (payment source, parser, runs) given to every handler.
    sp = SyncPay(settings, ctx.db)
    for module in import_jobs(args.imports):
        if not sp.jobs.collect(module):
            log.warning("--import %s defines no job types (see @job_type).", module.__name__)
    worker = Worker(sp.queue, sp.jobs, options, app=sp.runtime, observers=[metrics.JOB_EVENTS])
    queues = ", ".join(options.queues)
    console.info(
        "Processing jobs from the [%s] queue%s, %d at a time.",
        queues,
        "s" if len(options.queues) > 1 else "",
        options.concurrency,
    )
    try:
        forced = await _run_until_signalled(worker, options)
    finally:
        await sp.close_runtime()
    stats = worker.stats
    console.info(
        "Worker stopped (%s): %d done, %d failed, %d released.",
        worker.stop_reason or "finished",
        stats.done,
        stats.failed,
        stats.released,
    )
    return exit_status(forced) if forced else 0


async def _run_until_signalled(worker: Worker, options: WorkerOptions) -> int:
    """Run the worker; the first SIGTERM/SIGINT stops it gracefully, the second cancels
    the running jobs (put back at once), a third, or a stop that hangs, ends it at once.
    Returns the signal number that forced the end, or 0."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(worker.run())

    def stopping(signum: int) -> None:
        name = signal_name(signum)
        console.info(
            "%s received: stopping after the running jobs (%d, up to %gs).",
            name,
            worker.running,
            options.grace,
        )
        worker.stop(f"{name} received")

    def cancelling(signum: int) -> None:
        count = worker.cancel_jobs(lambda _payload: True)
        name = signal_name(signum)
        console.info("%s received again: cancelling %d running jobs.", name, count)
        loop.call_later(FORCE_TIMEOUT, task.cancel)

    with Signals() as signals:
        signals.on(stopping, count=1)
        signals.on(cancelling, count=2)
        signals.on(lambda _signum: task.cancel(), count=3)
        try:
            await task
        except asyncio.CancelledError:
            if not signals.count or not task.cancelled():
                raise
            await _cancel_the_rest()
    forced = signals.last if signals.count > 1 else None
    return forced or 0


async def _cancel_the_rest() -> None:
    """After a forced end: stop the worker's own tasks before the database closes."""
    current = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not current]
    for other in others:
        other.cancel()
    await asyncio.gather(*others, return_exceptions=True)
