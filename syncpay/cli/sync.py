"""``sync`` and ``sync:*``: start a run and watch it; status, cancel, reset, failed, retry.

``syncpay sync`` starts a run and, unless ``--no-wait``, runs a worker pool of its own
until the run ends, showing its progress: a one-line bar on stderr when that is a
terminal, else a plain line at most every 2 s, plus the run's activity log. Exit
status: 0 every student synced, 3 the run completed with failed students, 1 the run was
cancelled (or refused), 130 the command stopped waiting and left the run running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TextIO

from ..config import Settings
from ..i18n import catalogs
from ..queue import FailedJob, FailedJobs, Payload, PayloadError, Worker
from ..queue.worker import serving
from ..service import SyncPay
from ..sync.errors import NoStudents, RunConflict, SyncError
from ..sync.progress import Progress
from ..sync.records import FailedStudent, LogLine, Run
from ..sync.scope import Scope, ScopeError
from .base import CliError, Context, Overrides, command, given, whole
from .output import (
    format_age,
    language,
    log_words,
    render_table,
    scope_words,
    terminal_width,
    words,
)

#: Seconds between two looks at the run's progress.
POLL = 0.5
#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_EVERY = 2.0
#: A plain progress line even without change, this often (seconds): still alive.
PLAIN_HEARTBEAT = 30.0
#: Failed students listed at the end of ``sync``; the rest are counted.
FAILED_SHOWN = 20
#: Log lines in ``sync:status``.
STATUS_LOG_LINES = 10
#: Failed students read per query by ``sync:failed``.
FAILED_PAGE = 1000

#: The human output is in APP_LOCALE, with the pages' catalogues (``words``); --json
#: keeps the stored Indonesian ``message`` of each log line beside its key and values.
STATUSES = ("idle", "running", "completed", "cancelled")
YES = frozenset({"y", "ya", "yes"})

#: The per-job lines of the worker (INFO) would flood the terminal during ``sync``.
job_log = logging.getLogger("syncpay.jobs")
worker_log = logging.getLogger("syncpay.worker")


# --------------------------------------------------------------------------- arguments


def _by_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--by", metavar="NAME", help=f"who {what} (default: the operating-system user)"
    )


def _run_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--run", type=whole(1), metavar="ID", help=what)


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=whole(0),
        metavar="N",
        help="jobs run at once by this command while it waits (SYNC_WORKERS; "
        "0: leave the work to `syncpay work` or the server)",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="start the run and return; workers elsewhere do the work",
    )


def _sync_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unit", metavar="U", help="only the students of unit U (UnitFormal)")
    parser.add_argument(
        "--kelas",
        metavar="K",
        help="only the students of class K (KelasFormal; --unit may narrow it)",
    )
    parser.add_argument(
        "--idperson",
        dest="idpersons",
        nargs="+",
        action="extend",
        metavar="N",
        help="only these students (repeatable; not with --unit/--kelas)",
    )
    _wait_options(parser)
    _by_option(parser, "starts the run")


def _retry_arguments(parser: argparse.ArgumentParser) -> None:
    _run_option(parser, "the run whose failed students to retry (default: the latest)")
    _wait_options(parser)
    _by_option(parser, "starts the run")


def _workers_override(args: argparse.Namespace) -> Overrides:
    workers: int | None = args.workers
    return given({"SYNC_WORKERS": workers if workers else None})


def _check_scope(args: argparse.Namespace, _settings: Settings) -> None:
    """A scope that cannot be: a usage error (exit 2) before the database is opened."""
    _scope(args)


def _scope(args: argparse.Namespace) -> Scope:
    ids: list[str] | None = args.idpersons
    try:
        return Scope(args.unit, args.kelas, tuple(ids) if ids is not None else None)
    except ScopeError as exc:
        raise CliError(words(exc.key, **exc.values), 2) from None


def _pool_size(settings: Settings) -> int:
    return settings.sync_workers + 4


def operator(args: argparse.Namespace) -> str:
    """``--by``, else the operating-system user."""
    name: str | None = getattr(args, "by", None)
    if name and name.strip():
        return name.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "cli"


# --------------------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def _syncpay(ctx: Context) -> AsyncIterator[SyncPay]:
    """A ``SyncPay`` on the command's own database connection; the runtime it installs
    is removed and closed afterwards (the database is closed by the app)."""
    sp = SyncPay(ctx.settings, ctx.db)
    try:
        yield sp
    finally:
        await sp.close_runtime()


def refusal(exc: SyncError) -> CliError:
    """A refusal of the sync layer as a one-line error (exit 1), worded from its key and
    values in APP_LOCALE."""
    message = words(exc.key, **exc.values)
    if isinstance(exc, RunConflict) and exc.run is not None and exc.run.is_running:
        run = exc.run
        message += " " + words(
            "cli.sync.conflict", run=run.id, by=run.started_by, at=_iso(run.started_at)
        )
    return CliError(message, 1)


def _iso(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _clock(at: str | None) -> str:
    """``2026-11-28T13:20:01Z`` → ``13:20:01``."""
    return at[11:19] if at and len(at) >= 19 else (at or "")


def _reason(reason: str | None) -> str:
    """A stored failure reason in the command's language (the sync layer's own words)."""
    return catalogs().reason_text(language(), reason or "")


def _eta(seconds: int | None) -> str:
    return "-" if seconds is None else format_age(seconds)


def _log_line(line: LogLine) -> str:
    level = line.level or "info"
    tag = f"[{level}] " if level in ("warning", "error") else ""
    return f"  {_clock(line.at)}  {tag}{log_words(line)}"


def summary_line(run: Run) -> str:
    key = {"completed": "js.sync.done", "cancelled": "cli.sync.summary_cancelled"}.get(
        run.status, "cli.sync.summary_running"
    )
    text = words(key, success=run.succeeded, failed=run.failed)
    if run.status != "completed" and run.processed < run.total:
        text += words("cli.sync.summary_left", n=run.total - run.processed)
    elapsed = (run.finished_at or int(time.time())) - run.started_at
    scope = scope_words(run.scope.detail(), run.scope_label)
    tail = words("cli.sync.summary_run", run=run.id, scope=scope, elapsed=format_age(elapsed))
    return f"{text} {tail}"


async def _pick_run(sp: SyncPay, run_id: int | None) -> Run | None:
    """``--run`` (must exist), else the latest run still on the page, else the latest."""
    if run_id is not None:
        return await sp.sync.get(run_id)
    latest = await sp.sync.latest()
    if latest is not None:
        return latest
    recent = await sp.sync.recent(1)
    return recent[0] if recent else None


# --------------------------------------------------------------------------- the display


class Display:
    """Live progress on stderr: a redrawn bar on a terminal, plain lines elsewhere."""

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and stream.isatty()
        self._bar_shown = False
        self._last_plain = 0.0
        self._last_key: tuple[Any, ...] | None = None

    def clear(self) -> None:
        """Take the bar off its line (before other text goes to the terminal)."""
        if self._bar_shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._bar_shown = False

    def logs(self, lines: Sequence[LogLine]) -> None:
        """New activity-log lines (the server gives them newest first)."""
        if not self.enabled or not lines:
            return
        self.clear()
        for line in sorted(lines, key=lambda item: item.id):
            if line.level == "success":
                continue  # the completion line: the summary says it
            self.stream.write(_log_line(line) + "\n")
        self.stream.flush()

    def progress(self, state: Progress, *, force: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + self.bar(state, terminal_width()) + "\x1b[K")
            self.stream.flush()
            self._bar_shown = True
            return
        now = time.monotonic()
        key = (state.processed, state.failed, state.total, state.status)
        changed = key != self._last_key
        due = now - self._last_plain >= PLAIN_EVERY
        if force or (due and (changed or now - self._last_plain >= PLAIN_HEARTBEAT)):
            self.stream.write(self.plain(state) + "\n")
            self.stream.flush()
            self._last_plain = now
            self._last_key = key

    def done(self) -> None:
        """The run ended: leave the last bar on its line."""
        if self._bar_shown:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_shown = False

    @staticmethod
    def numbers(state: Progress) -> str:
        return words(
            "cli.sync.numbers",
            processed=state.processed,
            total=state.total,
            success=state.success_count,
            failed=state.failed,
            rate=f"{state.rate_per_second:.1f}",
            eta=_eta(state.eta_seconds),
        )

    @classmethod
    def bar(cls, state: Progress, width: int) -> str:
        percent = float(state.percent)
        tail = f" {percent:5.1f}%  {cls.numbers(state)}"
        size = max(10, min(40, width - len(tail) - 3))
        filled = round(size * min(100.0, percent) / 100)
        line = "[" + "#" * filled + "-" * (size - filled) + "]" + tail
        return line[: max(10, width - 1)]

    @classmethod
    def plain(cls, state: Progress) -> str:
        return f"  {state.percent:5.1f}%  {cls.numbers(state)}"


class _ClearBarFilter(logging.Filter):
    """Lets every record pass, clearing the bar first (job warnings go to the terminal)."""

    def __init__(self, display: Display) -> None:
        super().__init__()
        self.display = display

    def filter(self, record: logging.LogRecord) -> bool:
        self.display.clear()
        return True


@contextlib.contextmanager
def _quiet_job_lines(display: Display, verbose: int = 0) -> Iterator[None]:
    """No per-job lines during ``sync``: the run's activity log says each failed student
    in APP_LOCALE, so the worker's warning per failed attempt shows only with -v (they
    clear the bar first)."""
    levels = job_log.level, worker_log.level
    job_log.setLevel(logging.WARNING if verbose else logging.ERROR)
    guard = _ClearBarFilter(display)
    job_log.addFilter(guard)
    worker_log.addFilter(guard)
    try:
        yield
    finally:
        job_log.removeFilter(guard)
        worker_log.removeFilter(guard)
        job_log.setLevel(levels[0])
        worker_log.setLevel(levels[1])


# --------------------------------------------------------------------------- signals


class Interrupts:
    """SIGINT / SIGTERM as events of the loop (the previous handlers come back after)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.received: list[int] = []
        self.on_signal: Callable[[int], None] | None = None
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._received, signum)
                self._saved[signum] = previous
        return self

    def __exit__(self, *_exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum, previous in self._saved.items():
            loop.remove_signal_handler(signum)
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(signum, previous)
        self._saved.clear()

    def _received(self, signum: int) -> None:
        self.received.append(signum)
        self.event.set()
        if self.on_signal is not None:
            self.on_signal(signum)

    def take(self) -> int | None:
        """The signal received since the last call, if any."""
        if not self.event.is_set():
            return None
        self.event.clear()
        return self.received[-1]


async def _ask_yes(question: str, interrupts: Interrupts, display: Display) -> bool:
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

    interrupts.event.clear()
    loop.add_reader(fd, readable)
    interrupted = asyncio.ensure_future(interrupts.event.wait())
    try:
        waiting: set[asyncio.Future[Any]] = {answer, interrupted}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_reader(fd)
        interrupted.cancel()
    interrupts.event.clear()
    if not answer.done():
        answer.cancel()
        sys.stderr.write("\n")
        sys.stderr.flush()
        return False
    return answer.result().strip().lower() in YES


# --------------------------------------------------------------------------- waiting


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
        with _quiet_job_lines(self.display, self.ctx.verbose), Interrupts() as interrupts:
            if self.workers > 0:
                self.worker = self.sp.worker(self.workers)
                self.task = self.worker.start()
            try:
                run = await self._watch(interrupts)
            finally:
                self.display.clear()
                await self._stop_worker(interrupts)
        if run is None:
            # Ctrl-C without a terminal does what SIGTERM does: the run is left to the
            # other workers — and whether there are any is said.
            self.ctx.out(words("cli.sync.left_running"))
            if not await serving(self.ctx.db, self.sp.queue.default_queue):
                self.ctx.out(catalogs().text(self.ctx.settings.app_locale, "cli.sync.no_worker"))
            return 128 + (self.left_by or signal.SIGINT)
        return await report(self.ctx, self.sp, run)

    async def _watch(self, interrupts: Interrupts) -> Run | None:
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(interrupts.event.wait(), POLL)
            signum = interrupts.take()
            if signum is None:
                continue
            if signum == signal.SIGINT and self.interactive:
                if await _ask_yes(words("cli.sync.ask_cancel"), interrupts, self.display):
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

    async def _stop_worker(self, interrupts: Interrupts) -> None:
        """Stop gracefully; another Ctrl-C meanwhile puts the running jobs back."""
        worker = self.worker
        if worker is None:
            return

        def hurry(_signum: int) -> None:
            count = worker.cancel_jobs(lambda _payload: True)
            sys.stderr.write(words("cli.sync.stopping_now", n=count) + "\n")

        interrupts.on_signal = hurry
        if worker.running and self.left_by is not None:
            sys.stderr.write(words("cli.sync.stopping_after", n=worker.running) + "\n")
        try:
            await worker.close()
        except Exception as exc:  # reported by _check_worker, or secondary to the error
            sys.stderr.write("syncpay: " + words("cli.sync.worker_stopped", error=exc) + "\n")
        finally:
            interrupts.on_signal = None


async def report(ctx: Context, sp: SyncPay, run: Run) -> int:
    """The summary, the failed students, and the exit status of a run that ended."""
    ctx.out(summary_line(run))
    if run.failed:
        failed = await sp.sync.failed_students(run.id, limit=FAILED_SHOWN)
        ctx.out(f"{words('sync.failed')} ({run.failed}):")
        rows = [(f.idperson, f.nama or "", _reason(f.reason)) for f in failed]
        headers = ["idperson", words("sync.col.nama"), words("sync.col.reason")]
        ctx.out(render_table(headers, rows, width=terminal_width(), flex=2))
        more = run.failed - len(failed)
        if more > 0:
            ctx.out("  " + words("cli.sync.more_failed", n=more, run=run.id))
    if run.status == "completed":
        return 3 if run.failed else 0
    return 1


async def _start_and_follow(
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


# --------------------------------------------------------------------------- commands


@command(
    "sync",
    "sync the students' payments (all, a unit, a class or a list) and watch it",
    _sync_arguments,
    overrides=_workers_override,
    prepare=_check_scope,
    pool_size=_pool_size,
)
async def sync(ctx: Context) -> int:
    """Start a run and, unless --no-wait, run SYNC_WORKERS jobs at a time in this process
    until it ends, with a live progress bar. Ctrl-C asks whether to cancel the run.
    Exit status: 0 all synced, 3 some students failed, 1 cancelled or refused,
    130 stopped waiting (the run goes on)."""
    scope = _scope(ctx.args)
    by = operator(ctx.args)
    async with _syncpay(ctx) as sp:

        async def start(who: str) -> Run:
            return await sp.sync.start(scope, who)

        return await _start_and_follow(ctx, sp, start, by)


@command(
    "sync:retry-failed",
    "start a new run over the failed students of a run, and watch it",
    _retry_arguments,
    overrides=_workers_override,
    pool_size=_pool_size,
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

        return await _start_and_follow(ctx, sp, start, by)


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


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the progress object as JSON")
    _run_option(parser, "this run (default: the latest one on the page)")


@command("sync:status", "show the progress of the latest (or a given) run", _status_arguments)
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


def status_text(state: Progress, lang: str = "id") -> str:
    status = state.status
    label = words(f"js.sync.status.{status}") if status in STATUSES else status
    if state.run_id is None:
        return f"{words('sync.col.status')}: {label}\n  {words('cli.status.none')}"
    scope = scope_words(state.scope_detail, state.scope)
    rows = [
        (words("sync.col.status"), label),
        (words("sync.run"), f"#{state.run_id}, {scope}"),
        (
            words("cli.status.started"),
            words("cli.status.started_by", at=state.started_at, by=state.started_by),
        ),
        (words("cli.status.finished"), state.finished_at or "-"),
        (words("sync.stat.total"), words("cli.status.students", n=state.total)),
        (words("sync.stat.processed"), f"{state.processed} ({state.percent:.1f}%)"),
        (words("sync.stat.success"), str(state.success_count)),
        (words("sync.stat.failed"), str(state.failed)),
    ]
    if state.is_running:
        rate = f"{state.rate_per_second:.1f}"
        rows.append((words("sync.rate"), words("js.sync.rate", n=rate)))
        retry = state.next_retry_seconds
        if state.waiting_for_worker:
            rows.append((words("cli.status.eta"), words("js.sync.waiting_for_worker")))
        elif retry is not None and (state.eta_seconds is None or state.eta_seconds < retry):
            rows.append(
                (words("cli.status.eta"), words("js.sync.waiting_retry", time=format_age(retry)))
            )
        else:
            rows.append((words("cli.status.eta"), _eta(state.eta_seconds)))
    rows.append((words("sync.elapsed"), format_age(state.elapsed_seconds)))
    width = max(len(name) for name, _ in rows) + 2
    lines = [f"{name + ':':<{width}}{value}" for name, value in rows]
    logs = sorted(state.logs, key=lambda item: item.id)[-STATUS_LOG_LINES:]
    if logs:
        lines.append(f"{words('sync.log')}:")
        lines.extend(_log_line(line) for line in logs)
    return "\n".join(lines)


def _cancel_arguments(parser: argparse.ArgumentParser) -> None:
    _run_option(parser, "the run to cancel (default: the run over all students, else the latest)")
    _by_option(parser, "cancels it")


@command("sync:cancel", "cancel the running sync", _cancel_arguments)
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


def _failed_arguments(parser: argparse.ArgumentParser) -> None:
    _run_option(parser, "this run (default: the latest)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


@command("sync:failed", "list the students that failed in a run", _failed_arguments)
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
        ctx.out_json([{**f.to_json(), "at": _iso(f.at)} for f in failed])
        return 0
    if run is None:
        ctx.say(words("js.sync.no_runs"))
        return 0
    scope = scope_words(run.scope.detail(), run.scope_label)
    if not failed:
        ctx.say(words("cli.sync.no_failed", run=run.id, scope=scope))
        return 0
    ctx.say(words("cli.sync.failed_count", run=run.id, scope=scope, n=len(failed)))
    rows = [(f.idperson, f.nama or "", f.attempts, _iso(f.at), _reason(f.reason)) for f in failed]
    headers = [
        "idperson",
        words("sync.col.nama"),
        words("sync.col.attempts"),
        words("cli.col.time_utc"),
        words("sync.col.reason"),
    ]
    ctx.out(render_table(headers, rows, width=terminal_width(), flex=4, right=[2]))
    return 0
