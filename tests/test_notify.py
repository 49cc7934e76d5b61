"""The webhook told when a run ends (``SYNC_NOTIFY_URL``, ``syncpay/sync/notify.py``).

The receivers are real aiohttp servers on port 0 that check each POST's signature the
way docs/notify.md tells a receiver to; the runs are real syncs (a simulator, the
sync harness ``h``) on SQLite and MariaDB. One test kills a ``syncpay work`` process
while the receiver holds its POST."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from syncpay.config import ConfigError, Settings
from syncpay.queue import FailureReason, Payload
from syncpay.queue.jobs import job_type_of
from syncpay.service import SyncPay
from syncpay.sync import notify
from syncpay.sync.jobs import DISPATCH_JOB, dispatch_failed
from tests.conftest import ROOT
from tests.sync_helpers import Harness, rows, until

SECRET = "k3y-of-the-gateway"
DOCS = ROOT / "docs" / "notify.md"
sqlite_only = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)


@dataclass
class Got:
    body: bytes
    headers: dict[str, str]
    status: int | None = None  # what the receiver answered (None: still holding it)

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.body)

    def verified(self, secret: str = SECRET) -> bool:
        want = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Syncpay-Signature", ""), want)


@dataclass
class Receiver:
    """A webhook receiver: answers each POST as ``plan`` says (a status, or "hang":
    hold the request until released), then 200."""

    plan: list[int | str] = field(default_factory=list)
    got: list[Got] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook?token=t0ken"
        return self

    async def _handle(self, request: web.Request) -> web.Response:
        got = Got(await request.read(), dict(request.headers))
        action = self.plan[len(self.got)] if len(self.got) < len(self.plan) else 200
        self.got.append(got)
        if action == "hang":
            await self.release.wait()
            action = 200
        got.status = int(action)
        return web.Response(status=got.status, text="ok" if got.status < 300 else "down\n" * 99)

    def answered(self, status: int = 200) -> list[Got]:
        return [g for g in self.got if g.status == status]

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    made: list[Receiver] = []

    async def make(*plan: int | str) -> Receiver:
        receiver = await Receiver(list(plan)).start()
        made.append(receiver)
        return receiver

    try:
        yield make
    finally:
        for receiver in made:
            await receiver.close()


async def notified_sp(h: Harness, *urls: str, students: int = 3, **extra: Any) -> SyncPay:
    sim = await h.simulator()
    await h.students(students)
    return h.syncpay(sim, sync_notify_url=",".join(urls), sync_notify_secret=SECRET, **extra)


def tuned(sp: SyncPay, **options: Any) -> None:
    """This SyncPay's notify job with other tries/backoff (a test needs no 10 s wait)."""
    record = job_type_of(notify.notify)
    assert record is not None
    sp.jobs.include(dataclasses.replace(record, **options))


async def notify_jobs(h: Harness) -> list[dict[str, Any]]:
    jobs = await rows(h.db, "ts_jobs")
    return [j for j in jobs if str(j["unique_key"] or "").startswith("notify:")]


async def queue_empty(sp: SyncPay) -> bool:
    return await sp.queue.size() == 0


# --------------------------------------------------------------------------- the POST


async def test_a_completed_run_posts_one_signed_summary(h, receivers):
    rx = await receivers()
    sp = await notified_sp(h, rx.url)
    h.worker(sp, 4).start()
    run = await sp.start(started_by="petugas1")

    await until(lambda: _count(rx, 1), 20, what="the webhook")
    await until(lambda: queue_empty(sp), 20, what="an empty queue")
    done = await sp.sync.get(run.id)
    assert done.status == "completed"
    assert len(rx.got) == 1, "one POST per run end"
    got = rx.got[0]
    assert got.verified()
    assert not got.verified("another key")
    assert got.headers["Content-Type"] == "application/json"
    body = got.data
    assert body["event"] == "sync.run.ended"
    assert body["id"] == f"run-{run.id}"
    assert (body["run_id"], body["status"], body["started_by"]) == (run.id, "completed", "petugas1")
    assert (body["total"], body["processed"], body["failed"], body["succeeded"]) == (3, 3, 0, 3)
    assert body["scope"]["kind"] == "all" and body["scope_label"] == "Semua siswa"
    assert body["changes"]["first_synced"] == 3
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.fullmatch(iso, body["started_at"]) and re.fullmatch(iso, body["finished_at"])
    assert body["duration_seconds"] == done.finished_at - done.started_at
    assert await h.db.fetch_value("sync_run_notify_get", {"id": run.id}) is None  # taken once


