"""The sync page's JSON routes and the page itself (SPEC §6): access, CSRF, tokens, bad
input, conflicts, the progress object, whole runs through the routes (complete, cancel,
reset, retry the failed) and the HTML — through the real app on both databases."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from syncpay.i18n import catalogs
from syncpay.students import import_rows
from syncpay.web.live import HUB
from tests.sync_helpers import until
from tests.test_cli import base_env
from tests.test_cli_sync import PROGRESS_FIELDS as SPEC_FIELDS
from tests.web.conftest import Browser, WebHarness

BASE = "/admin/sync-pembayaran"
START, CANCEL, RESET = BASE + "/start", BASE + "/cancel", BASE + "/reset"
PROGRESS, FAILED, RETRY = BASE + "/progress", BASE + "/failed", BASE + "/retry-failed"
RUNS, SCOPES, WS = BASE + "/runs", BASE + "/scopes", BASE + "/ws"
ADMIN_POSTS = (START, CANCEL, RESET, RETRY)
USER_GETS = (PROGRESS, FAILED, RUNS, SCOPES)

#: SPEC §6's fields plus the ones the page uses; nothing else.
PROGRESS_FIELDS = SPEC_FIELDS | {
    "unchanged",
    "scope",
    "scope_detail",
    "elapsed_seconds",
    "waiting_for_worker",
    "retry_waiting",
    "next_retry_seconds",
}
#: A log line: SPEC §6's fields, plus its template's key and values (the page's language).
LOG_FIELDS = {"id", "at", "level", "message", "key", "values"}
PAGE_IDS = (
    "sync-page",
    "sync-status",
    "sync-progress",
    "sync-percent",
    "stat-total",
    "stat-success",
    "stat-failed",
    "stat-processed",
    "sync-eta",
    "sync-rate",
    "sync-elapsed",
    "sync-started-by",
    "btn-start",
    "btn-cancel",
    "btn-reset",
    "confirm-dialog",
    "confirm-yes",
    "confirm-no",
    "sync-message",
    "sync-log",
    "failed-list",
    "btn-retry-failed",
    "recent-runs",
    "sync-notice",
)
SCOPE_IDS = ("scope-kind", "scope-unit", "scope-kelas")
HOSTILE = "<script>alert(1)</script>"


async def wait_end(b: Browser, run_id: int, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the progress route until the run has ended; its last progress object."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await b.get_json(f"{PROGRESS}?run_id={run_id}")
        assert status == 200, body
        if not body["isRunning"]:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} did not end in {timeout}s: {body}")
        await asyncio.sleep(0.05)


def page_data(html: str) -> dict[str, Any]:
    """The page's data block (what sync.js writes the page from)."""
    found = re.search(r'id="page-data">(.*?)</script>', html, re.S)
    assert found, "no page-data block"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def tag_with_id(html: str, element_id: str) -> str:
    found = re.search(rf'<[a-z]+[^>]*\sid="{re.escape(element_id)}"[^>]*>', html)
    assert found, f"#{element_id} is missing"
    return found.group(0)


# --- access ---------------------------------------------------------------------------------


async def test_anonymous_json_routes_answer_401_and_the_page_redirects(web: WebHarness):
    await web.serve(workers=0)
    anon = web.browser()
    await anon.get("/login")  # a CSRF token, so that the 401 is about the login
    for path in USER_GETS:
        status, body = await anon.get_json(path)
        assert (status, body["status"]) == (401, False), (path, body)
    for path in ADMIN_POSTS:
        status, body = await anon.post_json(path, {})
        assert (status, body["status"]) == (401, False), (path, body)
        assert body["message"] == "Silakan masuk terlebih dahulu."
    page = await anon.get(BASE)
    assert page.status == 302
    assert page.headers["Location"].startswith("/login?next=")
    ws = await anon.client.get(WS, headers={"Accept": "application/json"})
    assert ws.status == 401


