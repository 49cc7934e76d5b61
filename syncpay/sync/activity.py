"""A run's activity log: the lines written inside the sync's transactions, and reading
them back for the progress object.

Each line stores the key of its template (``js.log.<key>`` in the catalogues) and its
values, which a page or the command line words in its own language, and the Indonesian
text as ``message``. Whatever comes from outside (a student's name, an API's error) is a
value, never part of a template."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from ..db import Database, Tx
from ..i18n import DEFAULT, LOG_PREFIX, catalogs
from .records import LogLine, Run

#: Final failures logged one by one per run; past this, one summary line.
MAX_FAILURE_LINES = 200
#: The lines a progress object carries.
LOG_LIMIT = 200

log = logging.getLogger("syncpay.sync")


def log_message(key: str, values: Mapping[str, Any]) -> str:
    """The Indonesian text of an activity-log line: the catalogue's ``js.log.<key>``
    filled with ``values`` (what ``message`` holds, and what the CLI prints)."""
    template = catalogs().messages[DEFAULT].get(LOG_PREFIX + key)
    if template is not None:
        try:
            return template.format_map(dict(values))
        except (KeyError, IndexError, ValueError, AttributeError):
            pass
    # A programming error (a test checks every key and its values); the line is kept.
    log.error("activity log: %s%s does not fit %r", LOG_PREFIX, key, sorted(values))
    return f"{key}: {json.dumps(dict(values), ensure_ascii=False, default=str)}"


async def log_line(tx: Tx, run_id: int, key: str, level: str = "info", /, **values: Any) -> None:
    """Write a line of the run's activity log: its template's key and its values, and
    the Indonesian text as ``message``."""
    await tx.execute(
        "sync_log_insert",
        {
            "run_id": run_id,
            "level": level,
            "message": log_message(key, values),
            "key": key,
            "values": json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str),
        },
    )


async def log_failure(tx: Tx, run_id: int, name: str, idperson: str, reason: str | None) -> None:
    """A student that failed for good: a line of its own for the first
    :data:`MAX_FAILURE_LINES` of the run, then one line saying the rest are not listed."""
    logged = int(await tx.fetch_value("sync_log_count", {"run_id": run_id, "level": "error"}))
    if logged < MAX_FAILURE_LINES:
        await log_line(
            tx, run_id, "student_failed", "error", name=name, idperson=idperson, reason=reason
        )
    elif logged == MAX_FAILURE_LINES:
        await log_line(tx, run_id, "failures_not_listed", "error")


async def log_completion(tx: Tx, run_id: int) -> None:
    """The run just ended: how many succeeded and failed, and (when there were any) how
    many were unchanged and how many attempts were retries."""
    row = await tx.fetch_one("sync_run_get", {"id": run_id})
    assert row is not None
    done = Run.from_row(row)
    await log_line(tx, run_id, "finished", "success", success=done.succeeded, failed=done.failed)
    retries = int(await tx.fetch_value("sync_item_retries", {"run_id": run_id}) or 0)
    if retries or done.unchanged:
        await log_line(
            tx, run_id, "unchanged_retries", "info", unchanged=done.unchanged, retries=retries
        )


async def read_log(db: Database, run_id: int, after: int = 0) -> tuple[LogLine, ...]:
    """The run's latest :data:`LOG_LIMIT` lines, newest first; with ``after``, only the
    lines written after that id (the oldest of them when there are more)."""
    if after:
        newer = await db.fetch_all(
            "sync_logs_after", {"run_id": run_id, "after": after, "limit": LOG_LIMIT}
        )
        rows = newer[::-1]  # newest first, like the full list
    else:
        rows = await db.fetch_all("sync_logs_latest", {"run_id": run_id, "limit": LOG_LIMIT})
    return tuple(LogLine.from_row(r) for r in rows)