async def test_emptying_the_cache_mid_run_drops_no_notification(h, receivers):
    """`syncpay cache:clear` empties the cache table; which URLs to tell lives in the
    run's row, so the run's end still tells them. A run started before migration 0019
    (its plan in a cache row) is told too."""
    from syncpay.db.cache import Cache

    rx = await receivers()
    sp = await notified_sp(h, rx.url)
    run = await sp.start(started_by="admin")
    await Cache(h.db).clear()  # what `syncpay cache:clear` does
    await sp.cancel(run.id, by="admin")
    [job] = await notify_jobs(h)
    assert job["unique_key"] == f"notify:{run.id}:{notify.target_key(rx.url)}"

    older = await sp.start(started_by="admin")
    plan = await h.db.fetch_value("sync_run_notify_get", {"id": older.id})
    await h.db.execute("sync_run_notify_clear", {"id": older.id})
    key = f"syncpay:notify:run:{older.id}"
    await h.db.execute("cache_put", {"key": key, "value": plan, "ttl": 0})
    await sp.cancel(older.id, by="admin")
    assert len(await notify_jobs(h)) == 2
    assert await h.db.fetch_value("cache_get", {"key": key}) is None


async def _count(rx: Receiver, n: int, status: int | None = 200) -> bool:
    return len([g for g in rx.got if status is None or g.status == status]) >= n


async def test_a_cancelled_run_is_told_once_with_its_cancel(h, receivers):
    rx = await receivers()
    sp = await notified_sp(h, rx.url)
    run = await sp.start(started_by="admin")
    await sp.cancel(run.id, by="admin")
    # Queued by the cancel's own transaction (and not dropped with the students' jobs).
    [job] = await notify_jobs(h)
    assert job["unique_key"] == f"notify:{run.id}:{notify.target_key(rx.url)}"
    assert rx.url not in str(job["payload"]), "a URL may carry a token: not stored"

    h.worker(sp, 2).start()
    await until(lambda: _count(rx, 1), 20, what="the webhook")
    await until(lambda: queue_empty(sp), 20, what="an empty queue")
    assert len(rx.got) == 1
    body = rx.got[0].data
    assert (body["id"], body["status"], body["processed"]) == (f"run-{run.id}", "cancelled", 0)
    assert rx.got[0].verified()


async def test_a_receiver_down_twice_gets_it_on_the_third_try(h, receivers):
    rx = await receivers(503, 503)
    sp = await notified_sp(h, rx.url)
    tuned(sp, backoff=(0,))
    h.worker(sp, 2).start()
    run = await sp.start()
    await until(lambda: _count(rx, 1), 20, what="the third POST")
    await until(lambda: queue_empty(sp), 20, what="an empty queue")
    assert [g.status for g in rx.got] == [503, 503, 200]
    assert len({g.body for g in rx.got}) == 1, "the same body (and idempotency key) each time"
    assert rx.got[0].data["id"] == f"run-{run.id}"
    assert all(g.verified() for g in rx.got)
    assert (await rows(h.db, "ts_failed_jobs"))[0]["n"] == 0


@sqlite_only
async def test_a_receiver_that_stays_down_lands_in_failed_jobs_with_a_warning(h, receivers, caplog):
    rx = await receivers(*([503] * 10))
    sp = await notified_sp(h, rx.url)
    tuned(sp, tries=2, backoff=(0,))
    h.worker(sp, 2).start()
    with caplog.at_level(logging.WARNING, logger="syncpay"):
        run = await sp.start()
        await until(lambda: _failed_count(h, 1), 20, what="a failed job")
    assert (await sp.sync.get(run.id)).status == "completed", "a failing receiver fails no run"
    assert [g.status for g in rx.got] == [503, 503]
    [failed] = [f for f in await _failed(h) if '"sync.notify"' in str(f["payload"])]
    shown = rx.url.split("?")[0]
    assert f"{shown}: HTTP 503" in str(failed["exception"])
    assert "t0ken" not in str(failed["exception"]) + str(failed["payload"])
    assert SECRET not in str(failed["exception"]) + str(failed["payload"])
    assert "down down" not in str(failed["exception"]), "a receiver's answer is read bounded"
    warned = [r.getMessage() for r in caplog.records if "not told" in r.getMessage()]
    assert len(warned) == 1 and f"run {run.id}" in warned[0] and shown in warned[0]
    assert SECRET not in caplog.text


