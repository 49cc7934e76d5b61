"""Test job handlers (for ``syncpay work --import tests.jobs``) and shared test helpers.

The handlers leave evidence that survives the process that ran them:

* ``tests.append`` appends ``START n pid`` / ``END n pid`` lines to the file named in
  its data (``O_APPEND``, so writers in several processes never interleave a line)
  and, in the transaction that acks it, adds one to the cache row ``ack:n``. After the
  commit it appends ``DONE n pid``. A job acked twice shows as ``ack:n = 2``; a job run
  twice (at least once delivery) shows as two ``START n`` lines.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

from syncpay.db import Database, Tx
from syncpay.db.queries import parse_queries
from syncpay.queue import JobContext, job_type


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line atomically (one ``write`` on an ``O_APPEND`` descriptor)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def count_lines(path: str | os.PathLike[str], word: str) -> Counter[int]:
    """How many ``WORD n …`` lines the file has, per n."""
    counts: Counter[int] = Counter()
    for line in read_lines(path):
        parts = line.split()
        if len(parts) >= 2 and parts[0] == word:
            counts[int(parts[1])] += 1
    return counts


def pids_of(path: str | os.PathLike[str], word: str) -> set[int]:
    """The processes that wrote ``WORD n pid`` lines."""
    return {int(p[2]) for p in map(str.split, read_lines(path)) if len(p) == 3 and p[0] == word}


async def add_one(tx: Tx, key: str) -> None:
    """Increment the cache row ``key`` inside ``tx``."""
    value = await tx.fetch_value("cache_get", {"key": key})
    await tx.execute("cache_put", {"key": key, "value": str(int(value or 0) + 1), "ttl": 0})


@job_type("tests.append")
async def append_job(job: JobContext) -> None:
    n = int(job.data["n"])
    path = job.data["file"]
    pid = os.getpid()
    append_line(path, f"START {n} {pid}")
    sleep = float(job.data.get("sleep", 0))
    if sleep:
        await asyncio.sleep(sleep)
    append_line(path, f"END {n} {pid}")

    async def ack(tx: Tx) -> None:
        await add_one(tx, f"ack:{n}")
        tx.after_commit(lambda: append_line(path, f"DONE {n} {pid}"))

    job.on_success(ack)


# --- raw SQL for assertions (test-only queries added to one Database object) ----------

_TEST_QUERIES = {
    "t_jobs": "SELECT * FROM jobs ORDER BY id",
    "t_failed": "SELECT * FROM failed_jobs ORDER BY id",
    "t_cache": {
        "sqlite": 'SELECT "key" AS k, value FROM cache ORDER BY "key"',
        "mysql": "SELECT `key` AS k, value FROM cache ORDER BY `key`",
    },
    "t_cache_count": "SELECT COUNT(*) AS n FROM cache",
    "t_failed_count": "SELECT COUNT(*) AS n FROM failed_jobs",
    "t_now": {
        "sqlite": "SELECT CAST(strftime('%s', 'now') AS INTEGER) AS now",
        "mysql": "SELECT UNIX_TIMESTAMP() AS now",
    },
    "t_set_attempts": "UPDATE jobs SET attempts = :attempts WHERE id = :id",
    "t_set_cut_offs": "UPDATE jobs SET attempts = :attempts, cut_offs = :cut_offs WHERE id = :id",
}


def add_test_queries(db: Database) -> Database:
    """Teach ``db`` the ``t_*`` queries above (only this object; the engine's files stay)."""
    if "t_jobs" in db.queries:
        return db
    for name, sql in _TEST_QUERIES.items():
        text = sql[db.dialect] if isinstance(sql, dict) else sql
        db.queries.update(parse_queries(f"-- name: {name}\n{text}\n", db.placeholder, {}))
    return db


async def job_rows(db: Database) -> list[dict[str, Any]]:
    return await add_test_queries(db).fetch_all("t_jobs")


async def failed_rows(db: Database) -> list[dict[str, Any]]:
    return await add_test_queries(db).fetch_all("t_failed")


async def cache_values(db: Database) -> dict[str, str]:
    rows = await add_test_queries(db).fetch_all("t_cache")
    return {str(r["k"]): str(r["value"]) for r in rows}


async def db_now(db: Database) -> int:
    return int(await add_test_queries(db).fetch_value("t_now"))
