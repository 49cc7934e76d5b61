"""The users page /admin/users (issue #15): the list (HTML and JSON), the role, scope and
password forms (CSRF, admins only), the refusals (last admin, bad values) and escaping —
through the real app on a test server; the flows on both databases, the wording on one."""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import quote

import pytest

from syncpay.accounts import Accounts
from syncpay.officers import OfficerScope
from syncpay.web.openapi import document
from tests.web.conftest import PASSWORD, Browser, WebHarness
from tests.web.test_openapi import _check

BASE = "/admin/users"
NEW_PASSWORD = "baru-sekali-456"


def url(name: str, action: str) -> str:
    return f"{BASE}/{quote(name, safe='')}/{action}"


async def petugas(web: WebHarness, name: str, scope: OfficerScope | None = None) -> None:
    await Accounts(web.db).create_user(name, PASSWORD, "petugas", scope=scope)


async def listed(browser: Browser) -> dict[str, dict]:
    status, body = await browser.get_json(BASE)
    assert status == 200, body
    return {user["name"]: user for user in body["data"]}


async def test_the_list_answers_admins_only_with_role_and_scope(web: WebHarness):
    await web.serve(workers=0)
    admin = await web.user("admin")
    await petugas(web, "sari", OfficerScope.parse(units=["SMP"], kelas=["SMA:X IPA 1"]))
    viewer = await web.user("budi", "petugas")
    users = await listed(admin)
    assert set(users) == {"admin", "sari", "budi"}
    assert users["sari"]["role"] == "petugas"
    assert users["sari"]["scope"] == {
        "units": ["SMP"],
        "kelas": [{"unit": "SMA", "kelas": "X IPA 1"}],
        "asrama": [],
        "diniyah": [],
    }
    assert users["admin"]["scope"] is None and users["budi"]["scope"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", users["sari"]["created_at"])
    page = await admin.get(BASE)
    assert page.status == 200
    text = await page.text()
    assert 'href="/admin/users"' in text  # the nav link, for an admin
    # A petugas: 403 as JSON and as a page, and no link in the nav.
    status, body = await viewer.get_json(BASE)
    assert (status, body["status"]) == (403, False)
    denied = await viewer.get(BASE)
    assert denied.status == 403
    assert 'href="/admin/users"' not in await (await viewer.get("/admin/siswa")).text()
    status, _ = await viewer.post_json(url("sari", "role"), {"role": "admin"})
    assert status == 403
    # Tokens: an admin's lists, a petugas's is refused; nobody: 401.
    client = web.browser().client
    for role, expected in (("admin", 200), ("petugas", 403)):
        token = await web.token(f"t-{role}", role)
        response = await client.get(BASE, headers={"Authorization": f"Bearer {token}"})
        assert response.status == expected
    status, _ = await web.browser().get_json(BASE)
    assert status == 401


async def test_the_forms_set_role_scope_and_password(web: WebHarness):
    await web.serve(workers=0)
    roster = await web.students(8)
    admin = await web.user("admin")
    sari = await web.user("sari", "petugas")
    page = await admin.get(BASE)
    text = await page.text()
    # The roster's values are offered (units, classes as UNIT:KELAS, dormitories, levels).
    first = roster[0]
    for value in (
        first["UnitFormal"],
        f"{first['UnitFormal']}:{first['KelasFormal']}",
        first["AsramaPondok"],
        first["TingkatDiniyah"],
    ):
        assert f'value="{html_lib.escape(value)}"' in text, value

    # The scope: a unit, a class, a dormitory and a level, from the page's form.
    form = {"units": "SMP", "kelas": "SMA:X IPS 2", "asrama": "Al-Falah", "diniyah": "Ula"}
    response = await admin.post_form(url("sari", "scope"), form)
    assert response.status == 302, await response.text()
    assert response.headers["Location"] == f"{BASE}?done=scope&user=sari"
    shown = await (await admin.get(response.headers["Location"])).text()
    assert "Cakupan sari: Unit SMP · Kelas SMA:X IPS 2 · Asrama Al-Falah · Diniyah Ula." in shown
    user = await Accounts(web.db).user("sari")
    assert user is not None and user.scope == OfficerScope.parse(
        units=["SMP"], kelas=["SMA:X IPS 2"], asrama=["Al-Falah"], diniyah=["Ula"]
    )
    assert (await sari.get("/admin/siswa")).status == 200  # a scope change keeps sessions
    # Clearing: every student again.
    response = await admin.post_form(url("sari", "scope"), {})  # the "clear" button
    assert response.status == 302
    assert (await listed(admin))["sari"]["scope"] is None

    # The role: sari becomes an admin (her sessions end), then a petugas again.
    response = await admin.post_form(url("sari", "role"), {"role": "admin"})
    assert response.headers["Location"] == f"{BASE}?done=role&user=sari"
    assert (await listed(admin))["sari"]["role"] == "admin"
    status, _ = await sari.get_json("/admin/sync-pembayaran/progress")
    assert status == 401
    response = await admin.post_form(url("sari", "role"), {"role": "petugas"})
    assert response.status == 302 and (await listed(admin))["sari"]["role"] == "petugas"

    # The password: typed twice; her sessions end; the new one logs in.
    sari = web.browser()
    await sari.client.start_server()
    assert (await sari.login("sari")).status == 302
    response = await admin.post_form(
        url("sari", "password"),
        {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD},
    )
    assert response.headers["Location"] == f"{BASE}?done=password&user=sari"
    status, _ = await sari.get_json("/admin/sync-pembayaran/progress")
    assert status == 401
    assert (await web.browser().login("sari", PASSWORD)).status == 422
    assert (await web.browser().login("sari", NEW_PASSWORD)).status == 302

    # Every one of them needs the CSRF token (419), even with the rest right.
    for action, data in (
        ("role", {"role": "admin"}),
        ("scope", {"units": "SMP"}),
        ("password", {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}),
    ):
        for token in ({}, {"_token": "salah"}):
            response = await admin.client.post(
                url("sari", action), data=data | token, allow_redirects=False
            )
            assert response.status == 419, action
    after = (await listed(admin))["sari"]
    assert (after["role"], after["scope"]) == ("petugas", None)


async def test_the_last_admin_keeps_the_role(web: WebHarness):
    await web.serve(workers=0)
    admin = await web.user("admin")
    status, body = await admin.post_json(url("admin", "role"), {"role": "petugas"})
    assert status == 409, body
    assert (await listed(admin))["admin"]["role"] == "admin"
    # With a second admin, the first may step down (and is logged out: the form's
    # answer is the login page).
    await web.user("kedua")
    response = await admin.post_form(url("admin", "role"), {"role": "petugas"})
    assert (response.status, response.headers["Location"]) == (302, "/login")
    user = await Accounts(web.db).user("admin")
    assert user is not None and user.role == "petugas"


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_refusals_are_one_line_in_the_page_language(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    admin = await web.user("admin")
    await petugas(web, "sari")
    token = await web.token("skrip", "admin")
    client = web.browser().client
    bearer = {"Authorization": f"Bearer {token}"}

    spec = document()

    async def refused(action: str, body: object, status: int, message: str) -> None:
        response = await client.post(url("sari", action), json=body, headers=bearer)
        answer = await response.json()
        assert (response.status, answer) == (status, {"status": False, "message": message})
        _check(spec, f"{BASE}/{{name}}/{action}", "post", status, answer)

    await refused("role", {"role": "root"}, 422, "Peran harus admin atau petugas.")
    await refused("role", {}, 422, "Peran harus admin atau petugas.")
    await refused(
        "scope",
        {"kelas": ["VII A"]},
        422,
        "Kelas 'VII A': tulis sebagai UNIT:KELAS, mis. SMP:VII A.",
    )
    await refused(
        "scope", {"units": "x" * 101}, 422, "units terlalu panjang (paling banyak 100 karakter)."
    )
    await refused("scope", {"units": [""]}, 422, "units tidak boleh kosong.")
    await refused("scope", {"units": [1]}, 422, "units harus berupa teks atau daftar teks.")
    await refused(
        "scope", {"asrama": "A\u0007"}, 422, "asrama: berisi karakter kontrol yang tidak diizinkan."
    )
    await refused(
        "scope", {"unit": "SMP"}, 422, "unit: bukan bagian cakupan (units, kelas, asrama, diniyah)."
    )
    await refused("scope", [], 422, "Data yang dikirim harus berupa objek JSON.")
    await refused("password", {"password": "pendek"}, 422, "Kata sandi paling sedikit 8 karakter.")
    response = await client.post(url("siapa", "role"), json={"role": "admin"}, headers=bearer)
    assert (response.status, (await response.json())["message"]) == (
        404,
        "Pengguna siapa tidak ditemukan.",
    )
    status, body = await admin.post_json(url("admin", "scope"), {"units": ["SMP"]})
    assert (status, body["message"]) == (
        409,
        "admin adalah admin dan selalu melihat semua siswa; jadikan petugas lebih dulu.",
    )
    status, body = await admin.post_json(url("admin", "role"), {"role": "petugas"})
    assert body["message"] == "admin adalah admin terakhir; jadikan pengguna lain admin lebih dulu."

    # A JSON client gets the user as it now is; classes also as objects.
    response = await client.post(
        url("sari", "scope"),
        json={"kelas": [{"unit": "SMA", "kelas": "X IPA 1"}, "SMP:VII A"], "diniyah": "Ula"},
        headers=bearer,
    )
    body = await response.json()
    assert response.status == 200, body
    assert body["message"] == "Cakupan sari: Kelas SMA:X IPA 1 · Kelas SMP:VII A · Diniyah Ula."
    _check(spec, f"{BASE}/{{name}}/scope", "post", 200, body)
    status, listing = await admin.get_json(BASE)
    _check(spec, BASE, "get", status, listing)
    response = await client.post(
        url("sari", "password"), json={"password": NEW_PASSWORD}, headers=bearer
    )
    _check(spec, f"{BASE}/{{name}}/password", "post", response.status, await response.json())
    response = await client.post(url("sari", "role"), json={"role": "petugas"}, headers=bearer)
    _check(spec, f"{BASE}/{{name}}/role", "post", response.status, await response.json())
    assert body["user"]["scope"]["kelas"] == [
        {"unit": "SMA", "kelas": "X IPA 1"},
        {"unit": "SMP", "kelas": "VII A"},
    ]
    # A form's refusal: the page again, with the refusal and the forms (nothing changed).
    response = await admin.post_form(url("sari", "password"), {"password": NEW_PASSWORD})
    assert response.status == 422
    text = await response.text()
    assert '<p id="users-error" class="alert alert-error" role="alert">Kedua kata sandi' in text
    assert 'action="/admin/users/sari/password"' in text
    # English.
    await admin.get(BASE + "?lang=en")
    status, body = await admin.post_json(url("sari", "role"), {"role": "root"})
    assert (status, body["message"]) == (422, "The role must be admin or petugas.")


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_names_and_scope_values_are_escaped(web: WebHarness):
    await web.serve(workers=0)
    admin = await web.user("admin")
    hostile = "<b>x</b>"
    value = '"><script>alert(1)</script>'
    await petugas(web, hostile, OfficerScope.parse(asrama=[value], kelas=[f"SMP:{hostile}"]))
    response = await admin.post_form(url(hostile, "scope"), {"asrama": value, "units": hostile})
    assert response.status == 302
    page = await admin.get(response.headers["Location"])
    text = await page.text()
    assert hostile not in text and "<script>alert" not in text
    assert html_lib.escape(hostile) in text
    assert f"Cakupan {html_lib.escape(hostile)}: Unit {html_lib.escape(hostile)}" in text
    assert f'value="{html_lib.escape(value)}" checked' in text  # gone from the roster, kept
    assert f'action="/admin/users/{quote(hostile, safe="")}/scope"' in text
    users = await listed(admin)
    assert users[hostile]["scope"]["asrama"] == [value]