async def _failed(h: Harness) -> list[dict[str, Any]]:
    teach_failed(h)
    return await h.db.fetch_all("tn_failed_jobs")


async def _failed_count(h: Harness, n: int) -> bool:
    return len(await _failed(h)) >= n


def teach_failed(h: Harness) -> None:
    from syncpay.db.queries import parse_queries

    if "tn_failed_jobs" not in h.db.queries:
        sql = "-- name: tn_failed_jobs\nSELECT payload, exception FROM failed_jobs ORDER BY id\n"
        h.db.queries.update(parse_queries(sql, h.db.placeholder, {}))


@sqlite_only
async def test_a_hanging_receiver_delays_no_run(h, receivers):
    rx = await receivers("hang")
    sp = await notified_sp(h, rx.url)
    h.worker(sp, 2).start()
    first = await sp.start()
    await until(lambda: _count(rx, 1, status=None), 20, what="the held POST")
    # The receiver holds the POST: the run ended before it, and a second run is not
    # stuck behind it (the worker's other slot serves its students).
    assert (await sp.sync.get(first.id)).status == "completed"
    second = await sp.start()
    await until(lambda: _status_is(sp, second.id, "completed"), 20, what="the second run's end")
    assert rx.got[0].status is None, "still held"
    rx.release.set()
    await until(lambda: _count(rx, 2), 20, what="both runs' POSTs")
    assert sorted(g.data["id"] for g in rx.got) == [f"run-{first.id}", f"run-{second.id}"]


async def _status_is(sp: SyncPay, run_id: int, status: str) -> bool:
    return (await sp.sync.get(run_id)).status == status


@sqlite_only
async def test_each_url_is_told_once_and_one_down_does_not_resend_to_the_others(h, receivers):
    up = await receivers()
    flaky = await receivers(500)
    sp = await notified_sp(h, up.url, flaky.url)
    tuned(sp, backoff=(0,))
    h.worker(sp, 2).start()
    run = await sp.start()
    await until(lambda: _count(flaky, 1), 20, what="the flaky receiver's second POST")
    await until(lambda: queue_empty(sp), 20, what="an empty queue")
    assert [g.status for g in up.got] == [200]
    assert [g.status for g in flaky.got] == [500, 200]
    assert up.got[0].body == flaky.got[1].body
    assert up.got[0].data["id"] == f"run-{run.id}"


@sqlite_only
async def test_a_run_whose_last_student_fails_is_told_too(h, receivers):
    """The run ends in the transaction that fails its last student (the failure hook)."""
    rx = await receivers()
    sim = await h.simulator(fail_rate=1.0)
    await h.students(2)
    sp = h.syncpay(sim, sync_notify_url=rx.url, sync_notify_secret=SECRET, sync_tries="1")
    h.worker(sp, 2).start()
    run = await sp.start()
    await until(lambda: _count(rx, 1), 20, what="the webhook")
    body = rx.got[0].data
    assert (body["id"], body["status"]) == (f"run-{run.id}", "completed")
    assert (body["processed"], body["failed"], body["succeeded"]) == (2, 2, 0)


@sqlite_only
async def test_a_run_cancelled_by_its_failed_dispatcher_is_told(h, receivers):
    """The dispatcher's failure hook cancels the run: its notification is queued there."""
    rx = await receivers()
    sp = await notified_sp(h, rx.url)
    run = await sp.start()
    gave_up = Payload.create(DISPATCH_JOB, {"run_id": run.id})
    await h.db.transact(lambda tx: dispatch_failed(tx, gave_up, FailureReason("boom"), 10))
    [job] = await notify_jobs(h)
    assert job["unique_key"] == f"notify:{run.id}:{notify.target_key(rx.url)}"
    assert (await sp.sync.get(run.id)).status == "cancelled"


