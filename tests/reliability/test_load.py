"""Load (issue #6, item 5): a run of N simulator students while C clients poll, follow
the WebSocket and browse the pages — no error, no "database is locked", exact counts.

The program runs as a school runs it: ``run.py simulator`` (20 ms per answer),
``siswa:import``, ``user:create``, ``token:create`` and ``run.py serve --workers 8`` are
processes of their own (``tests/browser/helpers.App``); the clients (``loadgen.Load``)
live in the test process. N = 1,000 and C = 50 in CI; ``SYNCPAY_LONG=1``: N = 3,000 and
C = 200, the sizes of the issue. The throughput under load against an unwatched run is
measured by ``python bench/load_bench.py``, not asserted here (two shared cores).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.helpers import (
    ADMIN,
    PASSWORD,
    PETUGAS,
    SYNC,
    App,
    base_env,
    drop_mysql_database,
    mysql_settings,
    new_mysql_database,
    sqlite_env,
)
from tests.reliability.conftest import scale
from tests.reliability.loadgen import Identity, Load, Roster, log_problems, login, timed_run

pytestmark = pytest.mark.slow

STUDENTS = scale(1000, 3000)
CLIENTS = scale(50, 200)
#: Seconds per simulator answer.
LATENCY = 0.02


def start_app(workdir: Path, database: dict[str, str], students: int) -> App:
    app = App(workdir, base_env(workdir, database), students, hostile=False)
    try:
        return app.start(LATENCY)
    except BaseException:
        app.stop()
        raise


@pytest.fixture(params=["sqlite", "mysql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    """The program on a fresh database of its own (MariaDB: created here, dropped after)."""
    if request.param == "sqlite":
        running = start_app(tmp_path, sqlite_env(tmp_path), STUDENTS)
        try:
            yield running
        finally:
            running.stop()
        return
    name = new_mysql_database()
    try:
        running = start_app(tmp_path, mysql_settings() | {"DB_DATABASE": name}, STUDENTS)
        try:
            yield running
        finally:
            running.stop()
    finally:
        drop_mysql_database(name)


def server_log(app: App) -> str:
    parts = [app.workdir / "syncpay.log", app.workdir / "serve.err"]
    return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())


async def test_a_run_under_load_completes_exactly_with_no_error(app: App) -> None:
    # A few logged-in browsers (both roles) shared by the clients; one in five uses the token.
    identities = [
        Identity(cookie=await login(app.url, ADMIN, PASSWORD)),
        Identity(cookie=await login(app.url, PETUGAS, PASSWORD)),
        Identity(cookie=await login(app.url, ADMIN, PASSWORD)),
        Identity(cookie=await login(app.url, PETUGAS, PASSWORD)),
    ]
    load = Load(app.url, identities, app.token, Roster.of(app.roster), CLIENTS)
    await load.start()
    try:
        wall, final = await timed_run(app.url, app.token)
    finally:
        await load.stop()
    print(f"\n{STUDENTS:,} students, {CLIENTS} clients: run {wall:.2f} s")
    print("\n".join(load.summary()))

    # The run: complete, every student counted once.
    assert final["status"] == "completed", final
    assert final["total"] == final["processed"] == final["successCount"] == STUDENTS, final
    assert final["failed"] == 0, final
    assert final["percent"] == 100, final
    status, unsynced = app.api("GET", "/admin/siswa?status=belum_sinkron")
    assert status == 200 and unsynced["data"] == [] and unsynced.get("total", 0) == 0, unsynced

    # The clients: every answer 200 (101 for the sockets), no error, no count going back.
    assert load.problems() == [], "\n".join(load.problems()[:30])
    assert load.server_errors() == 0
    for kind, tally in load.tallies.items():
        assert tally.requests > 0, f"no {kind} client got an answer"
        assert set(tally.statuses) <= {200, 101}, (kind, tally.statuses)
    # Every socket saw the run end with the exact count.
    run_id = final["run_id"]
    for stream in load.streams:
        assert (run_id, "completed", STUDENTS) in stream, stream[-3:]

    # The server: nothing logged as an error, and never "database is locked".
    assert log_problems(server_log(app)) == []
    status, body = app.api("GET", SYNC + "/failed")
    assert status == 200 and body["failed"] == 0, body


def test_a_loads_figures_cross_a_process_boundary_intact() -> None:
    # bench/load_bench.py runs the clients in a process of their own and reads their
    # figures back from one JSON line.
    import json

    from tests.reliability.loadgen import KINDS

    load = Load("http://x", [Identity(cookie="c")], "t", Roster(["1"], ["a"], ["U"], []), 8)
    load.tallies["progress"].latencies_ms += [1.5, 2.5]
    load.tallies["progress"].statuses.update({200: 2, 503: 1})
    load.tallies["ws"].messages = 7
    load.tallies["siswa"].errors.append("ClientError: boom")
    load.tallies["sync_page"].breaches.append("counts went backwards")
    again = Load.restore(json.loads(json.dumps(load.to_json())))
    assert again.counts == load.counts and set(again.tallies) == set(KINDS)
    assert again.requests() == 3 and again.server_errors() == 1
    assert again.tallies["progress"].latencies_ms == [1.5, 2.5]
    assert again.tallies["ws"].messages == 7
    assert again.problems() == load.problems() and len(again.problems()) == 2