async def test_a_petugas_reads_but_may_not_act(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    petugas = await web.user("petugas1", "petugas")
    for path in ADMIN_POSTS:
        status, body = await petugas.post_json(path, {})
        assert (status, body["status"]) == (403, False), (path, body)
        assert body["message"] == "Anda tidak memiliki izin untuk tindakan ini."
    for path in USER_GETS:
        status, body = await petugas.get_json(path)
        assert status == 200, (path, body)
    assert (await web.pays[0].sync.latest()) is None  # nothing was started


async def test_posts_need_the_csrf_token_unless_a_bearer_token_is_sent(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    admin = await web.user("admin")
    for path in ADMIN_POSTS:
        for token in ("", "wrong-token"):
            status, body = await admin.post_json(path, {}, csrf=token)
            assert (status, body["status"]) == (419, False), (path, token, body)
    # A form with the page's _token works (the fields of a form are read too).
    response = await admin.post_form(START, {"unit": "", "kelas": ""})
    assert response.status == 200, await response.text()
    run_id = (await response.json())["run_id"]
    # A script with a bearer token needs no CSRF token; JSON or no body at all.
    token = await web.token("script", "admin")
    headers = {"Authorization": f"Bearer {token}"}
    client = web.browser().client
    answer = await client.post(CANCEL, json={"run_id": run_id}, headers=headers)
    assert answer.status == 200, await answer.text()
    assert await answer.json() == {
        "status": True,
        "message": "Proses sinkronisasi dibatalkan.",
        "run_id": run_id,
    }
    answer = await client.post(RESET, headers=headers)
    assert (answer.status, (await answer.json())["message"]) == (200, "Progress di-reset.")
    answer = await client.get(PROGRESS, headers=headers)
    assert (await answer.json())["status"] == "idle"
    petugas_token = await web.token("viewer", "petugas")
    answer = await client.post(START, headers={"Authorization": f"Bearer {petugas_token}"})
    assert answer.status == 403


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"unit": ', "Data JSON tidak sah."),
        ("[1, 2]", "Data yang dikirim harus berupa objek JSON."),
        ('"SMP"', "Data yang dikirim harus berupa objek JSON."),
        ('{"unit": 7}', "unit harus berupa teks."),
        ('{"kelas": ["VII A"]}', "kelas harus berupa teks."),
        ('{"unit": "  "}', "unit tidak boleh kosong."),
        ('{"unit": "' + "U" * 101 + '"}', "unit terlalu panjang (paling banyak 100 karakter)."),
        ('{"idperson": []}', "Daftar siswa kosong."),
        ('{"idperson": [1, 2]}', "idperson harus berupa teks atau daftar teks."),
        ('{"idperson": {"a": 1}}', "idperson harus berupa teks atau daftar teks."),
        ('{"idperson": ["2025000001", ""]}', "idperson tidak boleh kosong."),
        (
            '{"idperson": "' + "9" * 33 + '"}',
            "idperson terlalu panjang (paling banyak 32 karakter).",
        ),
        (
            '{"unit": "SMP", "idperson": "2025000001"}',
            "Pilih daftar siswa atau unit/kelas, tidak keduanya.",
        ),
    ],
)
async def test_start_refuses_bad_values_with_422(web: WebHarness, body: str, message: str):
    await web.serve(workers=0)
    await web.students(3)
    admin = await web.user("admin")
    response = await admin.client.post(
        START,
        data=body.encode(),
        headers={"Content-Type": "application/json", "X-CSRF-TOKEN": admin.csrf},
    )
    assert response.status == 422, await response.text()
    assert await response.json() == {"status": False, "message": message}
    assert (await web.pays[0].sync.latest()) is None


async def test_bad_numbers_and_unknown_runs(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    admin = await web.user("admin")
    for query in (
        "run_id=abc",
        "run_id=0",
        "run_id=-1",
        "run_id=1.5",
        "run_id=" + "9" * 40,
        "after_log=x",
        "after_log=-3",
    ):
        status, body = await admin.get_json(f"{PROGRESS}?{query}")
        assert (status, body["status"]) == (422, False), (query, body)
    status, body = await admin.get_json(f"{PROGRESS}?run_id=999")
    assert status == 404, body
    assert body["message"] == "Proses sinkronisasi #999 tidak ditemukan."
    for path in (FAILED + "?run_id=999",):
        status, body = await admin.get_json(path)
        assert status == 404, (path, body)
    for path, query in ((FAILED, "limit=5000"), (RUNS, "limit=0"), (FAILED, "offset=-1")):
        status, body = await admin.get_json(f"{path}?{query}")
        assert status == 422, (path, query, body)
    for value in ("x", True, 0, [1], 1.5):
        status, body = await admin.post_json(CANCEL, {"run_id": value})
        assert status == 422, (value, body)
        assert body["message"] == "run_id harus berupa bilangan bulat paling kecil 1."
    status, body = await admin.post_json(CANCEL, {"run_id": 4242})
    assert status == 404, body
    status, body = await admin.post_json(RETRY, {"run_id": 4242})
    assert status == 404, body


async def test_no_students_is_400_and_an_empty_scope_too(web: WebHarness):
    await web.serve(workers=0)
    admin = await web.user("admin")
    status, body = await admin.post_json(START, {})
    assert (status, body) == (400, {"status": False, "message": "Tidak ada siswa di database."})
    await web.students(3)
    status, body = await admin.post_json(START, {"unit": "Tidak Ada"})
    assert (status, body["message"]) == (400, "Tidak ada siswa dalam cakupan ini.")
    status, body = await admin.post_json(RETRY, {})
    assert status == 400, body


# --- conflicts ------------------------------------------------------------------------------


async def test_conflicts_answer_409_with_the_sync_layers_message(web: WebHarness):
    await web.serve(workers=0)  # nothing works the run: it stays active
    await web.students(5)
    admin = await web.user("admin")
    other = await web.user("kepala", "admin")
    status, body = await other.post_json(CANCEL, {})
    assert (status, body["message"]) == (409, "Tidak ada proses sinkronisasi yang berjalan.")
    status, started = await admin.post_json(START, None)
    assert status == 200, started
    assert started == {
        "status": True,
        "message": "Proses sinkronisasi dimulai.",
        "run_id": started["run_id"],
    }
    status, body = await other.post_json(START, {})
    assert status == 409, body
    assert body["message"] == "Proses sinkronisasi sudah berjalan."
    assert body["run_id"] == started["run_id"]
    assert body["started_by"] == "admin"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["started_at"])
    status, body = await other.post_json(RESET, {})
    assert (status, body["message"]) == (409, "Proses sinkronisasi masih berjalan; batalkan dulu.")
    # A scoped run is not refused by the one over all students.
    status, body = await other.post_json(START, {"idperson": "2025000002"})
    assert status == 200, body
    status, body = await admin.post_json(CANCEL, {"run_id": started["run_id"]})
    assert status == 200, body
    status, body = await admin.post_json(CANCEL, {"run_id": started["run_id"]})
    assert (status, body["message"]) == (409, "Proses sinkronisasi ini tidak sedang berjalan.")
    # English sessions get the same refusals in English.
    await admin.get(BASE + "?lang=en")
    status, body = await admin.post_json(CANCEL, {"run_id": started["run_id"]})
    assert (status, body["message"]) == (409, "This sync is not running.")


# --- the progress object --------------------------------------------------------------------


