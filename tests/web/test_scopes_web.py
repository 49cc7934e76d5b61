"""Officer scopes on the pages and the JSON API (issue #15), SQLite and MariaDB: a scoped
petugas sees exactly their students in the list, its JSON and CSV, the report's JSON and
CSV; another student is a 404 like an unknown one (page, JSON, "sync now"); they start a
run of their own students, never everyone, and cancel only their own runs; they see
only their own runs; the same with a bearer token bound to them."""

from __future__ import annotations

import csv
import io
from typing import Any

import aiohttp
import pytest

from syncpay.accounts import Accounts
from syncpay.officers import OfficerScope
from tests.web.conftest import PASSWORD, Browser, WebHarness

SARI = OfficerScope.parse(units=["MTs"], asrama=["Al-Hidayah"])
BUDI = OfficerScope.parse(kelas=["SMA:X IPS 2", "SMP:VII A"])
SYNC = "/admin/sync-pembayaran"


async def _officer(web: WebHarness, name: str, scope: OfficerScope | None) -> Browser:
    await Accounts(web.db).create_user(name, PASSWORD, "petugas", scope=scope)
    browser = web.browser()
    assert (await browser.login(name)).status == 302
    return browser


async def _covered(web: WebHarness, scope: OfficerScope) -> set[str]:
    ids = [r["idperson"] for r in await web.db.fetch_all("roster_idpersons")]
    rows = await web.db.fetch_all("roster_find", {"ids": ids})
    return {str(r["idperson"]) for r in rows if scope.covers(r)}


def _csv_ids(body: bytes) -> list[str]:
    text = body.decode("utf-8").removeprefix("\ufeff")
    return [row[0] for row in list(csv.reader(io.StringIO(text), delimiter=";"))[1:]]


async def _list_ids(get: Any) -> tuple[list[str], int]:
    ids: list[str] = []
    page, total = 1, -1
    while True:
        status, body = await get(f"/admin/siswa?page={page}")
        assert status == 200, body
        ids += [row["idperson"] for row in body["data"]]
        total = body.get("total", total)
        if not body["has_next"]:
            return ids, total
        page += 1


async def test_a_scoped_officer_sees_exactly_their_students(web: WebHarness):
    await web.serve(workers=0)
    await web.students(200)
    covered = await _covered(web, SARI)
    everyone = {str(r["idperson"]) for r in await web.db.fetch_all("roster_idpersons")}
    outside = sorted(everyone - covered)[0]
    inside = sorted(covered)[0]
    sari = await _officer(web, "sari", SARI)

    ids, total = await _list_ids(sari.get_json)
    assert set(ids) == covered and len(ids) == total == len(covered)
    response = await sari.get("/admin/siswa/export.csv")
    assert response.status == 200
    assert sorted(_csv_ids(await response.read())) == sorted(covered)
    status, report = await sari.get_json("/admin/laporan")
    assert status == 200 and report["total"]["students"] == len(covered)
    response = await sari.get("/admin/laporan/export.csv")
    assert response.status == 200
    page = await (await sari.get("/admin/siswa")).text()
    assert inside in page and outside not in page

    # Outside: exactly the answer of an unknown student (page, JSON, sync now).
    unknown = await sari.get_json("/admin/siswa/ZZ999")
    assert await sari.get_json(f"/admin/siswa/{outside}") == unknown
    assert unknown[0] == 404
    page_outside = await sari.get(f"/admin/siswa/{outside}")
    page_unknown = await sari.get("/admin/siswa/ZZ999")
    assert page_outside.status == page_unknown.status == 404
    assert (await sari.get_json(f"/admin/siswa/{inside}"))[0] == 200
    assert await sari.post_json(f"/admin/siswa/{outside}/sync") == await sari.post_json(
        "/admin/siswa/ZZ999/sync"
    )
    assert (await sari.post_json(f"/admin/siswa/{outside}/sync"))[0] == 404

    # An officer with no scope, and an admin, see everyone (as before).
    rina = await _officer(web, "rina", None)
    assert set((await _list_ids(rina.get_json))[0]) == everyone
    admin = await web.user("boss")
    assert (await admin.get_json("/admin/laporan"))[1]["total"]["students"] == len(everyone)

    # A bearer token bound to sari is sari; a scope change counts at once here.
    token = await Accounts(web.db).create_token("sari-script", user="sari")
    client = web.browser().client
    bearer = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def token_get(path: str) -> tuple[int, Any]:
        response = await client.get(path, headers=bearer)
        return response.status, await response.json()

    assert set((await _list_ids(token_get))[0]) == covered
    assert (await token_get(f"/admin/siswa/{outside}"))[0] == 404


