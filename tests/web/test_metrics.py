"""``GET /metrics`` on the real app: the counters after a real run against the simulator,
queue depth and active runs read from the database, and who may read it."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from aiohttp.web import Request, TCPSite

from syncpay.db.queries import parse_queries
from syncpay.web import create_app
from syncpay.web.routes.metrics import access_denied, is_loopback
from tests.sync_helpers import run_next_job, until
from tests.test_metrics import Family, parse

TOKEN = "metrics-secret-Token_123"


def total(families: dict[str, Family], sample: str, **labels: str) -> float:
    """The sum of the samples named ``sample`` whose labels include ``labels``."""
    return sum(
        value
        for family in families.values()
        for name, got, value in family.samples
        if name == sample and labels.items() <= got.items()
    )


def by_label(families: dict[str, Family], sample: str, label: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in families.values():
        for name, got, value in family.samples:
            if name == sample:
                values[got[label]] = values.get(got[label], 0.0) + value
    return values


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    changed = {k: v - before.get(k, 0.0) for k, v in after.items()}
    return {k: v for k, v in changed.items() if v}


async def scrape(web: Any, headers: dict[str, str] | None = None) -> dict[str, Family]:
    client = web.browser().client
    response = await client.get("/metrics", headers=headers or {})
    text = await response.text()
    assert response.status == 200, text
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(text)


# --------------------------------------------------------------------------- a real run


async def test_counters_follow_a_real_run(web):
    await web.serve(workers=4)
    sim = web.sims[0]
    # Some students' first request is a 500, some have their connection dropped: both are
    # retried and succeed the second time.
    sim.configure(error_rate=0.2, reset_rate=0.1)
    await web.students(50)
    queue = web.pays[0].settings.db_queue
    before = await scrape(web)
    sim_before = sim.stats()

    client = web.browser().client
    token = await web.token("prometheus-test")
    response = await client.post(
        "/admin/sync-pembayaran/start", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    body = await response.json()
    assert response.status == 200 and body["status"] is True, body
    run_id = body["run_id"]
    run = await web.pays[0].sync.wait(run_id, poll=0.05)
    assert (run.status, run.processed, run.failed) == ("completed", 50, 0)

    # The last acks are counted when their round settles, right after the commit.
    async def settled() -> bool:
        now = await scrape(web)
        done = total(now, "syncpay_jobs_processed_total", queue=queue)
        return done - total(before, "syncpay_jobs_processed_total", queue=queue) >= 51

    await until(settled, 10, 0.05, "the jobs counted")
    after = await scrape(web)

    processed = delta(
        by_label(after, "syncpay_jobs_processed_total", "job_name"),
        by_label(before, "syncpay_jobs_processed_total", "job_name"),
    )
    assert processed == {"sync.student": 50, "sync.dispatch": 1}
    failed = delta(
        by_label(after, "syncpay_jobs_failed_total", "job_name"),
        by_label(before, "syncpay_jobs_failed_total", "job_name"),
    )
    assert failed == {}

    stats = sim.stats()
    served = delta(
        {k: float(v) for k, v in stats["by_status"].items()},
        {k: float(v) for k, v in sim_before["by_status"].items()},
    )
    assert served.get("500", 0) > 0 and served.get("reset", 0) > 0, served  # faults happened
    requests = delta(
        by_label(after, "syncpay_payment_api_requests_total", "status"),
        by_label(before, "syncpay_payment_api_requests_total", "status"),
    )
    # What the simulator served, as the source saw it: a dropped connection is "error".
    expected = {("error" if k == "reset" else k): v for k, v in served.items()}
    assert requests == expected
    api_count = total(after, "syncpay_payment_api_request_duration_seconds_count") - total(
        before, "syncpay_payment_api_request_duration_seconds_count"
    )
    assert (
        api_count
        == stats["requests"] - sim_before["requests"]
        == 50 + served["500"] + (served["reset"])
    )

    # Every failed first request was retried once (no backoff in the harness).
    retried = delta(
        by_label(after, "syncpay_jobs_retried_total", "job_name"),
        by_label(before, "syncpay_jobs_retried_total", "job_name"),
    )
    assert retried == {"sync.student": served["500"] + served["reset"]}

    # Every handler run is timed: 50 successes, the retried attempts, the dispatcher.
    runs = delta(
        by_label(after, "syncpay_job_duration_seconds_count", "job_name"),
        by_label(before, "syncpay_job_duration_seconds_count", "job_name"),
    )
    assert runs == {"sync.student": 50 + retried["sync.student"], "sync.dispatch": 1}

    # Nothing left: the queue is empty and no run is active.
    assert total(after, "syncpay_queue_jobs", queue=queue) == 0
    assert total(after, "syncpay_sync_runs_active") == 0
    assert "syncpay_sync_run_total" in after and after["syncpay_sync_run_total"].samples == []
    assert total(after, "syncpay_database_up") == 1
    assert total(after, "syncpay_worker_slots") == 4
    assert total(after, "syncpay_websocket_clients") == 0


async def test_websocket_clients_are_counted(web):
    await web.serve(workers=0)
    admin = await web.user("admin-ws", "admin")
    ws = await admin.client.ws_connect("/admin/sync-pembayaran/ws")
    try:

        async def one_client() -> bool:
            return total(await scrape(web), "syncpay_websocket_clients") == 1

        await until(one_client, 5, 0.05, "the WebSocket client counted")
    finally:
        await ws.close()

    async def none() -> bool:
        return total(await scrape(web), "syncpay_websocket_clients") == 0

    await until(none, 5, 0.05, "the WebSocket client gone")


# --------------------------------------------------------------------------- from the database


def _teach_aging(db: Any, table: str) -> None:
    if "tm_age_jobs" not in db.queries:
        sql = (
            "-- name: tm_age_jobs\n"
            "UPDATE {jobs} SET available_at = available_at - :seconds,"
            " created_at = created_at - :seconds\n"
        )
        db.queries.update(parse_queries(sql, db.placeholder, {"jobs": table}))


async def test_queue_depth_and_active_runs_while_jobs_are_pending(web):
    await web.serve(workers=0)
    sp = web.pays[0]
    queue = sp.settings.db_queue
    await web.students(50)

    idle = await scrape(web)
    assert total(idle, "syncpay_queue_jobs", queue=queue) == 0  # the queue shows, empty
    assert total(idle, "syncpay_queue_oldest_pending_age_seconds", queue=queue) == 0
    assert total(idle, "syncpay_sync_runs_active") == 0
    assert total(idle, "syncpay_worker_slots") == 0

    run = await sp.start(started_by="test")
    now = await scrape(web)
    assert total(now, "syncpay_queue_jobs", queue=queue, state="pending") == 1  # the dispatcher
    assert total(now, "syncpay_sync_runs_active") == 1
    rid = str(run.id)
    assert total(now, "syncpay_sync_run_total", run_id=rid) == 50
    assert total(now, "syncpay_sync_run_processed", run_id=rid) == 0

    assert await run_next_job(sp) == "sync.dispatch"
    for _ in range(3):
        assert await run_next_job(sp) == "sync.student"
    _teach_aging(sp.db, sp.settings.db_queue_table)
    await sp.db.execute("tm_age_jobs", {"seconds": 100})
    await sp.queue.push("syncpay.noop", {}, delay=3600)

    now = await scrape(web)
    assert total(now, "syncpay_queue_jobs", queue=queue, state="pending") == 47
    assert total(now, "syncpay_queue_jobs", queue=queue, state="delayed") == 1
    assert total(now, "syncpay_queue_jobs", queue=queue, state="reserved") == 0
    age = total(now, "syncpay_queue_oldest_pending_age_seconds", queue=queue)
    assert 100 <= age < 160, age
    assert total(now, "syncpay_sync_run_processed", run_id=rid) == 3
    assert total(now, "syncpay_sync_run_failed", run_id=rid) == 0

    await sp.cancel(run.id)
    now = await scrape(web)
    assert total(now, "syncpay_sync_runs_active") == 0
    assert now["syncpay_sync_run_total"].samples == []


async def test_metrics_still_answer_when_the_database_is_gone(web):
    await web.serve(workers=0)
    other = await web.connection()
    sp = web.syncpay(web.sims[0], db=other)
    app = create_app(sp.settings, workers=0, syncpay=sp)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert total(parse(await response.text()), "syncpay_database_up") == 1
        await other.close()
        response = await client.get("/metrics")
        text = await response.text()
        assert response.status == 200, text
        families = parse(text)
        assert total(families, "syncpay_database_up") == 0
        assert "syncpay_queue_jobs" not in families
        assert "syncpay_jobs_processed_total" in families  # the process's own still show
        assert "Traceback" not in text


# --------------------------------------------------------------------------- access


async def test_token_is_required_when_set(web):
    await web.serve(workers=0, metrics_token=TOKEN)
    client = web.browser().client
    api_token = await web.token("a-script", "admin")
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {api_token}"},  # an API token is not the metrics token
    ):
        response = await client.get("/metrics", headers=headers)
        text = await response.text()
        assert response.status == 401, (headers, text)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "syncpay_" not in text and "Traceback" not in text
    for scheme in ("Bearer", "bearer"):
        families = await scrape(web, {"Authorization": f"{scheme} {TOKEN}"})
        assert "syncpay_build_info" in families
    # The exemption is /metrics' alone: other routes still read bearer API tokens.
    response = await client.get(
        "/admin/sync-pembayaran/progress", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status == 401
    response = await client.get(
        "/admin/sync-pembayaran/progress", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert response.status == 200


async def test_loopback_only_when_no_token(web):
    await web.serve(workers=0)
    families = await scrape(web)  # the test client connects from 127.0.0.1
    assert "syncpay_build_info" in families
    # A bearer header is ignored here (it is neither needed nor an API token).
    assert "syncpay_build_info" in await scrape(web, {"Authorization": "Bearer anything"})

    address = _outside_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine")
    # The same app, also listening on that address.
    site = TCPSite(web.server.runner, address, 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with ClientSession() as session:
            async with session.get(f"http://{address}:{port}/metrics") as response:
                text = await response.text()
                assert response.status == 403, text
                assert "syncpay_" not in text
            # The same server still answers its other routes from there.
            async with session.get(f"http://{address}:{port}/healthz") as response:
                assert response.status == 200
    finally:
        await site.stop()


def _outside_address() -> str | None:
    """This machine's address on its outgoing interface, if it is not a loopback one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.123", 9))  # no packet is sent for UDP connect
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if is_loopback(address) else address


