"""The student list /admin/siswa at 100,000 students: p50/p99 per kind of request.

    python bench/siswa_bench.py                    # SQLite, 100,000 students
    python bench/siswa_bench.py --db mysql
    python bench/siswa_bench.py --reuse            # reuse the loaded database of a last run

The students are the simulator's demo roster, inserted with multi-row INSERTs; 85 % of
them carry a stored payment answer (the simulator's, ~7.6 KB each, as a real sync leaves
it) with its totals, 15 % were never synced. The requests go through the real app (an
aiohttp TestServer in this process, logged in as a petugas), one at a time, so each
figure is one request's latency: routing, session, the queries and the HTML. The
client shares the process: read ratios, not absolute times, on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import random
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestClient, TestServer

from syncpay.accounts import Accounts
from syncpay.config import Settings, load_settings
from syncpay.db import Database, connect, migrate, tables_for
from syncpay.db.queries import parse_queries
from syncpay.service import SyncPay
from syncpay.simulator import Simulator, SimulatorOptions, demo_students
from syncpay.sync.money import compute_totals
from syncpay.sync.parsers import parse_flat
from syncpay.web import create_app

MYSQL_DATABASE = "syncpay_siswa_bench"
INSERT = """-- name: bench_siswa_insert
INSERT INTO siswa (idperson, nama, gender, lahirtempat, lahirtanggal, phone, UnitFormal,
                   KelasFormal, AsramaPondok, KamarPondok, TingkatDiniyah, KelasDiniyah,
                   pembayaran, total_tagihan, total_dibayar, total_tunggakan, total_kelebihan,
                   is_lunas, synced_at)
VALUES (:idperson, :nama, :gender, :lahirtempat, :lahirtanggal, :phone, :UnitFormal,
        :KelasFormal, :AsramaPondok, :KamarPondok, :TingkatDiniyah, :KelasDiniyah,
        :pembayaran, :total_tagihan, :total_dibayar, :total_tunggakan, :total_kelebihan,
        :is_lunas, :synced_at)
