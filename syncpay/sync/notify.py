"""The webhook told when a run ends (``SYNC_NOTIFY_URL``): one signed JSON POST per URL
per run, sent by a queued job so that it survives a restart and retries with backoff.

How a notification is tied to its run's end:

1. :func:`remember` — when a run starts, in the transaction that records it, the process
   starting it writes which of its URLs are to be told (a short hash of each, never the
   URL itself) and its queue name into the run's row (``sync_runs.notify``; before
   migration 0019 a ``cache`` row, which ``cache:clear`` could empty mid-run). Nothing
   when no URL is configured.
2. :func:`run_ended` — every transaction that ends a run (completed or cancelled, in
   ``ended``, called by ``accounting``, ``jobs`` and ``runs``): it takes that plan and pushes one
   ``sync.notify`` job per URL, unique per (run, URL). A transaction ends a run at most
   once (its UPDATE is conditional on ``status = 'running'``), so the jobs are queued
   exactly once, durably, with the end; the run never waits for them.
3. :func:`notify` — the job: builds the run's final summary, signs it with
   ``SYNC_NOTIFY_SECRET`` (``X-Syncpay-Signature: sha256=<hex HMAC of the body>``) and
   POSTs it within ``SYNC_NOTIFY_TIMEOUT``. A 2xx is success; anything else raises, so
   the queue retries with the job type's backoff, and after the last try the job is in
   ``failed_jobs`` (``queue:failed``) with a warning in the log.

The job looks its URL up by hash in its own settings: a URL removed from the
configuration meanwhile is not told. Delivery is at least once (a worker killed after
the POST, before its ack, sends it again); the body's ``id`` (``run-<id>``) is the
receiver's idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from .._version import __version__
from ..config import Settings
from ..db import Database, Tx
from ..queue import FailureReason, JobContext, Payload, PermanentFailure, job_type
from ..text import clean
from .records import Run

log = logging.getLogger("syncpay.sync")

NOTIFY_JOB = "sync.notify"
EVENT = "sync.run.ended"
SIGNATURE_HEADER = "X-Syncpay-Signature"
#: Attempts per URL and the seconds before each retry (the last one repeats).
TRIES = 5
BACKOFF = (10, 30, 60, 300)
#: The most of a failing receiver's answer read (for the error), in bytes.
ANSWER_BYTES = 200


def target_key(url: str) -> str:
    """A URL's name in the database: a short hash (a URL may carry a token)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _cache_key(run_id: int) -> str:
    return f"syncpay:notify:run:{run_id}"


def shown_url(url: str) -> str:
    """A URL for a log line or an error: without user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return clean(urlunsplit((parts.scheme, netloc, parts.path, "", "")), 200)


# --- tied to the run's start and end ------------------------------------------------------


async def remember(tx: Tx, run_id: int, urls: Sequence[str], queue: str) -> None:
    """At a run's start: the URLs to tell when it ends (none configured: nothing)."""
    if not urls:
        return
    value = json.dumps({"queue": queue, "targets": [target_key(u) for u in urls]})
    await tx.execute("sync_run_notify_set", {"id": run_id, "plan": value})


async def run_ended(tx: Tx, run_id: int) -> int:
    """In the transaction that ended the run: queue its notifications (how many)."""
    stored = await tx.fetch_value("sync_run_notify_get", {"id": run_id})
    if stored is not None:
        await tx.execute("sync_run_notify_clear", {"id": run_id})
    else:
        # A run started by a version before migration 0019 kept its plan in the cache.
        key = _cache_key(run_id)
        stored = await tx.fetch_value("cache_get", {"key": key})
        if stored is None:
            return 0
        await tx.execute("cache_forget", {"key": key})
    plan = json.loads(str(stored))
    for target in plan["targets"]:
        payload = Payload.create(NOTIFY_JOB, {"run_id": run_id, "target": target})
        row = {"queue": plan["queue"], "payload": payload.to_json(), "delay": 0, "sort_key": 0}
        await tx.insert("push_unique", {**row, "unique_key": f"notify:{run_id}:{target}"})
    return len(plan["targets"])


# --- the summary --------------------------------------------------------------------------


def _iso(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def summary(run: Run) -> dict[str, Any]:
    """The body of a run's notification (its final counts)."""
    ended = run.finished_at
    return {
        "event": EVENT,
        "id": f"run-{run.id}",
        "run_id": run.id,
        "status": run.status,
        "scope": run.scope.detail(),
        "scope_label": run.scope_label,
        "total": run.total,
        "processed": run.processed,
        "failed": run.failed,
        "succeeded": run.succeeded,
        "unchanged": run.unchanged,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(ended),
        "duration_seconds": None if ended is None else max(0, ended - run.started_at),
        "started_by": run.started_by,
        "changes": None if run.changes is None else run.changes.to_json(),
    }


def body_of(run: Run) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(summary(run), ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """The ``X-Syncpay-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- the job ------------------------------------------------------------------------------


class _Runtime(Protocol):
    """What the job needs of the worker's ``app`` (the ``SyncRuntime``)."""

    settings: Settings
    db: Database


class NotifyFailed(Exception):
    """The receiver did not take the notification (the queue retries it)."""


async def post(url: str, body: bytes, secret: str, timeout: float) -> None:
    """POST ``body`` signed; returns on a 2xx, raises :class:`NotifyFailed` otherwise.
    Redirects are not followed; at most ``ANSWER_BYTES`` of an answer are read."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"syncpay/{__version__}",
        SIGNATURE_HEADER: signature(secret, body),
    }
    shown = shown_url(url)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as answer,
        ):
            if 200 <= answer.status < 300:
                return
            said = (await answer.content.read(ANSWER_BYTES)).decode("utf-8", "replace")
            said = clean(said.strip(), 120, one_line=True)
            raise NotifyFailed(f"{shown}: HTTP {answer.status}" + (f" {said}" if said else ""))
    except TimeoutError:
        raise NotifyFailed(f"{shown}: no answer within {timeout:g}s") from None
    except aiohttp.ClientError as exc:
        reason = clean(str(exc) or type(exc).__name__, 200, one_line=True)
        raise NotifyFailed(f"{shown}: {reason}") from None


async def notify_failed(tx: Tx, payload: Payload, reason: FailureReason, attempts: int) -> None:
    """The last try failed: the job goes to ``failed_jobs``; say so in the log."""
    run_id, target = payload.data.get("run_id"), payload.data.get("target")

    def warn() -> None:
        log.warning(
            "run %s: webhook %s not told, gave up after %d attempts: %s",
            run_id,
            target,
            attempts,
            reason,
        )

    tx.after_commit(warn)


@job_type(NOTIFY_JOB, failed=notify_failed, tries=TRIES, backoff=BACKOFF)
async def notify(job: JobContext) -> None:
    """Tell one URL that a run ended (see the module's text)."""
    rt: _Runtime = job.app
    settings = rt.settings
    run_id, target = int(job.data["run_id"]), str(job.data["target"])
    url = next((u for u in settings.sync_notify_url if target_key(u) == target), None)
    if url is None:
        log.warning("run %s: webhook %s is no longer in SYNC_NOTIFY_URL; not told", run_id, target)
        return
    row = await rt.db.fetch_one("sync_run_get", {"id": run_id})
    if row is None:
        raise PermanentFailure(f"run {run_id} is gone")
    body = body_of(Run.from_row(row))
    await post(url, body, settings.sync_notify_secret, settings.sync_notify_timeout)
    log.info("run %s: webhook %s told", run_id, shown_url(url))
