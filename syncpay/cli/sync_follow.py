"""Watching a run that ``sync`` started: the command's own worker pool runs while the
progress is shown; then the run's summary and exit status. The Ctrl-C policy (with the
helper of ``signals.py``): on a terminal Ctrl-C asks whether to cancel the run;
otherwise, or for SIGTERM, the command leaves the run running for other workers and
exits ``128 + signum``; a signal while the pool stops puts its running jobs back."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ..i18n import catalogs
from ..queue import Worker
from ..queue.worker import serving
from ..service import SyncPay
from ..signals import Signals, exit_status
from ..sync import ended
from ..sync.errors import SyncError
from ..sync.records import Run
from ..waiting import wait_any
from .base import CliError, Context
from .output import render_table, scope_words, terminal_width, words
from .sync_display import Display, quiet_job_lines, reason_words, refusal, summary_line, worker_log

#: Seconds between two looks at the run's progress.
POLL = 0.5
#: Failed students listed at the end of ``sync``; the rest are counted.
FAILED_SHOWN = 20
#: Answers that cancel the run when Ctrl-C asks (``ya``: Indonesian).
YES = frozenset({"y", "ya", "yes"})


async def _ask_yes(question: str, signals: Signals, display: Display) -> bool:
    """Ask on the terminal; a second Ctrl-C or end of input means no."""
    display.clear()
    sys.stderr.write(f"\n{question} ")
    sys.stderr.flush()
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 1024)
        except OSError:
            data = b""
        if not answer.done():
            answer.set_result(data.decode("utf-8", errors="replace"))

    signals.event.clear()
    loop.add_reader(fd, readable)
    interrupted = asyncio.ensure_future(signals.event.wait())
    try:
        waiting: set[asyncio.Future[Any]] = {answer, interrupted}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_reader(fd)
        interrupted.cancel()
    signals.event.clear()
    if not answer.done():
        answer.cancel()
        sys.stderr.write("\n")
        sys.stderr.flush()
        return False
    return answer.result().strip().lower() in YES


class Follow:
    """Runs a worker pool while it watches one run; what to do on Ctrl-C."""

    def __init__(self, ctx: Context, sp: SyncPay, run: Run, *, workers: int, by: str) -> None:
        self.ctx = ctx
        self.sp = sp
        self.run = run
        self.workers = workers
        self.by = by
        self.display = Display(sys.stderr, enabled=not ctx.quiet)
        self.interactive = sys.stdin.isatty()
        self.worker: Worker | None = None
        self.task: asyncio.Task[None] | None = None
        self.left_by: int | None = None  # the signal that made us leave the run running

    async def __call__(self) -> int:
        with quiet_job_lines(self.display, self.ctx.verbose), Signals() as signals:
            if self.workers > 0:
                self.worker = self.sp.worker(self.workers)
                self.task = self.worker.start()
            try:
                run = await self._watch(signals)
            finally:
                self.display.clear()
                await self._stop_worker(signals)
        if run is None:
            # Ctrl-C without a terminal does what SIGTERM does: the run is left to the
            # other workers — and whether there are any is said.
            self.ctx.out(words("cli.sync.left_running"))
            if not await serving(self.ctx.db, self.sp.queue.default_queue):
                self.ctx.out(catalogs().text(self.ctx.settings.app_locale, "cli.sync.no_worker"))
            return exit_status(self.left_by or signal.SIGINT)
        return await report(self.ctx, self.sp, run)

    async def _watch(self, signals: Signals) -> Run | None:
        ending = ended.watch(self.run.id)
        try:
            return await self._follow(signals, ending)
        finally:
            ended.unwatch(self.run.id, ending)

    async def _follow(self, signals: Signals, ending: asyncio.Event) -> Run | None:
        """Every POLL seconds, at once on a signal, and at once when this process's
        workers end the run (no wait for the next look at its end)."""
        after = 0
        while True:
            state = await self.sp.sync.progress(self.run.id, after_log=after)
            if state.logs:
                after = max(line.id for line in state.logs)
                self.display.logs(state.logs)
            ended = not state.is_running
            self.display.progress(state, force=ended)
            if ended:
                self.display.done()
                return await self.sp.sync.get(self.run.id)
            self._check_worker()
            await wait_any(signals.event, ending, timeout=POLL)
            signum = signals.take()
            if signum is None:
                continue
            if signum == signal.SIGINT and self.interactive:
                if await _ask_yes(words("cli.sync.ask_cancel"), signals, self.display):
                    await self._cancel()
                    continue
            self.left_by = signum
            return None

    def _check_worker(self) -> None:
        task = self.task
        if task is not None and task.done() and not task.cancelled():
            error = task.exception()
            if error is not None:
                detail = f"{type(error).__name__}: {error}"
                raise CliError(words("cli.sync.worker_stopped", error=detail))

    async def _cancel(self) -> None:
        try:
            await self.sp.cancel(self.run.id, by=self.by)
        except SyncError:
            return  # it ended meanwhile: the next look reports how
        # Their results are dropped by the cancel: no "lease lost" warning for each.
        worker_log.setLevel(logging.ERROR)
        if self.worker is not None:
            await self.sp.cancel_in_flight(self.worker)
        self.ctx.say(words("sync.msg.cancelled"))

    async def _stop_worker(self, signals: Signals) -> None:
        """Stop gracefully; another Ctrl-C meanwhile puts the running jobs back."""
        worker = self.worker
        if worker is None:
            return

        def hurry(_signum: int) -> None:
            count = worker.cancel_jobs(lambda _payload: True)
            sys.stderr.write(words("cli.sync.stopping_now", n=count) + "\n")

        remove = signals.on(hurry)
        if worker.running and self.left_by is not None:
            sys.stderr.write(words("cli.sync.stopping_after", n=worker.running) + "\n")
        try:
            await worker.close()
        except Exception as exc:  # reported by _check_worker, or secondary to the error
            sys.stderr.write("syncpay: " + words("cli.sync.worker_stopped", error=exc) + "\n")
        finally:
            remove()


async def report(ctx: Context, sp: SyncPay, run: Run) -> int:
    """The summary, the failed students, and the exit status of a run that ended."""
    ctx.out(summary_line(run))
    if run.failed:
        failed = await sp.sync.failed_students(run.id, limit=FAILED_SHOWN)
        ctx.out(f"{words('sync.failed')} ({run.failed}):")
        rows = [(f.idperson, f.nama or "", reason_words(f.reason)) for f in failed]
        headers = ["idperson", words("sync.col.nama"), words("sync.col.reason")]
        ctx.out(render_table(headers, rows, width=terminal_width(), flex=2))
        more = run.failed - len(failed)
        if more > 0:
            ctx.out("  " + words("cli.sync.more_failed", n=more, run=run.id))
    if run.status == "completed":
        return 3 if run.failed else 0
    return 1


async def start_and_follow(
    ctx: Context, sp: SyncPay, start: Callable[[str], Awaitable[Run]], by: str
) -> int:
    workers = 0 if ctx.args.no_wait or ctx.args.workers == 0 else ctx.settings.sync_workers
    if workers:
        try:
            # A source that cannot be opened (PAYMENT_API_URL missing…) fails here, once,
            # rather than in every student's job.
            await sp.runtime.source()
        except ValueError as exc:
            raise CliError(str(exc), 2) from None
    try:
        run = await start(by)
    except SyncError as exc:
        raise refusal(exc) from None
    scope = scope_words(run.scope.detail(), run.scope_label)
    ctx.out(words("cli.sync.started", run=run.id, scope=scope, total=run.total))
    if ctx.args.no_wait:
        return 0
    return await Follow(ctx, sp, run, workers=workers, by=by)()
