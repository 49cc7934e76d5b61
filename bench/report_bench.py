"""The report /admin/laporan at 100,000 students: median and p99 per kind of request.

    python bench/report_bench.py                    # SQLite, 100,000 students
    python bench/report_bench.py --db mysql
    python bench/report_bench.py --reuse            # the students a last run loaded

The students are made as siswa_bench.py makes them (the simulator's demo roster, 85 %
synced with a real stored answer of ~7.6 KB and its totals, 15 % never synced), in a
database of this bench's own (``--reuse``: the one a last run loaded). Each kind of
request is timed in turn, round after round (alternating, so that whatever else the
machine does falls on all of them alike): the library call (``sp.students.report()``:
the SQL aggregate and the sums) and the real app through an aiohttp TestServer in this
process (routing, session, the queries, the HTML, the JSON, the CSV), logged in as a
petugas. The client shares the process: read ratios, not absolute times, on a shared
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiohttp.test_utils import TestClient, TestServer
from siswa_bench import PASSWORD, load, percentile, settings_for

from syncpay.accounts import Accounts
from syncpay.service import SyncPay
from syncpay.web import create_app

MYSQL_DATABASE = "syncpay_report_bench"


async def _login(client: TestClient, db: object) -> None:
    name = f"report{os.getpid()}"
    await Accounts(db).create_user(name, PASSWORD, "petugas")  # type: ignore[arg-type]
    login = await client.get("/login")
    token = re.search(r'name="_token" value="([^"]+)"', await login.text())
    assert token is not None
    response = await client.post(
        "/login",
        data={"_token": token.group(1), "username": name, "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 302, await response.text()


def _get(client: TestClient, path: str, **headers: str) -> Callable[[], Awaitable[object]]:
    async def call() -> object:
        response = await client.get(path, headers=headers)
        body = await response.read()
        assert response.status == 200, (path, response.status, body[:200])
        return body

    return call


async def measure(kind: str, n: int, rounds: int, reuse: bool) -> list[tuple[str, str, str]]:
    folder = os.path.join(tempfile.gettempdir(), "syncpay-report-bench")
    os.makedirs(folder, exist_ok=True)
    settings = settings_for(kind, folder)
    if kind == "mysql":  # a database of its own (siswa_bench's may be in use)
        settings = settings.replace(db_database=MYSQL_DATABASE)
    db = await load(settings, n, reuse)
    sp = SyncPay(settings, db)
    app = create_app(settings, workers=0, syncpay=sp)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await _login(client, db)
        whole = await sp.students.report()
        assert whole.total.students == n, whole.total
        unit = whole.units[0].group.unit or ""
        cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("library: sp.students.report()", sp.students.report),
            (f"library: sp.students.report(unit={unit!r})", lambda: sp.students.report(unit)),
            ("GET /admin/laporan (HTML, whole school)", _get(client, "/admin/laporan")),
            (
                "GET /admin/laporan (JSON, whole school)",
                _get(client, "/admin/laporan", Accept="application/json"),
            ),
            (f"GET /admin/laporan?unit={unit} (HTML)", _get(client, f"/admin/laporan?unit={unit}")),
            ("GET /admin/laporan/export.csv", _get(client, "/admin/laporan/export.csv")),
            ("GET /healthz (the floor of a request here)", _get(client, "/healthz")),
        ]
        times: dict[str, list[float]] = {label: [] for label, _ in cases}
        for _ in range(5):  # warm the caches
            for _, call in cases:
                await call()
        for _ in range(rounds):
            for label, call in cases:
                started = time.perf_counter()
                await call()
                times[label].append((time.perf_counter() - started) * 1000)
        return [
            (label, f"{statistics.median(ms):.1f}", f"{percentile(ms, 99):.1f}")
            for label, ms in times.items()
        ]
    finally:
        await client.close()
        await sp.close_runtime()
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200, help="requests per kind")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.db, args.students, args.rounds, args.reuse))
    title = f"{args.db}, {args.students:,} students, {args.rounds} rounds"
    print(f"| {title} | median ms | p99 ms |")
    print("|---|---|---|")
    for label, median, p99 in rows:
        print(f"| {label} | {median} | {p99} |")


if __name__ == "__main__":
    main()
