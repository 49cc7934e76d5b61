"""The payment simulator, over real HTTP: determinism, fault categories, routes, CLI."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncpay.simulator import ROSTER_COLUMNS, Simulator, SimulatorOptions, demo_students

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("SYNCPAY_FIXTURES") or ROOT.parent / "shared" / "fixtures")
IDS = [str(2025000001 + i) for i in range(2000)]
ALL_FAULTS = {
    "error_rate": 0.1,
    "fail_rate": 0.1,
    "timeout_rate": 0.1,
    "rate_limit_rate": 0.1,
    "malformed_rate": 0.1,
    "reset_rate": 0.1,
    "not_found_rate": 0.1,
}


def first_of(options: SimulatorOptions, category: str) -> str:
    """The first demo idperson of a fault category."""
    return next(i for i in IDS if options.category(i) == category)


async def get(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, str, dict[str, str]]:
    async with session.get(url, **kwargs) as response:
        return response.status, await response.text(), dict(response.headers)


# --------------------------------------------------------------------------- pure data


def test_same_seed_same_answers_and_categories() -> None:
    a = Simulator(SimulatorOptions(seed=7, **ALL_FAULTS))
    b = Simulator(SimulatorOptions(seed=7, **ALL_FAULTS))
    for idperson in IDS[:50]:
        assert a.answer(idperson) == b.answer(idperson)
        assert a.answer_text(idperson) == b.answer_text(idperson)
    assert [a.category(i) for i in IDS] == [b.category(i) for i in IDS]
    assert demo_students(30, 7) == demo_students(30, 7)


def test_other_seed_other_answers_and_categories() -> None:
    a = Simulator(SimulatorOptions(seed=1, **ALL_FAULTS))
    b = Simulator(SimulatorOptions(seed=2, **ALL_FAULTS))
    differing = sum(a.answer(i) != b.answer(i) for i in IDS[:50])
    assert differing >= 45
    same_category = sum(a.category(i) == b.category(i) for i in IDS)
    assert same_category < 0.5 * len(IDS)
    assert demo_students(30, 1) != demo_students(30, 2)


def test_category_rates_are_roughly_right() -> None:
    rates = {
        "error_rate": 0.1,
        "fail_rate": 0.05,
        "timeout_rate": 0.05,
        "rate_limit_rate": 0.08,
        "malformed_rate": 0.04,
        "reset_rate": 0.06,
        "not_found_rate": 0.02,
    }
    options = SimulatorOptions(**rates)
    counts = Counter(options.category(i) for i in IDS)
    names = {
        "error_rate": "error_once",
        "fail_rate": "fail",
        "timeout_rate": "timeout_once",
        "rate_limit_rate": "rate_limited_once",
        "malformed_rate": "malformed_once",
        "reset_rate": "reset_once",
        "not_found_rate": "not_found",
    }
    for rate, category in names.items():
        assert abs(counts[category] / len(IDS) - rates[rate]) < 0.025, (category, counts)
    assert abs(counts["ok"] / len(IDS) - 0.6) < 0.04
    assert set(counts) == {*names.values(), "ok"}


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        SimulatorOptions(error_rate=1.5)
    with pytest.raises(ValueError, match="add up"):
        SimulatorOptions(error_rate=0.6, fail_rate=0.5)
    with pytest.raises(ValueError, match="shape"):
        SimulatorOptions(shape="xml")
    with pytest.raises(ValueError, match="latency"):
        SimulatorOptions(latency=-1)
    assert SimulatorOptions(error_rate=1).error_rate == 1.0


def test_flat_answers_look_like_a_school_year() -> None:
    sim = Simulator(SimulatorOptions(seed=3))
    kinds: Counter[str] = Counter()
    today = dt.date.today().isoformat()
    for idperson in IDS[:200]:
        answer = sim.answer(idperson)
        assert answer["status"] is True
        rows = answer["data"]
        assert {r["judul"] for r in rows} >= {"SPP Juli", "SPP Juni", "Daftar Ulang"}
        assert len({r["idperiode"] for r in rows}) == 2
        for row in rows:
            assert set(row) == {
                "idperiode",
                "judul",
                "nama_unit",
                "jml_kredit",
                "jml_debet",
                "tgl_jurnal",
            }
            assert row["jml_kredit"] > 0 and row["jml_kredit"] % 5000 == 0
            assert row["jml_debet"] % 5000 == 0
            dt.date.fromisoformat(row["tgl_jurnal"])
            if row["tgl_jurnal"] > today:
                kinds["future"] += 1
            elif row["jml_debet"] == 0:
                kinds["unpaid"] += 1
            elif row["jml_debet"] > row["jml_kredit"]:
                kinds["overpaid"] += 1
            elif row["jml_debet"] < row["jml_kredit"]:
                kinds["partial"] += 1
    assert kinds["future"] and kinds["unpaid"] and kinds["overpaid"] and kinds["partial"]


def test_version_changes_some_answers_but_not_categories() -> None:
    before = Simulator(SimulatorOptions(seed=4, **ALL_FAULTS))
    after = Simulator(SimulatorOptions(seed=4, version=1, **ALL_FAULTS))
    changed = sum(before.answer(i) != after.answer(i) for i in IDS[:400])
    assert 0.1 * 400 < changed < 0.4 * 400
    assert all(before.category(i) == after.category(i) for i in IDS)


def _flat_items(answer: dict[str, Any]) -> list[tuple[str, str, int, int, str]]:
    return sorted(
        (r["idperiode"], r["judul"], r["jml_kredit"], r["jml_debet"], r["tgl_jurnal"])
        for r in answer["data"]
    )


def _nested_items(answer: dict[str, Any]) -> list[tuple[str, str, int, int, str]]:
    items = []
    for student in answer["data"]:
        for period in student["periods"]:
            for category in period["categories"]:
                for item in category["items"]:
                    # the real API's swap: amount_paid is the bill, amount_billed the payment
                    items.append(
                        (
                            period["period_id"],
                            item["unit_name"],
                            item["amount_paid"],
                            item["amount_billed"],
                            item["journal_date"],
                        )
                    )
    return sorted(items)


def test_nested_answer_holds_the_same_data_as_flat() -> None:
    flat = Simulator(SimulatorOptions(seed=5, shape="flat"))
    nested = Simulator(SimulatorOptions(seed=5, shape="nested"))
    fixture = json.loads((FIXTURES / "payments-nested.json").read_text())
    for idperson in IDS[:100]:
        a, b = flat.answer(idperson), nested.answer(idperson)
        assert _flat_items(a) == _nested_items(b)
        # the fixture's structure, key for key
        assert set(b) == set(fixture)
        student = b["data"][0]
        assert set(student) == set(fixture["data"][0])
        period = student["periods"][0]
        fixture_period = fixture["data"][0]["periods"][0]
        assert set(period) == set(fixture_period)
        assert set(period["summary"]) == set(fixture_period["summary"])
        category = period["categories"][0]
        assert set(category) == set(fixture_period["categories"][0])
        assert set(category["items"][0]) == set(fixture_period["categories"][0]["items"][0])
        for period in student["periods"]:
            bills = sum(i["amount_paid"] for c in period["categories"] for i in c["items"])
            paid = sum(i["amount_billed"] for c in period["categories"] for i in c["items"])
            # summaries keep the swapped names too
            assert period["summary"]["total_paid"] == bills
            assert period["summary"]["total_billed"] == paid
        overpaid = sum(max(r["jml_debet"] - r["jml_kredit"], 0) for r in a["data"])
        assert student["saldo"] >= overpaid


# --------------------------------------------------------------------------- HTTP


async def test_every_fault_over_real_http() -> None:
    options = SimulatorOptions(seed=11, hang=2.0, retry_after=3, **ALL_FAULTS)
    async with Simulator(options) as sim, aiohttp.ClientSession() as session:
        url = sim.payments_url.format

        ok = first_of(options, "ok")
        for _ in range(2):
            status, text, headers = await get(session, url(idperson=ok))
            assert status == 200 and text == sim.answer_text(ok)
            assert headers["Content-Type"].startswith("application/json")
            assert json.loads(text) == sim.answer(ok)

        error = first_of(options, "error_once")
        assert (await get(session, url(idperson=error)))[0] == 500
        assert (await get(session, url(idperson=error)))[1] == sim.answer_text(error)

        fail = first_of(options, "fail")
        assert [(await get(session, url(idperson=fail)))[0] for _ in range(3)] == [500] * 3

        missing = first_of(options, "not_found")
        assert [(await get(session, url(idperson=missing)))[0] for _ in range(2)] == [404] * 2

        limited = first_of(options, "rate_limited_once")
        status, _, headers = await get(session, url(idperson=limited))
        assert status == 429 and headers["Retry-After"] == "3"
        assert (await get(session, url(idperson=limited)))[0] == 200

        malformed = first_of(options, "malformed_once")
        status, text, _ = await get(session, url(idperson=malformed))
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(text)
        assert sim.answer_text(malformed).startswith(text)
        assert (await get(session, url(idperson=malformed)))[1] == sim.answer_text(malformed)

        stats = sim.stats(detail=True)
        assert stats["by_status"] == {"200": 6, "404": 2, "429": 1, "500": 4}
        assert stats["requests"] == 13
        assert stats["per_idperson"][fail] == 3


async def test_reset_drops_the_connection_without_an_answer() -> None:
    options = SimulatorOptions(seed=12, reset_rate=0.5)
    async with Simulator(options) as sim:
        victim = first_of(options, "reset_once")
        port = int(sim.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /payments/{victim} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, not a byte back
        writer.close()
        # a client that does not silently re-send sees a connection error
        async with aiohttp.ClientSession() as session:
            session._retry_connection = False  # aiohttp re-sends a dropped GET by default
            sim.reset()
            with pytest.raises(aiohttp.ClientConnectionError):
                await get(session, sim.payments_url.format(idperson=victim))
            status, text, _ = await get(session, sim.payments_url.format(idperson=victim))
            assert status == 200 and text == sim.answer_text(victim)
        assert sim.stats()["by_status"] == {"200": 1, "reset": 1}


async def test_timeout_hangs_then_answers() -> None:
    options = SimulatorOptions(seed=13, timeout_rate=0.5, hang=2.0)
    sim = Simulator(options)
    await sim.start()
    slow = first_of(options, "timeout_once")
    try:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await get(
                    session,
                    sim.payments_url.format(idperson=slow),
                    timeout=aiohttp.ClientTimeout(0.5),
                )
            assert 0.4 < time.monotonic() - started < 1.5
            status, text, _ = await get(session, sim.payments_url.format(idperson=slow))
            assert status == 200 and text == sim.answer_text(slow)
            assert sim.stats()["in_flight"] == 1  # the first request still hangs
    finally:
        started = time.monotonic()
        await sim.close()
        assert time.monotonic() - started < 1.5  # closing ends the hanging request


async def test_hang_then_answer_when_the_client_waits() -> None:
    options = SimulatorOptions(seed=13, timeout_rate=0.5, hang=0.3)
    async with Simulator(options) as sim, aiohttp.ClientSession() as session:
        slow = first_of(options, "timeout_once")
        started = time.monotonic()
        status, text, _ = await get(session, sim.payments_url.format(idperson=slow))
        assert status == 200 and text == sim.answer_text(slow)
        assert time.monotonic() - started >= 0.3


async def test_roster_route() -> None:
    async with Simulator(SimulatorOptions(seed=9, students=120)) as sim:
        async with aiohttp.ClientSession() as session:
            status, text, _ = await get(session, sim.roster_url)
        body = json.loads(text)
    assert status == 200 and body["status"] is True
    rows = body["data"]
    assert len(rows) == 120
    with open(FIXTURES / "siswa.csv", newline="") as handle:
        csv_columns = next(csv.reader(handle))
    assert list(ROSTER_COLUMNS) == csv_columns
    fixture_api = json.loads((FIXTURES / "siswa-api.json").read_text())
    for row in rows:
        assert list(row) == csv_columns
        assert {k: type(v) for k, v in row.items()} == {
            k: type(v) for k, v in fixture_api["data"][0].items()
        }
        assert row["gender"] in ("L", "P")
        born = dt.date.fromisoformat(row["lahirtanggal"])
        assert 2007 <= born.year <= 2012
        assert row["phone"].startswith("08") and row["phone"].isdigit()
        assert 11 <= len(row["phone"]) <= 13
        assert row["UnitFormal"] in ("SD", "SMP", "MTs", "SMA", "MA")
        assert len(row["nama"].split()) >= 2
    assert [r["idperson"] for r in rows] == list(range(2025000001, 2025000121))
    assert {r["gender"] for r in rows} == {"L", "P"}
    assert len({r["nama"] for r in rows}) > 100
    plain = demo_students(120, 9)
    assert [{**r, "idperson": int(r["idperson"])} for r in plain] == rows
    assert all(isinstance(r["idperson"], str) for r in plain)


async def test_config_and_reset_routes() -> None:
    async with Simulator(SimulatorOptions(seed=21)) as sim, aiohttp.ClientSession() as session:
        url = sim.payments_url.format
        assert (await get(session, url(idperson="2025000001")))[0] == 200

        async with session.post(f"{sim.base_url}/_config", json={"error_rate": 1}) as r:
            assert r.status == 200
            assert (await r.json())["options"]["error_rate"] == 1.0
        assert sim.category("2025000002") == "error_once"
        assert (await get(session, url(idperson="2025000002")))[0] == 500
        assert (await get(session, url(idperson="2025000002")))[0] == 200
        # counters survive a config change; /_reset makes every request "first" again
        async with session.post(f"{sim.base_url}/_reset") as r:
            assert r.status == 200
        assert sim.stats() == {
            "requests": 0,
            "by_status": {},
            "by_route": {},
            "in_flight": 0,
            "max_concurrent": 0,
        }
        assert (await get(session, url(idperson="2025000002")))[0] == 500

        for bad in ({"nope": 1}, {"error_rate": 2}, {"shape": "xml"}, {"seed": "x"}, [1]):
            async with session.post(f"{sim.base_url}/_config", json=bad) as r:
                assert r.status == 422, bad
                assert (await r.json())["status"] is False
        assert sim.options.error_rate == 1.0

        async with session.post(f"{sim.base_url}/_config", json={"version": 1}) as r:
            assert r.status == 200
        async with session.get(f"{sim.base_url}/_stats?detail=1") as r:
            stats = await r.json()
        assert stats["per_idperson"] == {"2025000002": 1}
        assert stats["by_status"] == {"500": 1}


async def test_token_is_required_when_set() -> None:
    async with Simulator(SimulatorOptions(token="rahasia")) as sim:
        async with aiohttp.ClientSession() as session:
            url = sim.payments_url.format(idperson="2025000001")
            status, _, headers = await get(session, url)
            assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
            wrong = {"Authorization": "Bearer salah"}
            assert (await get(session, url, headers=wrong))[0] == 401
            assert (await get(session, sim.roster_url))[0] == 401
            right = {"Authorization": "Bearer rahasia"}
            assert (await get(session, url, headers=right))[0] == 200
            assert (await get(session, sim.roster_url, headers=right))[0] == 200
            async with session.get(f"{sim.base_url}/_stats") as r:  # control routes: open
                assert r.status == 200
        # refused requests are not a student's "first request"
        assert sim.stats(detail=True)["per_idperson"] == {"2025000001": 1}


async def test_latency_and_max_concurrent() -> None:
    async with Simulator(SimulatorOptions(latency=0.2, jitter=0.05)) as sim:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            urls = [sim.payments_url.format(idperson=i) for i in IDS[:10]]
            results = await asyncio.gather(*(get(session, u) for u in urls))
            elapsed = time.monotonic() - started
        assert all(status == 200 for status, _, _ in results)
        assert 0.15 <= elapsed < 1.0
        assert sim.stats()["max_concurrent"] == 10


# --------------------------------------------------------------------------- command line


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYMENT_", "DB_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


async def test_simulator_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    args = ["--port", "0", "--seed", "3", "--shape", "nested", "--students", "5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncpay", "simulator", *args],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert line.startswith("Simulator listening on http://127.0.0.1:"), line
        base = line.split()[3]
        assert not base.endswith(":0")
        assert f"(PAYMENT_API_URL={base}/payments/{{idperson}})" in line
        expected = Simulator(SimulatorOptions(seed=3, shape="nested"))
        async with aiohttp.ClientSession() as session:
            status, text, _ = await get(session, f"{base}/payments/2025000004")
            assert status == 200 and text == expected.answer_text("2025000004")
            status, text, _ = await get(session, f"{base}/siswa")
            assert len(json.loads(text)["data"]) == 5
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = proc.communicate()
    assert "stopped after 2 requests" in out
    assert err == ""


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--error-rate", "1.5"], "--error-rate: 1.5 must be between 0 and 1"),
        (["--reset-rate", "-0.1"], "--reset-rate: -0.1 must be between 0 and 1"),
        (["--error-rate", "0.6", "--fail-rate", "0.6"], "the fault rates add up to 1.2"),
    ],
)
def test_simulator_command_refuses_bad_rates(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "syncpay", "simulator", "--port", "0", *flags],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr


async def test_a_kept_answer_follows_the_options_it_came_from() -> None:
    # Answers are kept once made; a change of version, seed or shape gives new ones.
    async with Simulator(SimulatorOptions(seed=4)) as sim:
        async with aiohttp.ClientSession() as session:
            url = sim.payments_url.format(idperson="2025000007")
            first = await (await session.get(url)).text()
            assert await (await session.get(url)).text() == first == sim.answer_text("2025000007")
            changed = []
            for change in ({"version": 3}, {"seed": 5}, {"shape": "nested"}):
                sim.configure(**change)
                text = await (await session.get(url)).text()
                fresh = json.dumps(sim.answer("2025000007"), ensure_ascii=False)
                assert text == fresh
                changed.append(text)
            assert first not in changed[1:] and changed[1] != changed[2]  # seed, shape
