"""The sync page's WebSocket (``/admin/sync-pembayaran/ws``): who may open it, the first
message at once, live messages while a run goes — also when the run is worked by a
worker pool on another connection (another process or machine, as far as the server can
tell) — watching another run, and close code 1001 on shutdown. Both databases."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType

from tests.sync_helpers import until
from tests.web.conftest import Browser, WebHarness

BASE = "/admin/sync-pembayaran"
WS = BASE + "/ws"
START = BASE + "/start"


class Socket:
    """One page's socket: every message it got, logs merged as the page merges them."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.logs: dict[int, dict[str, Any]] = {}

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        message = await self.ws.receive(timeout=timeout)
        assert message.type == WSMsgType.TEXT, message
        body = message.json()
        self.messages.append(body)
        if body.get("type") == "progress":
            if body["logs_mode"] == "replace":
                self.logs = {}
            for line in body["logs"]:
                self.logs[line["id"]] = line
        return body

    async def until(self, check: Any, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = await self.next(max(0.1, deadline - time.monotonic()))
            if body.get("type") == "progress" and check(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"no such message in {timeout}s; last {body}")

    def merged_logs(self) -> list[dict[str, Any]]:
        return [self.logs[i] for i in sorted(self.logs, reverse=True)]


async def open_socket(b: Browser, path: str = WS, **kwargs: Any) -> Socket:
    ws = await b.client.ws_connect(path, **kwargs)
    return Socket(ws)


def progress_of(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("type", "logs_mode", "logs")}


# --- who may connect ------------------------------------------------------------------------


async def test_the_socket_needs_a_session_and_this_sites_origin(web: WebHarness):
    await web.serve(workers=0)
    anon = web.browser()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await anon.client.ws_connect(WS)
    assert refused.value.status == 401
    admin = await web.user("admin")
    with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
        await admin.client.ws_connect(WS, origin="https://evil.example")
    assert foreign.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as lookalike:
        await admin.client.ws_connect(WS, origin=f"http://{web.server.host}.evil.example")
    assert lookalike.value.status == 403
    own = f"http://{web.server.host}:{web.server.port}"
    socket = await open_socket(admin, origin=own)
    assert (await socket.next())["status"] == "idle"
    await socket.ws.close()
    # A plain GET is not a socket.
    response = await admin.client.get(WS, headers={"Accept": "application/json"})
    assert response.status == 400
    # A petugas may watch; a script with a token too (no Origin: not a browser).
    petugas = await web.user("petugas1", "petugas")
    socket = await open_socket(petugas)
    assert (await socket.next())["type"] == "progress"
    token = await web.token("script", "petugas")
    socket = await open_socket(web.browser(), headers={"Authorization": f"Bearer {token}"})
    assert (await socket.next())["type"] == "progress"


# --- messages -------------------------------------------------------------------------------


async def test_the_first_message_at_once_then_every_change_until_the_end(web: WebHarness):
    await web.serve(workers=4)
    web.sims[0].configure(latency=0.01)
    await web.students(200)
    admin = await web.user("admin")
    socket = await open_socket(admin)
    first = await socket.next(timeout=2.0)
    assert (first["type"], first["status"], first["logs_mode"]) == ("progress", "idle", "replace")
    status, started = await admin.post_json(START, {})
    assert status == 200, started
    end = await socket.until(lambda m: m["status"] == "completed")
    assert end["run_id"] == started["run_id"]
    assert (end["total"], end["processed"], end["failed"], end["successCount"]) == (
        200,
        200,
        0,
        200,
    )
    assert end["percent"] == 100.0 and end["isRunning"] is False
    run = [m for m in socket.messages if m["run_id"] == started["run_id"]]
    counts = [m["processed"] for m in run]
    assert counts == sorted(counts), "processed went backwards"
    assert len(set(counts)) >= 3, f"too few steps seen: {counts}"
    assert all(m["processed"] <= m["total"] and m["percent"] <= 100 for m in run)
    # The first message of the run replaces the log, the others only add to it…
    assert run[0]["logs_mode"] == "replace"
    assert {m["logs_mode"] for m in run[1:]} == {"append"}
    # …and what the page merged is the server's log.
    _, progress = await admin.get_json(BASE + "/progress")
    assert socket.merged_logs() == progress["logs"]
    assert progress_of(end) == progress_of(progress) | {"elapsed_seconds": end["elapsed_seconds"]}
    # Messages are coalesced: not one per student.
    assert len(run) < 200


async def test_a_run_worked_by_another_connection_reaches_the_socket(web: WebHarness):
    await web.serve(workers=0)  # this server works nothing itself
    await web.students(120)
    admin = await web.user("admin")
    other_db = await web.connection()
    elsewhere = web.syncpay(web.sims[0], db=other_db)
    socket = await open_socket(admin)
    assert (await socket.next())["status"] == "idle"
    # Started elsewhere too: nothing in this process knows about the run.
    run = await elsewhere.start(started_by="cron")
    running = await socket.until(lambda m: m["status"] == "running")
    assert (running["run_id"], running["started_by"]) == (run.id, "cron")
    worker = web.worker(elsewhere, 4)
    worker.start()
    end = await socket.until(lambda m: m["status"] == "completed")
    assert (end["processed"], end["successCount"]) == (120, 120)
    steps = {m["processed"] for m in socket.messages if m.get("run_id") == run.id}
    assert len(steps) >= 3, steps
    assert socket.merged_logs()[0]["message"] == "Sinkronisasi selesai - 120 berhasil, 0 gagal"


async def test_a_page_may_watch_another_run(web: WebHarness):
    await web.serve(workers=0)
    roster = await web.students(10)
    admin = await web.user("admin")
    _, first = await admin.post_json(START, {"idperson": roster[0]["idperson"]})
    _, second = await admin.post_json(START, {"idperson": roster[1]["idperson"]})
    socket = await open_socket(admin)
    assert (await socket.next())["run_id"] == second["run_id"]
    await socket.ws.send_json({"run_id": first["run_id"]})
    watched = await socket.until(lambda m: m["run_id"] == first["run_id"], 5)
    assert watched["logs_mode"] == "replace"
    assert "Siswa " + roster[0]["idperson"] in watched["logs"][0]["message"]
    # Cancelling the watched run is seen on this socket.
    await admin.post_json(BASE + "/cancel", {"run_id": first["run_id"]})
    cancelled = await socket.until(lambda m: m["status"] == "cancelled", 5)
    assert cancelled["run_id"] == first["run_id"]
    assert cancelled["logs_mode"] == "append"
    assert [line["level"] for line in cancelled["logs"]] == ["warning"]
    await socket.ws.send_json({"run_id": None})
    latest = await socket.until(lambda m: m["run_id"] == second["run_id"], 5)
    assert latest["status"] == "running"
    # Bad requests get an error message; the socket stays open.
    for bad, status in (({"run_id": 999}, 404), ({"run_id": "x"}, 422), (["?"], 422)):
        await socket.ws.send_json(bad)
        reply = await socket.next()
        assert (reply["type"], reply["status"]) == ("error", status), reply
    await socket.ws.send_str("not json")
    assert (await socket.next())["type"] == "error"
    # ?run_id= on connect watches that run from the first message.
    other = await open_socket(admin, f"{WS}?run_id={first['run_id']}")
    assert (await other.next())["run_id"] == first["run_id"]


async def test_the_hub_polls_only_while_a_page_is_connected(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    from syncpay.web.live import HUB

    hub = web.app[HUB]
    admin = await web.user("admin")
    await asyncio.sleep(0.3)
    before = hub.stats.ticks
    await asyncio.sleep(0.3)
    assert hub.stats.ticks == before, "polled with no page open"
    socket = await open_socket(admin)
    await socket.next()
    await asyncio.sleep(0.5)
    assert hub.stats.ticks > before
    await socket.ws.close()
    await asyncio.sleep(0.3)
    idle = hub.stats.ticks
    await asyncio.sleep(0.4)
    assert hub.stats.ticks <= idle + 1
    assert not hub.clients


async def test_shutdown_closes_every_socket_with_going_away(web: WebHarness):
    await web.serve(workers=0)
    admin = await web.user("admin")
    sockets = [await open_socket(admin) for _ in range(3)]
    for socket in sockets:
        await socket.next()
    await web.server.close()
    for socket in sockets:
        message = await socket.ws.receive(timeout=5)
        assert (message.type, message.data) == (WSMsgType.CLOSE, WSCloseCode.GOING_AWAY)


# --- GET progress from the hub's copies -----------------------------------------------------


async def test_polling_pages_share_one_computation_and_see_changes_made_elsewhere(
    web: WebHarness,
):
    await web.serve(workers=0)
    await web.students(5)
    from syncpay.web.live import HUB

    hub = web.app[HUB]
    admin = await web.user("admin")
    status, idle = await admin.get_json(BASE + "/progress")
    assert (status, idle["status"]) == (200, "idle")
    await asyncio.sleep(0.2)  # the copy is stale now
    before = hub.stats.computed
    answers = await asyncio.gather(*(admin.get_json(BASE + "/progress") for _ in range(30)))
    assert all(status == 200 and body == idle for status, body in answers)
    assert hub.stats.computed - before <= 3, "each request computed its own object"

    # A run started by another process shows up without any write through this server.
    elsewhere = web.syncpay(web.sims[0], db=await web.connection())
    run = await elsewhere.start(started_by="cron")

    async def shows_it() -> bool:
        _, body = await admin.get_json(BASE + "/progress")
        return body["run_id"] == run.id and body["status"] == "running"

    await until(shows_it, 2.0, what="the run started elsewhere")
    # And a write through this server is seen by the very next request.
    status, body = await admin.post_json(BASE + "/cancel", {})
    assert status == 200, body
    _, body = await admin.get_json(BASE + "/progress")
    assert body["status"] == "cancelled"
    _, body = await admin.get_json(f"{BASE}/progress?after_log={body['logs'][1]['id']}")
    assert [line["message"] for line in body["logs"]] == ["Sinkronisasi dibatalkan oleh admin"]


async def test_copies_kept_up_to_date_line_by_line_equal_a_full_read(web: WebHarness):
    await web.serve(workers=4)
    web.sims[0].configure(fail_rate=0.4, latency=0.01)  # ~40 failure lines, a few at a time
    await web.students(100)
    from syncpay.web.live import HUB

    admin = await web.user("admin")
    socket = await open_socket(admin)
    await socket.next()
    _, started = await admin.post_json(START, {})
    end = await socket.until(lambda m: m["status"] == "completed")
    assert end["run_id"] == started["run_id"] and end["failed"] > 20
    copy = await web.app[HUB].progress()
    full = await web.pays[0].sync.progress()
    assert copy.logs == full.logs and len(full.logs) > 25
    assert socket.merged_logs() == full.to_json()["logs"]


async def test_pages_polling_in_step_share_one_encoded_answer(web: WebHarness, monkeypatch):
    from syncpay.web import live
    from syncpay.web.live import HUB

    await web.serve(workers=0)
    await web.students(5)
    admin = await web.user("admin")
    _, started = await admin.post_json(START, {})
    hub = web.app[HUB]
    first = await hub.progress_body(None, 0)
    assert await hub.progress_body(None, 0) is first  # the same bytes, not encoded again
    newest = json.loads(first)["logs"][0]["id"]
    after = await hub.progress_body(None, newest)
    assert json.loads(after)["logs"] == [] and await hub.progress_body(None, newest) is after
    _, body = await admin.get_json(f"{BASE}/progress?after_log={newest}")
    assert body == json.loads(after)
    # A change (here the cancel) makes a new answer at once.
    status, _ = await admin.post_json(BASE + "/cancel", {})
    assert status == 200
    changed = json.loads(await hub.progress_body(None, newest))
    assert changed["status"] == "cancelled" and changed["logs"]
    assert changed == (await web.pays[0].sync.progress(started["run_id"], newest)).to_json()
    # More new lines than a copy holds: read from the database, never kept.
    monkeypatch.setattr(live, "LOG_LIMIT", 1)
    status, again = await admin.post_json(START, {})
    assert status == 200
    seen = max(line["id"] for line in changed["logs"])  # the new run's lines are all newer
    one = await hub.progress_body(None, seen)
    expected = (await web.pays[0].sync.progress(again["run_id"], seen)).to_json()
    assert json.loads(one)["logs"] == expected["logs"] and expected["logs"]
    assert await hub.progress_body(None, seen) is not one


async def test_the_socket_tells_when_a_run_waits_for_a_worker(web: WebHarness):
    """Nothing in the database changes while a run waits for a worker, yet the pages hear
    it (a running run's object is recomputed every second), and hear it end (#12 item 3)."""
    await web.serve(workers=0)
    web.sims[0].configure(latency=0.2)
    await web.students(10)
    admin = await web.user("admin")
    socket = await open_socket(admin)
    assert (await socket.next())["status"] == "idle"
    _, started = await admin.post_json(START, {})
    waiting = await socket.until(lambda m: m.get("waiting_for_worker") is True, 15)
    assert (waiting["run_id"], waiting["status"]) == (started["run_id"], "running")
    worker = web.worker(web.syncpay(web.sims[0], db=await web.connection()), 2)
    worker.start()
    served = await socket.until(lambda m: m.get("waiting_for_worker") is False, 15)
    assert served["status"] == "running" or served["processed"] == 10
    assert (await socket.until(lambda m: m["status"] == "completed"))["processed"] == 10
