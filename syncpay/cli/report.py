"""What ``serve`` prints about the runs: each run's start, its progress every few seconds,
its failed students and its end -- the lines of its activity log, in APP_LOCALE -- instead
of the worker's line per job (2,000 lines for 1,000 students would push the demo's login
link and password off the screen; ``-v`` or ``LOG_LEVEL=debug`` brings those back).

The runs are read from the database, so a run is reported wherever its jobs run (this
server's workers, ``syncpay work`` elsewhere), and a server started mid-run reports from
where the run is.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..service import SyncPay
from ..sync.progress import Progress
from ..sync.records import LogLine
from .output import format_age, log_words, words

console = logging.getLogger("syncpay.console")
log = logging.getLogger("syncpay.cli")

#: Seconds between two looks at the runs.
POLL = 1.0
#: Seconds between two progress lines of a running run (only when it moved).
PROGRESS_EVERY = 5.0
#: Recent runs looked at each time (a run that starts and ends between two looks is one).
RECENT = 10

LEVELS = {"error": logging.ERROR, "warning": logging.WARNING}


class RunReporter:
    """Follows the runs of one database and logs their lines on ``syncpay.console``."""

    def __init__(self, sp: SyncPay, *, poll: float = POLL, every: float = PROGRESS_EVERY) -> None:
        self.sp = sp
        self.poll = poll
        self.every = every
        #: Runs followed: the id of the last log line reported of each.
        self.after: dict[int, int] = {}
        self.shown: dict[int, tuple[float, int]] = {}  # run → (when, processed) last said
        self.newest = -1  # the newest run id known (-1: not looked yet)

    async def run(self) -> None:
        """Report until cancelled; a failed look (the database away) is tried again."""
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("run report: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.poll)

    async def step(self) -> None:
        runs = await self.sp.sync.recent(RECENT)
        first = self.newest < 0
        newest = max((run.id for run in runs), default=0)
        for run in sorted(runs, key=lambda r: r.id):
            if run.id in self.after:
                continue
            if first and run.is_running:  # running when the server started: from now on
                state = await self.sp.sync.progress(run.id)
                self.after[run.id] = max((line.id for line in state.logs), default=0)
                self._progress(state, force=True)
            elif not first and run.id > self.newest:
                self.after[run.id] = 0
        self.newest = max(self.newest, newest)
        for run_id in sorted(self.after):
            state = await self.sp.sync.progress(run_id, after_log=self.after[run_id])
            self._lines(run_id, state.logs)
            if state.is_running:
                self._progress(state)
            else:
                del self.after[run_id]
                self.shown.pop(run_id, None)

    def _lines(self, run_id: int, lines: tuple[LogLine, ...]) -> None:
        for line in sorted(lines, key=lambda item: item.id):
            text = log_words(line)
            level = LEVELS.get(line.level, logging.INFO)
            console.log(level, "#%d %s", run_id, text)
            self.after[run_id] = max(self.after[run_id], line.id)

    def _progress(self, state: Progress, *, force: bool = False) -> None:
        assert state.run_id is not None
        run_id, processed = state.run_id, state.processed
        now = time.monotonic()
        when, said = self.shown.get(run_id, (now, 0))
        if not force and (now - when < self.every or processed == said):
            self.shown.setdefault(run_id, (when, said))
            return
        self.shown[run_id] = (now, processed)
        eta = state.eta_seconds
        console.info(
            "#%d %s",
            run_id,
            words(
                "cli.run.progress",
                processed=processed,
                total=state.total,
                percent=f"{state.percent:.1f}",
                failed=state.failed,
                eta="-" if eta is None else format_age(int(eta)),
            ),
        )
