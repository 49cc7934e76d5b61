"""What the ``sync`` commands print: the live progress on stderr (a redrawn bar on a
terminal, plain lines elsewhere), activity-log lines, a run's summary, the
``sync:status`` text and refusals, worded in APP_LOCALE from the catalogues."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from ..i18n import catalogs
from ..sync.errors import RunConflict, SyncError
from ..sync.money import rupiah
from ..sync.progress import Progress
from ..sync.records import CHANGE_COUNTERS, LogLine, Run, RunChanges
from .base import CliError
from .output import format_age, language, log_words, scope_words, terminal_width, words

#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_EVERY = 2.0
#: A plain progress line even without change, this often (seconds): still alive.
PLAIN_HEARTBEAT = 30.0
#: Log lines in ``sync:status``.
STATUS_LOG_LINES = 10
#: The human output is in APP_LOCALE, with the pages' catalogues (``words``); --json
#: keeps the stored Indonesian ``message`` of each log line beside its key and values.
STATUSES = ("idle", "running", "completed", "cancelled")
#: The per-job lines of the worker (INFO) would flood the terminal during ``sync``.
job_log = logging.getLogger("syncpay.jobs")
worker_log = logging.getLogger("syncpay.worker")


def refusal(exc: SyncError) -> CliError:
    """A refusal of the sync layer as a one-line error (exit 1), worded from its key and
    values in APP_LOCALE."""
    message = words(exc.key, **exc.values)
    if isinstance(exc, RunConflict) and exc.run is not None and exc.run.is_running:
        run = exc.run
        message += " " + words(
            "cli.sync.conflict", run=run.id, by=run.started_by, at=iso(run.started_at)
        )
    return CliError(message, 1)


def iso(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _clock(at: str | None) -> str:
    """``2026-11-28T13:20:01Z`` → ``13:20:01``."""
    return at[11:19] if at and len(at) >= 19 else (at or "")


def reason_words(reason: str | None) -> str:
    """A stored failure reason in the command's language (the sync layer's own words)."""
    return catalogs().reason_text(language(), reason or "")


def eta(seconds: int | None) -> str:
    return "-" if seconds is None else format_age(seconds)


def log_line(line: LogLine) -> str:
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
            self.stream.write(log_line(line) + "\n")
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
            eta=eta(state.eta_seconds),
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
def quiet_job_lines(display: Display, verbose: int = 0) -> Iterator[None]:
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


def changes_lines(changes: RunChanges | None) -> list[str]:
    """What a run changed, in APP_LOCALE (the sync page's words): the counts, the total
    arrears before → after; a run from before the feature says it was not recorded."""
    if changes is None:
        return [words("js.sync.changes.unknown")]
    counts = {name: getattr(changes, name) for name in CHANGE_COUNTERS}
    return [
        words("js.sync.changes.summary", **counts),
        words(
            "js.sync.changes.total",
            before=rupiah(changes.tunggakan_before),
            after=rupiah(changes.tunggakan_after),
        ),
    ]


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
                (
                    words("cli.status.eta"),
                    words("js.sync.waiting_retry", time=format_age(retry)),
                )
            )
        else:
            rows.append((words("cli.status.eta"), eta(state.eta_seconds)))
    rows.append((words("sync.elapsed"), format_age(state.elapsed_seconds)))
    changes = changes_lines(state.changes)
    rows.append((words("cli.status.changes"), changes[0]))
    rows.extend(("", line) for line in changes[1:])
    width = max(len(name) for name, _ in rows) + 2
    lines = [f"{name + ':' if name else '':<{width}}{value}" for name, value in rows]
    logs = sorted(state.logs, key=lambda item: item.id)[-STATUS_LOG_LINES:]
    if logs:
        lines.append(f"{words('sync.log')}:")
        lines.extend(log_line(line) for line in logs)
    return "\n".join(lines)
