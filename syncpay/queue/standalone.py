"""The queue on its own, for a script that wants nothing else of syncpay: a database
named by a URL holding only the queue's tables, job types registered in place, pushes
and a worker that stops gracefully on SIGTERM / SIGINT; the queue's name given once, for
both. No settings, no ``.env``, no application tables (docs/queue.md, "Using the queue
on its own")::

    async with await open_queue("sqlite:///jobs.sqlite", queue="mail") as q:
        q.jobs.add("mail.send", send)
        await q.push("mail.send", {"to": "a@example.org"})
        await q.run_worker(concurrency=8)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from ..config import ConfigError, Settings
from ..db import Database, connect, migrate, tables_for
from ..signals import Signals, signal_name
from .jobs import FailureHook, Handler, JobRegistry, PrepareHook
from .options import WorkerObserver, WorkerOptions, WorkerStats
from .queue import Queue
from .worker import Worker

#: The migrations that make the queue's tables, and only those: ``jobs`` and
#: ``failed_jobs``, ``cache`` (the ``queue:restart`` signal), ``workers`` (the pools
#: alive). Recorded in ``migrations`` as ``syncpay migrate`` records them, so the same
#: database can later take syncpay's other tables.
QUEUE_MIGRATIONS = (
    "0001_create_queue_tables",
    "0002_create_cache_table",
    "0011_jobs_cut_offs",
    "0014_create_workers_table",
)

URL_FORMS = "sqlite:///PATH or mysql://USER:PASSWORD@HOST:PORT/DATABASE"


class QueueUrlError(ValueError):
    """A database URL :func:`open_queue` cannot use; the message is one line."""


def _shown(url: str) -> str:
    """The URL for a message: its password hidden."""
    head, at, tail = url.rpartition("@")
    scheme, sep, login = head.partition("://")
    if not at or not sep or ":" not in login:
        return repr(url)
    return repr(f"{scheme}://{login.split(':', 1)[0]}:***@{tail}")


def settings_for(url: str, *, queue: str = "default", table: str = "jobs") -> Settings:
    """The database settings a URL names: ``sqlite:///relative.db``,
    ``sqlite:////absolute/path.db``, ``mysql://user:password@host:3306/database``
    (``mariadb://`` too; user ``root``, no password, 127.0.0.1:3306 when left out)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise QueueUrlError(f"queue URL {_shown(url)}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise QueueUrlError(f"queue URL {_shown(url)}: write a SQLite file as {URL_FORMS}")
        changes: dict[str, Any] = {"db_connection": "sqlite", "db_database": path}
    elif scheme in ("mysql", "mariadb"):
        changes = {
            "db_connection": "mysql",
            "db_host": parts.hostname or "127.0.0.1",
            "db_port": port or 3306,
            "db_username": unquote(parts.username or "root"),
            "db_password": unquote(parts.password or ""),
            "db_database": unquote(parts.path.lstrip("/")),
        }
    else:
        raise QueueUrlError(f"queue URL {_shown(url)}: expected {URL_FORMS}")
    try:
        return Settings().replace(db_queue=queue, db_queue_table=table, **changes)
    except ConfigError as exc:
        raise QueueUrlError(f"queue URL {_shown(url)}: {exc.problem} ({exc.variable})") from None


class StandaloneQueue:
    """One queue (``name``) on a database of its own: ``jobs`` (the job types its
    workers run), ``queue`` (the verbs; pushes go to ``name`` unless told otherwise),
    ``db``. Made by :func:`open_queue`; close it (``async with``)."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self.queue = Queue(db, default_queue=name)
        self.jobs = JobRegistry()

    def job(
        self,
        name: str,
        *,
        failed: FailureHook | None = None,
        retried: FailureHook | None = None,
        prepare: PrepareHook | None = None,
        tries: int | None = None,
        timeout: float | None = None,
        backoff: Sequence[int] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated handler as the job type ``name`` (see ``JobType``)."""

        def register(handler: Handler) -> Handler:
            self.jobs.add(
                name,
                handler,
                failed=failed,
                retried=retried,
                prepare=prepare,
                tries=tries,
                timeout=timeout,
                backoff=backoff,
            )
            return handler

        return register

    async def push(self, job: str, data: Mapping[str, Any] | None = None, **options: Any) -> int:
        """``Queue.push`` onto this queue; the job's id."""
        return await self.queue.push(job, data, **options)

    async def push_many(self, job: str, items: Iterable[Mapping[str, Any]], **options: Any) -> int:
        """``Queue.push_many`` onto this queue (one transaction); the rows written."""
        return await self.queue.push_many(job, items, **options)

    def worker(
        self,
        concurrency: int = 8,
        *,
        app: Any = None,
        observers: Iterable[WorkerObserver] = (),
        **options: Any,
    ) -> Worker:
        """A worker pool on this queue (``WorkerOptions`` by keyword: ``tries``,
        ``timeout``, ``sleep``, ``max_jobs``, ``stop_when_empty``, ``grace``, …);
        handlers find ``app`` on ``job.app``."""
        options.setdefault("queues", (self.name,))
        opts = WorkerOptions(concurrency=concurrency, **options)
        return Worker(self.queue, self.jobs, opts, app=app, observers=observers)

    async def run_worker(
        self, concurrency: int = 8, *, app: Any = None, **options: Any
    ) -> WorkerStats:
        """Run a worker pool until it stops: the first SIGTERM or SIGINT (Ctrl-C) stops
        claiming and lets the running jobs finish (``grace`` seconds, 30 by default);
        a second one cancels them, and they go back to the queue with their attempt
        given back. Also stops by its options (``max_jobs``, ``max_time``,
        ``stop_when_empty``) or ``syncpay queue:restart``. Its final counts."""
        worker = self.worker(concurrency, app=app, **options)
        await run_until_signalled(worker)
        return worker.stats

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> StandaloneQueue:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


async def open_queue(
    url: str, *, queue: str = "default", table: str = "jobs", pool_size: int = 10
) -> StandaloneQueue:
    """Open the database at ``url`` (created when missing: a SQLite file, a MySQL /
    MariaDB database), make the queue's tables there if they are not (and no other),
    and return the queue named ``queue``: its pushes and its workers use that name.
    ``table``: the jobs table's name (Laravel's ``DB_QUEUE_TABLE``)."""
    settings = settings_for(url, queue=queue, table=table)
    db = await connect(settings, create=True, pool_size=pool_size)
    try:
        await migrate(db, tables_for(settings), only=QUEUE_MIGRATIONS)
    except BaseException:
        await db.close()
        raise
    return StandaloneQueue(db, settings.db_queue)


async def run_until_signalled(worker: Worker) -> int:
    """Run ``worker`` with SIGTERM / SIGINT handled as ``syncpay work`` does: the first
    stops it gracefully, the next ones cancel its running jobs (put back, their attempt
    given back). Returns the number of signals received."""
    with Signals() as signals:
        signals.on(lambda signum: worker.stop(f"{signal_name(signum)} received"), count=1)
        signals.on(lambda _signum: worker.cancel_jobs(lambda _payload: True), count=2)
        await worker.run()
    return signals.count