@pytest.mark.parametrize(
    ("remote", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.2", False),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fd00::2", False),
        ("", False),
        (None, False),
        ("localhost", False),
        ("not an address", False),
    ],
)
def test_is_loopback(remote, local):
    assert is_loopback(remote) is local


class _Transport:
    def __init__(self, peer: Any) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def is_closing(self) -> bool:
        return False


def _request(peer: Any, headers: dict[str, str] | None = None) -> Request:
    return make_mocked_request("GET", "/metrics", headers=headers, transport=_Transport(peer))


def test_access_check_with_fake_peers():
    assert access_denied(_request(("127.0.0.1", 5000)), "") is None
    assert access_denied(_request(("::1", 5000, 0, 0)), "") is None
    refused = access_denied(_request(("203.0.113.9", 5000)), "")
    assert refused is not None and refused.status == 403
    # With a token, where the request comes from does not matter; the token does.
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert access_denied(_request(("203.0.113.9", 5000), good), TOKEN) is None
    refused = access_denied(_request(("127.0.0.1", 5000)), TOKEN)
    assert refused is not None and refused.status == 401
    bad = {"Authorization": "Bearer nope"}
    refused = access_denied(_request(("127.0.0.1", 5000), bad), TOKEN)
    assert refused is not None and refused.status == 401