async def test_the_progress_object_and_after_log(web: WebHarness):
    await web.serve(workers=0)
    await web.students(4)
    admin = await web.user("admin")
    status, idle = await admin.get_json(PROGRESS)
    assert status == 200
    assert set(idle) == PROGRESS_FIELDS
    assert (idle["status"], idle["isRunning"], idle["run_id"], idle["logs"]) == (
        "idle",
        False,
        None,
        [],
    )
    _, started = await admin.post_json(START, {})
    status, body = await admin.get_json(PROGRESS)
    assert set(body) == PROGRESS_FIELDS
    assert body["run_id"] == started["run_id"]
    assert (body["status"], body["isRunning"], body["started_by"]) == ("running", True, "admin")
    assert body["total"] == 4 and body["processed"] == 0 and body["percent"] == 0.0
    assert all(set(line) == LOG_FIELDS for line in body["logs"])
    first = body["logs"][0]["id"]
    assert "Sinkronisasi dimulai oleh admin" in body["logs"][0]["message"]
    assert body["logs"][0]["key"] == "started"
    assert body["logs"][0]["values"] == {
        "by": "admin",
        "scope": "Semua siswa",
        "total": 4,
        "scope_detail": {
            "kind": "all",
            "unit": None,
            "kelas": None,
            "idperson": None,
            "students": None,
        },
    }
    _, body = await admin.get_json(f"{PROGRESS}?after_log={first}")
    assert body["logs"] == []
    await admin.post_json(CANCEL, {})
    _, body = await admin.get_json(f"{PROGRESS}?after_log={first}")
    assert [line["level"] for line in body["logs"]] == ["warning"]
    assert body["logs"][0]["message"] == "Sinkronisasi dibatalkan oleh admin"
    assert (body["logs"][0]["key"], body["logs"][0]["values"]) == ("cancelled_by", {"by": "admin"})
    assert body["logs"][0]["id"] > first
    _, full = await admin.get_json(f"{PROGRESS}?run_id={started['run_id']}")
    ids = [line["id"] for line in full["logs"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 2


# --- whole runs -----------------------------------------------------------------------------


async def test_a_run_of_200_students_through_the_routes(web: WebHarness):
    await web.serve(workers=4)
    await web.students(200)
    admin = await web.user("admin")
    petugas = await web.user("petugas1", "petugas")
    status, started = await admin.post_json(START, {})
    assert status == 200, started
    seen: list[dict[str, Any]] = []

    async def watch() -> bool:
        _, body = await petugas.get_json(PROGRESS)
        seen.append(body)
        return not body["isRunning"]

    await until(watch, 60, what="the run to end")
    end = seen[-1]
    assert (end["status"], end["run_id"]) == ("completed", started["run_id"])
    assert (end["total"], end["processed"], end["failed"], end["successCount"]) == (
        200,
        200,
        0,
        200,
    )
    assert end["percent"] == 100.0 and end["finished_at"] is not None
    assert end["eta_seconds"] is None
    for before, after in itertools.pairwise(seen):
        assert before["processed"] <= after["processed"] <= after["total"]
    assert end["logs"][0]["message"] == "Sinkronisasi selesai - 200 berhasil, 0 gagal"
    _, runs = await petugas.get_json(RUNS)
    latest = runs["runs"][0]
    assert latest["run_id"] == started["run_id"]
    assert (latest["status"], latest["total"], latest["successCount"]) == ("completed", 200, 200)
    assert latest["started_by"] == "admin" and latest["duration_seconds"] >= 0
    _, failed = await petugas.get_json(FAILED)
    assert failed == {"status": True, "run_id": started["run_id"], "failed": 0, "students": []}
    # What the run changed: every student synced for the first time; the list is them.
    changes = end["changes"]
    assert (changes["first_synced"], changes["became_lunas"], changes["arrears_up"]) == (200, 0, 0)
    assert changes["tunggakan_before"] == 0 and latest["changes"] == changes
    url = f"{BASE}/runs/{started['run_id']}/changes"
    status, listed = await petugas.get_json(url + "?page=2")
    assert status == 200, listed
    assert (listed["total"], listed["page"], len(listed["students"])) == (200, 2, 100)
    assert listed["changes"] == changes
    first = listed["students"][0]
    assert first["lunas_before"] is None and first["tunggakan_before"] is None
    html = await (await petugas.get(url + "?lang=en")).text()
    assert "Changes of run #" in html and html.count('<tr data-idperson="') == 100
    assert "200 synced for the first time" in html and 'rel="next"' in html
    # A new run may start at once, without a reset.
    status, again = await admin.post_json(START, {})
    assert status == 200 and again["run_id"] > started["run_id"]


async def test_a_runs_changes_page_checks_its_input_and_needs_a_login(web: WebHarness):
    await web.serve(workers=0)
    await web.students(2)
    anon = web.browser()
    await anon.get("/login")
    status, body = await anon.get_json(BASE + "/runs/1/changes")
    assert (status, body["status"]) == (401, False)
    page = await anon.get(BASE + "/runs/1/changes")
    assert page.status == 302 and page.headers["Location"].startswith("/login?next=")
    admin = await web.user("admin")
    status, started = await admin.post_json(START, {})
    assert status == 200, started
    url = f"{BASE}/runs/{started['run_id']}/changes"
    for bad, code in (("?page=0", 422), ("?page=x", 422), ("?page=10001", 422)):
        status, body = await admin.get_json(url + bad)
        assert (status, body["status"]) == (code, False), (bad, body)
        assert "\n" not in body["message"]
    status, body = await admin.get_json(BASE + "/runs/abc/changes")
    assert status == 422, body
    status, body = await admin.get_json(f"{BASE}/runs/{started['run_id'] + 99}/changes")
    assert status == 404, body
    status, body = await admin.get_json(url)
    assert status == 200 and (body["total"], body["students"]) == (0, []), body
    html = await (await admin.get(url)).text()
    assert 'id="changes-none"' in html


async def test_cancel_mid_run_freezes_the_counts_and_reset_goes_back_to_idle(web: WebHarness):
    await web.serve(workers=4)
    web.sims[0].configure(latency=0.05)  # 200 students / 4 workers × 50 ms ≈ 2.5 s
    await web.students(200)
    admin = await web.user("admin")
    _, started = await admin.post_json(START, {})

    async def some_done() -> bool:
        _, body = await admin.get_json(PROGRESS)
        return body["processed"] >= 10

    await until(some_done, 30, what="some students to be processed")
    status, body = await admin.post_json(CANCEL, {})
    assert (status, body["message"]) == (200, "Proses sinkronisasi dibatalkan.")
    _, first = await admin.get_json(PROGRESS)
    assert (first["status"], first["isRunning"]) == ("cancelled", False)
    await asyncio.sleep(0.6)
    _, later = await admin.get_json(PROGRESS)
    keys = ("total", "processed", "failed", "successCount", "percent", "status")
    assert {k: later[k] for k in keys} == {k: first[k] for k in keys}
    assert 10 <= later["processed"] < 200
    status, body = await admin.post_json(RESET, {})
    assert (status, body) == (200, {"status": True, "message": "Progress di-reset."})
    _, idle = await admin.get_json(PROGRESS)
    assert (idle["status"], idle["run_id"], idle["processed"]) == ("idle", None, 0)
    # History is kept: the run can still be asked for by id.
    _, old = await admin.get_json(f"{PROGRESS}?run_id={started['run_id']}")
    assert old["status"] == "cancelled" and old["processed"] == later["processed"]
    _, runs = await admin.get_json(RUNS)
    assert runs["runs"][0]["run_id"] == started["run_id"]


async def test_retry_failed_runs_exactly_the_failed_students(web: WebHarness):
    await web.serve(workers=4)
    sim = web.sims[0]
    sim.configure(fail_rate=0.2)  # these students fail on every attempt
    roster = await web.students(60)
    failing = sorted(s["idperson"] for s in roster if sim.category(s["idperson"]) == "fail")
    assert failing
    admin = await web.user("admin")
    _, started = await admin.post_json(START, {})
    end = await wait_end(admin, started["run_id"])
    assert (end["status"], end["failed"], end["processed"]) == ("completed", len(failing), 60)
    _, failed = await admin.get_json(f"{FAILED}?run_id={started['run_id']}")
    assert failed["failed"] == len(failing)
    assert sorted(s["idperson"] for s in failed["students"]) == failing
    names = {s["idperson"]: s["nama"] for s in roster}
    for student in failed["students"]:
        assert set(student) >= {"idperson", "nama", "reason", "attempts"}
        assert student["nama"] == names[student["idperson"]]
        assert student["attempts"] == 3 and student["reason"]
    sim.configure(fail_rate=0.0)
    status, body = await admin.post_json(RETRY, {"run_id": started["run_id"]})
    assert status == 200, body
    assert body["message"] == "Sinkronisasi ulang siswa yang gagal dimulai."
    retried = await wait_end(admin, body["run_id"])
    assert (retried["status"], retried["total"], retried["failed"]) == (
        "completed",
        len(failing),
        0,
    )
    assert retried["started_by"] == "admin"


async def test_scoped_starts_and_the_scope_list(web: WebHarness):
    await web.serve(workers=0)
    roster = await web.students(40)
    admin = await web.user("admin")
    _, scopes = await admin.get_json(SCOPES)
    units = sorted({s["UnitFormal"] for s in roster})
    pairs = sorted({(s["UnitFormal"], s["KelasFormal"]) for s in roster})
    assert scopes["units"] == units
    assert [(k["unit"], k["kelas"]) for k in scopes["kelas"]] == pairs
    sp = web.pays[0]

    unit = units[0]
    status, body = await admin.post_json(START, {"unit": unit})
    assert status == 200, body
    run = await sp.sync.get(body["run_id"])
    assert run.total == sum(s["UnitFormal"] == unit for s in roster)
    assert run.scope_label == f"Unit {unit}"

    unit, kelas = pairs[-1]
    response = await admin.post_form(START, {"unit": unit, "kelas": kelas, "idperson": ""})
    assert response.status == 200, await response.text()
    run = await sp.sync.get((await response.json())["run_id"])
    assert run.total == sum((s["UnitFormal"], s["KelasFormal"]) == (unit, kelas) for s in roster)

    one = roster[3]["idperson"]
    status, body = await admin.post_json(START, {"idperson": one})
    assert status == 200, body
    assert (await sp.sync.get(body["run_id"])).scope_label == f"Siswa {one}"
    ids = [s["idperson"] for s in roster[:5]]
    status, body = await admin.post_json(START, {"idperson": ids})
    assert status == 200, body
    assert (await sp.sync.get(body["run_id"])).total == 5
    response = await admin.post_form(START, {"idperson": ids[0]})
    assert response.status == 200


async def test_a_runs_scope_is_worded_in_the_pages_language(web: WebHarness):
    # The label stored with a run is Indonesian; the progress object and the recent runs
    # carry the scope itself, and the page words it in its own language (sync.js: see
    # test_the_script_words_every_dynamic_part in tests/browser/test_sync_page.py).
    await web.serve(workers=0)
    roster = await web.students(12)
    admin = await web.user("admin")
    unit, kelas = roster[0]["UnitFormal"], roster[0]["KelasFormal"]
    ids = [s["idperson"] for s in roster[:3]]
    details = []
    for body, detail, indonesian in (
        ({}, {"kind": "all"}, "Semua siswa"),
        ({"unit": unit}, {"kind": "unit", "unit": unit}, f"Unit {unit}"),
        (
            {"unit": unit, "kelas": kelas},
            {"kind": "kelas", "unit": unit, "kelas": kelas},
            f"Kelas {kelas} ({unit})",
        ),
        ({"idperson": ids[0]}, {"kind": "one", "idperson": ids[0], "students": 1}, None),
        ({"idperson": ids}, {"kind": "list", "students": 3}, None),
    ):
        status, started = await admin.post_json(START, body)
        assert status == 200, started
        _, progress = await admin.get_json(f"{BASE}/progress?run_id={started['run_id']}")
        shown = {k: v for k, v in progress["scope_detail"].items() if v is not None}
        assert shown == detail
        assert indonesian is None or progress["scope"] == indonesian
        details.append(detail)
        status, _ = await admin.post_json(BASE + "/cancel", {})
        assert status == 200
    data = page_data(await (await admin.get(BASE + "?lang=en")).text())["sync"]
    shown = [{k: v for k, v in r["scope_detail"].items() if v is not None} for r in data["runs"]]
    assert shown == details[::-1]
    assert data["progress"]["scope_detail"]["kind"] == "list"
    _, idle = await admin.get_json(f"{BASE}/progress")
    assert idle["scope_detail"]["kind"] == "list"
    await admin.post_json(BASE + "/reset", {})
    _, reset = await admin.get_json(f"{BASE}/progress")
    assert reset["scope_detail"] is None and reset["scope"] is None


# --- the page -------------------------------------------------------------------------------


async def test_the_page_has_every_element_the_script_and_the_tests_use(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    admin = await web.user("admin")
    response = await admin.get(BASE)
    assert response.status == 200
    html = await response.text()
    for element_id in (*PAGE_IDS, *SCOPE_IDS):
        tag_with_id(html, element_id)
    page = tag_with_id(html, "sync-page")
    assert 'data-transport="none"' in page
    status = tag_with_id(html, "sync-status")
    assert 'data-status="idle"' in status
    # Its words are the script's (tests/browser/test_sync_page.py): the frame has none.
    assert re.search(r'id="sync-status"[^>]*></span>', html)
    bar = tag_with_id(html, "sync-progress")
    for attr in ('role="progressbar"', 'aria-valuemin="0"', 'aria-valuemax="100"', "aria-valuenow"):
        assert attr in bar, bar
    assert "disabled" not in tag_with_id(html, "btn-start")
    assert "disabled" in tag_with_id(html, "btn-cancel")
    assert "disabled" in tag_with_id(html, "btn-reset")
    assert tag_with_id(html, "confirm-dialog").startswith("<dialog")
    for label in ("Mulai Sinkronisasi", "Batalkan", "Reset", "Berhasil", "Gagal", "Diproses"):
        assert label in html, label
    assert "/static/sync.js?v=" in html and "/static/sync.css?v=" in html
    order = [html.index(f"/static/{name}?v=") for name in ("sync_words.js", "sync.js")]
    assert order == sorted(order) and html.index("/static/sync_actions.js?v=") > order[-1]
    assert "<script>" not in html.replace('<script type="application/json"', "")
    assert " style=" not in html

    # Running: start disabled, cancel enabled; the state in the page's data block.
    _, started = await admin.post_json(START, {})
    html = await (await admin.get(BASE)).text()
    assert "disabled" in tag_with_id(html, "btn-start")
    assert "disabled" not in tag_with_id(html, "btn-cancel")
    assert 'data-status="running"' in tag_with_id(html, "sync-status")
    data = page_data(html)
    assert data["sync"]["progress"]["run_id"] == started["run_id"]
    assert data["sync"]["admin"] is True
    assert data["messages"]["js.sync.status.running"] == "Sedang Berjalan"

    # English.
    html = await (await admin.get(BASE + "?lang=en")).text()
    assert page_data(html)["messages"]["js.sync.status.running"] == "Running"
    assert "Start Sync" in html and "Mulai Sinkronisasi" not in html


async def test_a_petugas_sees_the_page_read_only(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    petugas = await web.user("petugas1", "petugas")
    html = await (await petugas.get(BASE)).text()
    for element_id in PAGE_IDS:
        tag_with_id(html, element_id)
    for button in ("btn-start", "btn-cancel", "btn-reset", "btn-retry-failed"):
        tag = tag_with_id(html, button)
        assert "disabled" in tag and 'title="Hanya admin' in tag, tag
    assert 'id="scope-kind"' not in html


async def test_the_page_escapes_hostile_names(web: WebHarness):
    await web.serve(workers=2)
    roster = [
        {
            "idperson": "2025000001",
            "nama": HOSTILE,
            "UnitFormal": '"><img src=x>',
            "KelasFormal": "VII A",
        }
    ]
    report = await import_rows(web.db, enumerate(roster, start=2))
    assert not report.invalid, report.invalid
    web.sims[0].configure(fail_rate=1.0)
    evil = await web.user(HOSTILE, "admin")
    _, started = await evil.post_json(START, {"idperson": "2025000001"})
    end = await wait_end(evil, started["run_id"])
    assert (end["failed"], end["started_by"]) == (1, HOSTILE)
    html = await (await evil.get(BASE)).text()
    assert HOSTILE not in html and "<img src=x>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the account's name, as text
    assert "\\u003cscript\\u003e" in html  # the page's data block
    data = page_data(html)["sync"]
    assert data["failed"][0]["nama"] == HOSTILE and data["progress"]["started_by"] == HOSTILE


async def test_the_activity_log_is_shown_in_the_pages_language(web: WebHarness):
    """A log line keeps its template's key and values: the page words it in its own
    language. A line without a key (written before keys were stored) or with a key the
    catalogue does not know shows its stored Indonesian message. Values are text."""
    await web.serve(workers=2)
    await web.students(3)
    evil = await web.user(HOSTILE, "admin")
    _, started = await evil.post_json(START, {})
    run_id = started["run_id"]
    end = await wait_end(evil, run_id)
    assert (end["status"], end["successCount"], end["failed"]) == ("completed", 3, 0)
    finished = end["logs"][0]
    assert finished["message"] == "Sinkronisasi selesai - 3 berhasil, 0 gagal"
    assert (finished["key"], finished["values"]) == ("finished", {"success": 3, "failed": 0})
    first = end["logs"][-1]
    assert first["message"] == f"Sinkronisasi dimulai oleh {HOSTILE}: Semua siswa, 3 siswa"
    assert first["values"]["by"] == HOSTILE  # a value, not part of the template

    # A line of an older version (no key) and one of a newer version (a key this one
    # does not know); the page hears of lines written behind its back within a poll.
    at = int(time.time())
    await web.db.run_script(
        "INSERT INTO sync_logs (run_id, at, level, message)"
        f" VALUES ({run_id}, {at}, 'info', 'Baris lama tanpa kunci');\n"
        "INSERT INTO sync_logs (run_id, at, level, message, message_key, message_values)"
        f" VALUES ({run_id}, {at}, 'info', 'Baris kunci baru', 'no_such_key', '{{}}')"
    )
    web.app[HUB].nudge()
    _, progress = await evil.get_json(f"{PROGRESS}?run_id={run_id}")
    newer, old = progress["logs"][:2]
    assert (newer["key"], newer["values"]) == ("no_such_key", {})
    assert (old["message"], old["key"], old["values"]) == ("Baris lama tanpa kunci", None, None)

    # The page's data block carries the lines with their keys and values: sync.js words
    # them (tests/browser/test_sync_page.py: test_the_script_words_every_dynamic_part).
    html = await (await evil.get(BASE + "?lang=en")).text()
    assert HOSTILE not in html
    data = page_data(html)
    lines = data["sync"]["progress"]["logs"]
    assert [line["key"] for line in lines] == [
        "no_such_key", None, "finished", "queued", "started",
    ]  # fmt: skip
    assert lines[2]["key"] == "finished" and lines[-1]["values"]["by"] == HOSTILE
    assert (
        data["messages"]["js.log.finished"]
        == "Sync finished - {success} succeeded, {failed} failed"
    )


async def test_failure_reasons_are_shown_in_the_pages_words(web: WebHarness):
    """The sync layer's own words in a failure's reason (stored in Indonesian) are
    translated on the English pages: the failed students, the log line, the student's
    page; JSON keeps the stored text."""
    await web.serve(workers=1, sync_tries="1")
    await web.students(1)
    web.sims[0].configure(fail_rate=1.0)
    admin = await web.user("admin")
    _, started = await admin.post_json(START, {})
    run_id = started["run_id"]
    end = await wait_end(admin, run_id)
    assert end["failed"] == 1
    stored = "HTTP 500 (percobaan terakhir terputus: sync.student was cut off 3 times)"
    await web.db.run_script(
        f"UPDATE sync_run_items SET reason = '{stored}' WHERE run_id = {run_id};\n"
        f"UPDATE siswa SET sync_error = '{stored}'"
    )
    english = "HTTP 500 (last attempts cut off: sync.student was cut off 3 times)"
    # The page's script replaces them (tests/browser/test_sync_page.py); its data block
    # carries the stored reason and the words.
    data = page_data(await (await admin.get(BASE + "?lang=en")).text())["sync"]
    assert data["failed"][0]["reason"] == stored
    assert ["percobaan terakhir terputus", "last attempts cut off"] in data["reasonWords"]
    assert page_data(await (await admin.get(BASE + "?lang=id")).text())["sync"]["reasonWords"] == []
    _, failed = await admin.get_json(f"{FAILED}?run_id={run_id}")
    assert failed["students"][0]["reason"] == stored
    detail = await (await admin.get("/admin/siswa/2025000001?lang=en")).text()
    assert english in detail and stored not in detail


async def test_the_page_shows_the_next_scheduled_run(web: WebHarness):
    await web.serve(workers=0, sync_schedule="02:30")
    admin = await web.user("admin")
    html = await (await admin.get(BASE)).text()
    shown = re.search(r'id="sync-next-schedule">([^<]*)<', html)
    # The pages' one date format (#12 item 10): "7 Des 2026 02.30".
    assert shown and re.fullmatch(r"\d{1,2} \w{3} \d{4} 02\.30 \(02:30\)", shown.group(1))
    assert "Coba lagi yang gagal" in html


async def test_without_a_schedule_the_page_says_so(web: WebHarness):
    await web.serve(workers=0)
    admin = await web.user("admin")
    html = await (await admin.get(BASE + "?lang=en")).text()
    assert 'id="sync-next-schedule">Not scheduled<' in html


# --- a run nobody works (issue #12, item 3) ---------------------------------------------------


def _child_env(env_vars: dict[str, str], **extra: str) -> dict[str, str]:
    return base_env(**env_vars, **extra)


async def _waiting(b: Browser, run_id: int, expected: bool, timeout: float) -> dict[str, Any]:
    """Poll the progress until ``waiting_for_worker`` is ``expected``; the object."""
    seen: list[dict[str, Any]] = [{}]

    async def check() -> bool:
        _, seen[0] = await b.get_json(f"{PROGRESS}?run_id={run_id}")
        return seen[0].get("waiting_for_worker") is expected

    await until(check, timeout, every=0.1, what=f"waiting_for_worker={expected}")
    return seen[0]


async def test_a_run_nobody_works_says_it_waits_for_a_worker(
    web: WebHarness, env_vars: dict[str, str], tmp_path: Any
):
    """`queue:retry all` (or a start) with no worker anywhere: the run is not "running"
    in silence. Within a few seconds the progress, the page and `sync:status` say it waits
    for a worker; a worker that starts (here: another pool on its own connection, as
    `syncpay work` on another machine would) takes the state away."""
    await web.serve(workers=0)
    web.sims[0].configure(latency=0.3)
    await web.students(12)
    admin = await web.user("admin")
    _, started = await admin.post_json(START, {})
    run_id = started["run_id"]
    body = await _waiting(admin, run_id, True, timeout=15.0)
    assert (body["status"], body["isRunning"], body["processed"]) == ("running", True, 0)
    page = await (await admin.get(BASE)).text()
    assert 'id="sync-worker"' in page and "Menunggu worker" in page

    def status(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "syncpay", "sync:status", *args],
            cwd=tmp_path, env=_child_env(env_vars), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    shown = await asyncio.to_thread(status)
    assert shown.returncode == 0, shown.stderr
    assert "Menunggu worker" in shown.stdout, shown.stdout
    as_json = await asyncio.to_thread(status, "--json")
    assert json.loads(as_json.stdout)["waiting_for_worker"] is True

    other = await web.connection()
    worker = web.worker(web.syncpay(web.sims[0], db=other), 1)
    worker.start()
    body = await _waiting(admin, run_id, False, timeout=15.0)
    assert body["status"] == "running" and body["processed"] < 12, body
    shown = await asyncio.to_thread(status)
    assert "Menunggu worker" not in shown.stdout, shown.stdout
    assert (await wait_end(admin, run_id))["status"] == "completed"


async def test_ctrl_c_on_sync_without_a_terminal_leaves_the_run_and_says_nobody_works_it(
    web: WebHarness, env_vars: dict[str, str], tmp_path: Any
):
    """SIGINT to `syncpay sync` whose standard input is not a terminal does what SIGTERM
    does: stop waiting, leave the run running for other workers (exit 130) — and, no other
    worker being there, say so; the page then shows the run waiting for a worker."""
    await web.serve(workers=0)
    web.sims[0].configure(latency=0.3)
    await web.students(40)
    admin = await web.user("admin")
    env = _child_env(
        env_vars, PAYMENT_SOURCE="http", PAYMENT_API_URL=web.sims[0].payments_url,
        LOG_FILE=str(tmp_path / "syncpay.log"),
    )  # fmt: skip
    out = tmp_path / "sync.out"
    with out.open("wb") as sink:
        child = subprocess.Popen(
            [sys.executable, "-m", "syncpay", "sync", "--workers", "1"],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        async def working() -> bool:
            _, body = await admin.get_json(PROGRESS)
            return body["run_id"] is not None and body["processed"] >= 1

        await until(working, 30, every=0.1, what="the sync's own worker counting")
        _, body = await admin.get_json(PROGRESS)
        assert body["waiting_for_worker"] is False  # its own pool works it
        child.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(child.wait, 30) == 130
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    text = out.read_text(errors="replace")
    assert "Traceback" not in text
    assert "`syncpay sync:cancel`" in text  # the run goes on; how to cancel it
    assert catalogs().text("id", "cli.sync.no_worker") in text, text
    run_id = body["run_id"]
    body = await _waiting(admin, run_id, True, timeout=15.0)
    assert body["status"] == "running" and body["processed"] < 40


# --- a run with failures is not shown as a success (issue #12, item 7) ------------------------


def _first_paint(html: str) -> tuple[tuple[Any, ...], dict[str, Any], dict[int, tuple[Any, ...]]]:
    """What sync.js decides a run's look from: the progress's status and counts, the
    completion line's values, and each recent run's status and counts."""
    data = page_data(html)["sync"]
    p = data["progress"]
    finished = next(line["values"] for line in p["logs"] if line["key"] == "finished")
    runs = {r["run_id"]: (r["status"], r["processed"], r["failed"]) for r in data["runs"]}
    return (p["status"], p["processed"], p["failed"]), finished, runs


async def test_a_run_with_failures_reads_as_a_warning_and_all_failed_as_an_error(
    web: WebHarness,
):
    """The badge, the runs table and the completion line: green only when every student
    synced; amber when some failed; red when all failed ("Selesai" with 0 berhasil is not
    a success). The page's script decides the look from the counts its first paint
    carries (tests/browser/test_sync_page.py shows each); the status stays "completed"."""
    await web.serve(workers=2, sync_tries="1")
    roster = await web.students(4)
    admin = await web.user("admin")

    _, good = await admin.post_json(START, {})
    assert (await wait_end(admin, good["run_id"]))["failed"] == 0
    html = await (await admin.get(BASE)).text()
    progress, finished, runs = _first_paint(html)
    assert (progress, finished) == (("completed", 4, 0), {"success": 4, "failed": 0})

    web.sims[0].configure(fail_rate=1.0)
    _, bad = await admin.post_json(START, {})
    end = await wait_end(admin, bad["run_id"])
    assert (end["status"], end["successCount"], end["failed"]) == ("completed", 0, 4)
    html = await (await admin.get(BASE)).text()
    assert tag_with_id(html, "sync-status").count('data-status="completed"') == 1
    progress, finished, runs = _first_paint(html)
    assert (progress, finished) == (("completed", 4, 4), {"success": 0, "failed": 4})
    assert runs[bad["run_id"]] == ("completed", 4, 4)
    assert runs[good["run_id"]] == ("completed", 4, 0)

    # Some fail, some do not: a warning.
    web.sims[0].configure(fail_rate=0.5)
    failing = [s for s in roster if web.sims[0].category(s["idperson"]) == "fail"]
    assert 0 < len(failing) < len(roster), failing
    _, mixed = await admin.post_json(START, {})
    end = await wait_end(admin, mixed["run_id"])
    assert (end["status"], end["failed"]) == ("completed", len(failing))
    progress, finished, runs = _first_paint(await (await admin.get(BASE + "?lang=id")).text())
    assert progress == ("completed", 4, len(failing))
    assert finished == {"success": 4 - len(failing), "failed": len(failing)}
    assert runs[mixed["run_id"]] == ("completed", 4, len(failing))


# --- the wait for a retry is not an estimate of zero (issue #12, item 8) ----------------------


async def test_students_waiting_out_their_backoff_show_the_wait_not_zero(web: WebHarness):
    """Near the end the rate says "0 s" while failed students wait for their retry: the
    progress carries the wait (``retry_waiting``, ``next_retry_seconds``: the run's queued
    students whose job is not due yet), and the page shows "menunggu percobaan ulang"
    with the time to the next retry instead of the estimate."""
    await web.serve(workers=2, sync_tries="2", sync_backoff="8")
    roster = await web.students(6)
    web.sims[0].configure(fail_rate=0.5)
    failing = [s for s in roster if web.sims[0].category(s["idperson"]) == "fail"]
    assert 0 < len(failing) < len(roster), failing
    admin = await web.user("admin")
    _, started = await admin.post_json(START, {})
    run_id = started["run_id"]
    seen: list[dict[str, Any]] = [{}]

    async def only_retries_left() -> bool:
        _, seen[0] = await admin.get_json(f"{PROGRESS}?run_id={run_id}")
        done = seen[0]["processed"] == len(roster) - len(failing)
        return done and seen[0]["retry_waiting"] == len(failing)

    await until(only_retries_left, 7, every=0.05, what="the failed students' first attempts")
    body = seen[0]
    assert body["isRunning"], body
    assert 1 <= body["next_retry_seconds"] <= 8, body
    # The page's first paint carries the wait; sync.js words it ("menunggu percobaan
    # ulang (8 detik)": tests/browser/test_sync_page.py).
    shown = page_data(await (await admin.get(BASE)).text())["sync"]["progress"]
    assert shown["retry_waiting"] == len(failing) and 1 <= shown["next_retry_seconds"] <= 8

    end = await wait_end(admin, run_id, timeout=30)
    assert (end["failed"], end["retry_waiting"], end["next_retry_seconds"]) == (
        len(failing),
        0,
        None,
    )


async def test_every_refusal_is_worded_in_the_pages_language(web: WebHarness):
    """#13 refusals as keys: each refusal the routes can give, on an English page, in the
    English catalogue's words (worded from the error's key and values, never its text)."""
    await web.serve(workers=0)  # nothing works a run: it stays active
    admin = await web.user("admin")
    await admin.get(BASE + "?lang=en")
    english = catalogs().messages["en"]

    def said(key: str, **values: object) -> str:
        return english[key].format(**values)

    status, body = await admin.post_json(START, {})
    assert (status, body["message"]) == (400, said("sync.err.no_students"))
    await web.students(5)
    status, body = await admin.post_json(START, {"unit": "Tidak Ada"})
    assert (status, body["message"]) == (400, said("sync.err.empty_scope"))
    status, body = await admin.post_json(START, {"idperson": []})
    assert (status, body["message"]) == (422, said("sync.err.empty_list"))
    status, body = await admin.post_json(START, {"unit": "SMP", "idperson": "2025000001"})
    assert (status, body["message"]) == (422, said("sync.err.both_scopes"))
    status, body = await admin.post_json(CANCEL, {})
    assert (status, body["message"]) == (409, said("sync.err.nothing_running"))
    for path, query in ((PROGRESS, "run_id=999999"), (FAILED, "run_id=999999")):
        status, body = await admin.get_json(f"{path}?{query}")
        assert (status, body["message"]) == (404, said("sync.err.run_not_found", run=999999))
    for path in (CANCEL, RETRY):
        status, body = await admin.post_json(path, {"run_id": 999999})
        assert (status, body["message"]) == (404, said("sync.err.run_not_found", run=999999))
    socket = await admin.client.ws_connect(WS)
    try:
        await socket.receive_json(timeout=5)  # the first progress message
        await socket.send_json({"run_id": 999999})
        reply = await socket.receive_json(timeout=5)
    finally:
        await socket.close()
    assert reply == {
        "type": "error",
        "status": 404,
        "message": said("sync.err.run_not_found", run=999999),
    }
    status, started = await admin.post_json(START, {})
    assert status == 200, started
    status, body = await admin.post_json(START, {})
    assert (status, body["message"]) == (409, said("sync.err.already_running"))
    assert body["run_id"] == started["run_id"]
    status, body = await admin.post_json(RESET, {})
    assert (status, body["message"]) == (409, said("sync.err.still_running"))
    status, body = await admin.post_json(RETRY, {"run_id": started["run_id"]})
    assert (status, body["message"]) == (400, said("sync.err.no_failed"))
    status, body = await admin.post_json(CANCEL, {"run_id": started["run_id"]})
    assert status == 200, body
    status, body = await admin.post_json(CANCEL, {"run_id": started["run_id"]})
    assert (status, body["message"]) == (409, said("sync.err.not_running"))