@sqlite_only
async def test_no_url_no_job(h):
    sim = await h.simulator()
    await h.students(2)
    sp = h.syncpay(sim)
    assert sp.settings.sync_notify_url == ()
    h.worker(sp, 2).start()
    run = await sp.start()
    await until(lambda: _status_is(sp, run.id, "completed"), 20, what="the run's end")

    async def drained() -> bool:  # the dispatcher's own ack may follow the run's end
        return await sp.queue.size() == 0

    await until(drained, 20, what="the queue to drain")
    assert await notify_jobs(h) == []
    assert await h.db.fetch_value("sync_run_notify_get", {"id": run.id}) is None  # taken once


# --------------------------------------------------------------------------- settings


def test_urls_are_split_on_commas_and_spaces_and_checked():
    s = Settings(
        sync_notify_url=" https://a.example/x,http://b.example:8080/y\n https://a.example/x ",
        sync_notify_secret="k",
    )
    assert s.sync_notify_url == ("https://a.example/x", "http://b.example:8080/y")
    assert s.redacted()["SYNC_NOTIFY_SECRET"] == "***"
    assert s.sync_notify_timeout == 10.0
    with pytest.raises(ConfigError, match=r"^SYNC_NOTIFY_URL: 'gateway/x' is not an http"):
        Settings(sync_notify_url="https://a.example/x gateway/x", sync_notify_secret="k")
    with pytest.raises(ConfigError, match=r"^SYNC_NOTIFY_SECRET: must be set"):
        Settings(sync_notify_url="https://a.example/x")


def test_the_shown_url_has_no_credentials_or_query():
    shown = notify.shown_url("https://user:pw@gw.example:8443/hook/x?token=abc#f")
    assert shown == "https://gw.example:8443/hook/x"


def test_the_docs_receiver_code_verifies_a_signature():
    """docs/notify.md's Python check, run on a body signed as the job signs it."""
    [code] = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    space: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), space)
    body = b'{"event":"sync.run.ended","id":"run-7"}'
    header = notify.signature(SECRET, body)
    assert space["verified"](body, header, SECRET)
    assert not space["verified"](body + b" ", header, SECRET)
    assert not space["verified"](body, header, "wrong")
    assert not space["verified"](body, "", SECRET)


# --------------------------------------------------------------------------- a kill


@pytest.mark.slow
@sqlite_only
async def test_a_notification_survives_a_killed_worker(h, receivers, env_vars, tmp_path: Path):
    """The worker is killed -9 while the receiver holds its POST; the next worker sends
    it again, with the same idempotency key: delivered (answered) once."""
    rx = await receivers("hang")
    sim = await h.simulator()
    await h.students(3)
    sp = h.syncpay(sim, sync_notify_url=rx.url, sync_notify_secret=SECRET)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "SYNC_", "QUEUE_", "PAYMENT_", "APP_", "LOG_"))
    }
    env |= env_vars | {
        "PYTHONPATH": str(ROOT),
        "PAYMENT_SOURCE": "http",
        "PAYMENT_API_URL": sim.payments_url,
        "SYNC_NOTIFY_URL": rx.url,
        "SYNC_NOTIFY_SECRET": SECRET,
        "DB_QUEUE_RETRY_AFTER": "3",
        "LOG_FILE": "",
    }
    args = [sys.executable, "-m", "syncpay", "work", "--timeout", "2", "--sleep", "0.2", "-q"]
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        out = open(tmp_path / f"worker{len(procs)}.log", "ab")
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=out, stderr=out)
        out.close()
        procs.append(proc)
        return proc

    try:
        first = start()
        run = await sp.start(started_by="malam")
        await until(lambda: _count(rx, 1, status=None), 30, what="the POST held")
        assert (await sp.sync.get(run.id)).status == "completed"
        first.kill()
        await asyncio.to_thread(first.wait)
        start()
        await until(lambda: _count(rx, 1), 30, what="the POST after the restart")
        await until(lambda: queue_empty(sp), 20, what="an empty queue")
        assert len(rx.got) == 2 and len(rx.answered()) == 1
        assert {g.data["id"] for g in rx.got} == {f"run-{run.id}"}
        assert all(g.verified() for g in rx.got)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                await asyncio.to_thread(proc.wait)
