"""``GET /healthz``: no login, the database and the worker pool; 503 without the database."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from syncpay.web import create_app
from syncpay.web.keys import SYNCPAY


async def _health(client: TestClient) -> tuple[int, Any, str]:
    response = await client.get("/healthz", allow_redirects=False)
    text = await response.text()
    assert response.content_type == "application/json", text
    assert response.headers["Cache-Control"] == "no-store"
    assert "Traceback" not in text and 'File "' not in text
    return response.status, await response.json(), text


async def test_healthy_with_the_pool_running(web):
    await web.serve(workers=2)
    client = web.browser().client  # anonymous: no login needed, no redirect
    status, body, _ = await _health(client)
    assert status == 200
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["workers"]["state"] == "running"
    assert body["workers"]["size"] == 2
    assert isinstance(body["workers"]["running"], int) and body["workers"]["running"] >= 0
    response = await client.head("/healthz")
    assert response.status == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_healthy_without_a_pool(web):
    await web.serve(workers=0)
    status, body, _ = await _health(web.browser().client)
    assert status == 200
    assert body == {
        "status": "ok",
        "database": "ok",
        "workers": {"state": "off", "size": 0, "running": 0},
        "backup": {"last_at": None, "age_seconds": None},
    }


async def test_503_when_the_database_is_gone(web):
    """The app on a database connection of its own, closed under it: SQLite's pool
    of connections or the MariaDB pool, gone."""
    await web.serve(workers=0)
    other = await web.connection()
    sp = web.syncpay(web.sims[0], db=other)
    app = create_app(sp.settings, workers=1, syncpay=sp)
    async with TestClient(TestServer(app)) as client:
        status, body, _ = await _health(client)
        assert (status, body["database"], body["workers"]["state"]) == (200, "ok", "running")

        await other.close()
        status, body, text = await _health(client)
        assert status == 503, text
        assert body["status"] == "error"
        assert body["database"].startswith("error: ")
        assert "\n" not in body["database"]
        # The pool itself is still up (it waits for the database to come back).
        assert body["workers"] == {"state": "running", "size": 1, "running": 0}

        # Still a clean answer the next time, and the other pages do not break either.
        status, _, _ = await _health(client)
        assert status == 503
        response = await client.get("/metrics")
        assert response.status == 200
        assert "syncpay_database_up 0" in (await response.text()).splitlines()


async def test_an_sqlite_database_without_room_to_write_is_503(web, monkeypatch):
    import syncpay.web.routes.health as health

    await web.serve(workers=0)
    client = web.browser().client
    free = web.app[SYNCPAY].db.free_space()
    if web.app[SYNCPAY].db.dialect != "sqlite":
        assert free is None  # the MySQL server minds its own disk
        return
    assert free is not None and free > 0
    monkeypatch.setattr(health, "LOW_SPACE", free + 1024 * 1024 * 1024)
    status, body, _ = await _health(client)
    assert status == 503 and body["status"] == "error"
    assert body["database"].startswith("error: disk full (") and "KiB free" in body["database"]
    monkeypatch.setattr(health, "LOW_SPACE", 0)
    assert (await _health(client))[0] == 200


async def test_a_database_that_stops_answering_mid_probe_is_503_within_the_limit(web, monkeypatch):
    """The ping answers, then the database stops answering before the last backup's
    row is read: one probe under one time limit says 503, never a 200 that arrives
    seconds late (a monitor would read it as "up" while the database was gone)."""
    import asyncio
    import time

    import syncpay.web.routes.health as health
    from syncpay.web.keys import MAINTENANCE

    await web.serve(workers=1)
    client = web.browser().client
    assert MAINTENANCE in web.app
    assert (await _health(client))[0] == 200

    async def never_answers() -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(health, "PROBE_TIMEOUT", 0.5)
    monkeypatch.setattr(web.app[MAINTENANCE], "last_backup", never_answers)
    started = time.monotonic()
    status, body, _ = await _health(client)
    took = time.monotonic() - started
    assert status == 503 and body["database"] == "error: TimeoutError"
    assert body["backup"] == {"last_at": None, "age_seconds": None}
    assert took < 5, took  # one limit (0.5 s), not one per query