"""
#: Distinct payment answers the synced students share (their size is what matters).
ANSWERS = 300
PASSWORD = "bench-password-1"


def settings_for(kind: str, folder: str) -> Settings:
    env = {"PAYMENT_SOURCE": "simulator", "APP_KEY": "bench-app-key-0123456789abcdef"}
    if kind == "sqlite":
        env |= {"DB_CONNECTION": "sqlite", "DB_DATABASE": os.path.join(folder, "siswa.sqlite")}
    else:
        env |= {
            "DB_CONNECTION": "mysql",
            "DB_DATABASE": MYSQL_DATABASE,
            "DB_HOST": os.environ.get("DB_HOST", "127.0.0.1"),
            "DB_PORT": os.environ.get("DB_PORT", "3306"),
            "DB_USERNAME": os.environ.get("DB_USERNAME", "root"),
            "DB_PASSWORD": os.environ.get("DB_PASSWORD", ""),
        }
    return load_settings(env, environ={}, env_file=None)


def student_rows(n: int) -> list[dict[str, Any]]:
    """``n`` demo students; 85 % synced with one of ``ANSWERS`` real simulator answers."""
    sim = Simulator(SimulatorOptions(seed=3))
    today = date.today()
    answers = []
    for i in range(ANSWERS):
        text = sim.answer_text(f"{3025000000 + i}")
        totals = compute_totals(parse_flat(text).items, today)
        answers.append((text, totals))
    rng = random.Random(11)
    rows = []
    for student in demo_students(n, seed=3):
        row: dict[str, Any] = dict(student)
        for key, value in row.items():
            row[key] = value or None
        if rng.random() < 0.15:
            row |= dict.fromkeys(
                ("pembayaran", "total_tagihan", "total_dibayar", "total_tunggakan"), None
            )
            row |= {"total_kelebihan": None, "is_lunas": None, "synced_at": None}
        else:
            text, totals = answers[rng.randrange(ANSWERS)]
            day, second = rng.randrange(1, 28), rng.randrange(86400)
            row |= {
                "pembayaran": text,
                "total_tagihan": str(totals.total_tagihan),
                "total_dibayar": str(totals.total_dibayar),
                "total_tunggakan": str(totals.total_tunggakan),
                "total_kelebihan": str(totals.total_kelebihan),
                "is_lunas": int(totals.is_lunas),
                "synced_at": f"2026-11-{day:02d} {second // 3600:02d}:"
                f"{second // 60 % 60:02d}:{second % 60:02d}",
            }
        rows.append(row)
    return rows


async def load(settings: Settings, n: int, reuse: bool) -> Database:
    db = await connect(settings, create=True)
    try:
        await _fill(db, settings, n, reuse)
    except BaseException:
        await db.close()
        raise
    return db


async def _fill(db: Database, settings: Settings, n: int, reuse: bool) -> None:
    await migrate(db, tables_for(settings))
    db.queries.update(parse_queries(INSERT, db.placeholder, tables_for(settings)))
    count = int(await db.fetch_value("siswa_count_all", {"cap": n + 1}) or 0)
    if reuse and count == n:
        print(f"reusing the {n:,} students already loaded", file=sys.stderr)
        return
    await db.run_script("DELETE FROM siswa")
    started = time.perf_counter()
    rows = student_rows(n)
    for start in range(0, n, 500):
        await db.insert_many("bench_siswa_insert", rows[start : start + 500])
    await db.fetch_all("roster_analyze")  # as siswa:import does after it changed students
    took = time.perf_counter() - started
    print(f"loaded {n:,} students in {took:.0f} s", file=sys.stderr)


def cases(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(label, path) of each kind of request measured."""
    sample = rows[12]
    family = sample["nama"].split()[-1]
    unit, kelas = sample["UnitFormal"], sample["KelasFormal"]
    return [
        ("GET /healthz (no page: the floor of a request here)", "/healthz"),
        ("no filter, page 1", "/admin/siswa"),
        ("no filter, page 500", "/admin/siswa?page=500"),
        (f"search a family name (q={family})", f"/admin/siswa?q={quote(family)}"),
        ("search a common given name (q=muhammad)", "/admin/siswa?q=muhammad"),
        ("search an idperson", f"/admin/siswa?q={sample['idperson']}"),
        ("search an idperson prefix (q=20250001)", "/admin/siswa?q=20250001"),
        (
            f"unit + class ({unit} / {kelas})",
            f"/admin/siswa?unit={quote(unit)}&kelas={quote(kelas)}",
        ),
        ("state belum_lunas", "/admin/siswa?status=belum_lunas"),
        ("sort by arrears, largest first", "/admin/siswa?sort=tunggakan_desc"),
        (
            f"unit + state + sort ({unit}, belum_lunas, arrears)",
            f"/admin/siswa?unit={quote(unit)}&status=belum_lunas&sort=tunggakan_desc",
        ),
        ("one student's page", f"/admin/siswa/{sample['idperson']}"),
    ]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(kind: str, n: int, requests: int, reuse: bool) -> list[tuple[str, str, str, str]]:
    folder = os.path.join(tempfile.gettempdir(), "syncpay-siswa-bench")
    os.makedirs(folder, exist_ok=True)
    settings = settings_for(kind, folder)
    db = await load(settings, n, reuse)
    sp = SyncPay(settings, db)
    app = create_app(settings, workers=0, syncpay=sp)
    server = TestServer(app)
    client = TestClient(server)
    await client.start_server()
    results = []
    try:
        name = f"bench{os.getpid()}"
        await Accounts(db).create_user(name, PASSWORD, "petugas")
        login = await client.get("/login")
        token = re.search(r'name="_token" value="([^"]+)"', await login.text())
        assert token is not None
        response = await client.post(
            "/login",
            data={"_token": token.group(1), "username": name, "password": PASSWORD},
            allow_redirects=False,
        )
        assert response.status == 302, await response.text()
        for label, path in cases(student_rows(min(n, 100))):
            for _ in range(5):  # warm the caches
                await (await client.get(path)).read()
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get(path)
                body = await response.text()
                times.append((time.perf_counter() - started) * 1000)
                assert response.status == 200, (path, response.status)
            count = re.search(r'id="siswa-count"[^>]*>([^<]*)<', body)
            shown = html.unescape(count.group(1)) if count else ""
            results.append(
                (label, f"{percentile(times, 50):.1f}", f"{percentile(times, 99):.1f}", shown)
            )
    finally:
        await client.close()
        await sp.close_runtime()
        await db.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="per kind of request")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.db, args.students, args.requests, args.reuse))
    title = f"{args.db}, {args.students:,} students, {args.requests} requests each"
    print(f"| {title} | p50 ms | p99 ms | the page says |")
    print("|---|---|---|---|")
    for label, p50, p99, shown in rows:
        print(f"| {label} | {p50} | {p99} | {shown} |")


if __name__ == "__main__":
    main()