async def test_officers_run_their_own_students_and_cancel_only_their_own_runs(web: WebHarness):
    await web.serve(workers=0)  # nothing runs: the runs stay active for the checks
    await web.students(200)
    sari_ids = await _covered(web, SARI)
    budi_ids = await _covered(web, BUDI)
    sari = await _officer(web, "sari", SARI)
    budi = await _officer(web, "budi", BUDI)
    rina = await _officer(web, "rina", None)
    admin = await web.user("boss")

    status, body = await sari.post_json(f"{SYNC}/start", {})
    assert status == 200, body
    mine = body["run_id"]
    status, body = await budi.post_json(f"{SYNC}/start", {})
    assert status == 200, body
    his = body["run_id"]
    status, progress = await sari.get_json(f"{SYNC}/progress")
    assert (progress["run_id"], progress["total"]) == (mine, len(sari_ids))
    assert progress["scope_detail"]["kind"] == "officer"
    assert (await budi.get_json(f"{SYNC}/progress"))[1]["total"] == len(budi_ids)

    # Never everyone, nothing outside; an officer without a scope starts nothing.
    outside = sorted(budi_ids - sari_ids)[0]
    assert (await sari.post_json(f"{SYNC}/start", {"unit": "SMA"}))[0] == 403
    assert (await sari.post_json(f"{SYNC}/start", {"idperson": outside}))[0] == 404
    both = {"idpersons": [sorted(sari_ids)[0], outside]}
    assert (await sari.post_json(f"{SYNC}/start", both))[0] == 403
    assert (await rina.post_json(f"{SYNC}/start", {}))[0] == 403
    assert (await sari.post_json(f"{SYNC}/reset", {}))[0] == 403

    # Only their own runs: another's is not found; cancel it: 403.
    assert (await sari.get_json(f"{SYNC}/progress?run_id={his}"))[0] == 404
    assert [r["run_id"] for r in (await sari.get_json(f"{SYNC}/runs"))[1]["runs"]] == [mine]
    assert (await sari.get(f"{SYNC}/runs/{his}/changes")).status == 404
    status, body = await sari.post_json(f"{SYNC}/cancel", {"run_id": his})
    assert status == 403, body
    assert (await budi.post_json(f"{SYNC}/cancel", {"run_id": mine}))[0] == 403
    # A token bound to budi is budi.
    token = await Accounts(web.db).create_token("budi-script", user="budi")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    client = web.browser().client
    refused = await client.post(f"{SYNC}/cancel", json={"run_id": mine}, headers=headers)
    assert refused.status == 403
    cancelled = await client.post(f"{SYNC}/cancel", json={}, headers=headers)
    assert cancelled.status == 200 and (await cancelled.json())["run_id"] == his
    # Sari cancels her own (without a run id: her newest); the admin sees every run.
    status, body = await sari.post_json(f"{SYNC}/cancel", {})
    assert (status, body["run_id"]) == (200, mine)
    runs = {r["run_id"] for r in (await admin.get_json(f"{SYNC}/runs"))[1]["runs"]}
    assert {mine, his} <= runs
    page = await (await sari.get(SYNC)).text()
    assert '"officer":true' in page.replace(" ", "")


async def test_an_officers_socket_follows_their_newest_run_and_no_other(web: WebHarness):
    """The WebSocket of a scoped petugas: "the latest run" is the newest they started;
    another's run, asked for by id, is not found; the admin's latest is another run."""
    from tests.web.test_live import open_socket

    await web.serve(workers=0)  # the runs stay active
    await web.students(200)
    sari = await _officer(web, "sari", SARI)
    budi = await _officer(web, "budi", BUDI)
    admin = await web.user("boss")
    socket = await open_socket(sari)
    assert (await socket.next())["status"] == "idle"  # she has started nothing yet
    mine = (await sari.post_json(f"{SYNC}/start", {}))[1]["run_id"]
    first = await socket.until(lambda m: m["run_id"] == mine, 5)
    assert first["total"] == len(await _covered(web, SARI))
    his = (await budi.post_json(f"{SYNC}/start", {}))[1]["run_id"]
    admins = await open_socket(admin)
    assert (await admins.next())["run_id"] == his  # the admin's latest: everyone's
    # Budi's run never reaches her socket: a change of his is not hers.
    await budi.post_json(f"{SYNC}/cancel", {"run_id": his})
    await admins.until(lambda m: m["status"] == "cancelled", 5)
    await socket.ws.send_json({"run_id": his})
    reply = await socket.next()
    while reply["type"] == "progress":  # her running run's elapsed time moves on meanwhile
        assert reply["run_id"] == mine, reply
        reply = await socket.next()
    assert (reply["type"], reply["status"]) == ("error", 404), reply
    await socket.ws.send_json({"run_id": None})
    again = await socket.until(lambda m: m["run_id"] == mine, 5)
    assert again["status"] == "running"
    seen = {m.get("run_id") for m in socket.messages if m.get("type") == "progress"}
    assert seen == {None, mine}, seen
    # Asked for on connect: refused before the upgrade, as on the progress route.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await sari.client.ws_connect(f"{SYNC}/ws?run_id={his}")
    assert refused.value.status == 404