# ------------------------------------------------------------- a parser nobody here wrote


async def test_prometheus_client_reads_every_family_and_counters_only_grow(web):
    from prometheus_client.parser import text_string_to_metric_families

    await web.serve(workers=4)
    await web.students(20)
    client = web.browser().client

    async def families() -> dict[str, Any]:
        response = await client.get("/metrics")
        assert response.status == 200
        return {f.name: f for f in text_string_to_metric_families(await response.text())}

    before = await families()
    run = await web.pays[0].start(started_by="metrics")

    async def done() -> bool:
        return (await web.pays[0].sync.get(run.id)).status == "completed"

    await until(done, 60, what="the run to complete")
    after = await families()
    expected = {
        "syncpay_jobs_processed": "counter",
        "syncpay_job_duration_seconds": "histogram",
        "syncpay_payment_api_requests": "counter",
        "syncpay_queue_jobs": "gauge",
        "syncpay_sync_runs_active": "gauge",
        "syncpay_websocket_clients": "gauge",
        "syncpay_build_info": "gauge",
    }
    for name, kind in expected.items():
        assert name in after, sorted(after)
        assert after[name].type == kind, (name, after[name].type)

    def counters(fams: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in fams.values()
            if f.type == "counter"
            for s in f.samples
        }

    old, new = counters(before), counters(after)
    for key, value in old.items():
        assert new.get(key, 0.0) >= value, key
    processed = sum(
        v
        for (n, labels), v in new.items()
        if n == "syncpay_jobs_processed_total" and ("job_name", "sync.student") in labels
    )
    assert processed >= 20


# ---------------------------------------------------------- what a real Prometheus makes of it

#: Labels a Prometheus server sets on every series of a target itself: a series of ours
#: carrying one is renamed ``exported_<label>``, and queries by our name find nothing.
TARGET_LABELS = {"job", "instance"}


async def test_no_series_uses_a_label_prometheus_sets_itself_and_promtool_accepts_it(web):
    """A real Prometheus renamed ``job`` to ``exported_job``: ``job_name`` it is now.

    promtool (Debian's ``prometheus`` package, installed by tests/run.sh) lints the whole
    exposition after a real run; under CI it must be there.
    """
    import os
    import shutil
    import subprocess

    await web.serve(workers=4)
    await web.students(5)
    run = await web.pays[0].start(started_by="metrics")

    async def done() -> bool:
        return (await web.pays[0].sync.get(run.id)).status == "completed"

    await until(done, 60, what="the run to complete")
    response = await web.browser().client.get("/metrics")
    text = await response.text()
    families = parse(text)
    clashes = {
        (name, label)
        for family in families.values()
        for name, labels, _ in family.samples
        for label in labels
        if label in TARGET_LABELS
    }
    assert not clashes, sorted(clashes)
    assert total(families, "syncpay_jobs_processed_total", job_name="sync.student") >= 5

    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (tests/run.sh installs Debian's prometheus)")
        pytest.skip("promtool is not installed")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
