"""SYNC_SCHEDULE (our parser, one start per slot across servers, skipped while a run is
active) and retention (sync:prune, queue:prune-failed, the daily clean-up)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncpay.config import Settings
from syncpay.db import Database
from syncpay.db.queries import parse_queries
from syncpay.maintenance import SCHEDULED_BY, Maintenance, prune, prune_history, prune_runs
from syncpay.schedule import ScheduleError, parse_schedule
from tests.sync_helpers import Harness, log_lines

NOW = dt.datetime(2026, 11, 28, 16, 45)  # a Saturday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02:00", dt.datetime(2026, 11, 29, 2, 0)),
        ("17:00", dt.datetime(2026, 11, 28, 17, 0)),
        ("16:45", dt.datetime(2026, 11, 29, 16, 45)),  # strictly after
        ("02:00, 13:30", dt.datetime(2026, 11, 29, 2, 0)),
        ("13:30,16:50", dt.datetime(2026, 11, 28, 16, 50)),
        ("*/15 * * * *", dt.datetime(2026, 11, 28, 17, 0)),
        ("0 2 * * mon-fri", dt.datetime(2026, 11, 30, 2, 0)),
        ("0 2 * * 7", dt.datetime(2026, 11, 29, 2, 0)),
        ("0 2 * * 0", dt.datetime(2026, 11, 29, 2, 0)),
        ("30 7 1 * sun", dt.datetime(2026, 11, 29, 7, 30)),  # day 1 OR a Sunday
        ("0 6 1 jan *", dt.datetime(2027, 1, 1, 6, 0)),
        ("0 0 29 2 *", dt.datetime(2028, 2, 29, 0, 0)),
        ("5-10/5 8 * * *", dt.datetime(2026, 11, 29, 8, 5)),
    ],
)
def test_next_scheduled_time(text: str, expected: dt.datetime):
    schedule = parse_schedule(text)
    assert schedule is not None
    assert schedule.next_after(NOW) == expected
    assert schedule.matches(expected)


def test_empty_schedule_is_none():
    assert parse_schedule("") is None
    assert parse_schedule("   ") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("24:00", "'24:00' is not a time HH:MM (00:00-23:59)"),
        ("2 pagi", "'2 pagi': expected HH:MM or five cron fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* 24 * * *", "hour: 24 is outside 0-23"),
        ("* * 0 * *", "day of month: 0 is outside 1-31"),
        ("* * * 13 *", "month: 13 is outside 1-12"),
        ("* * * * 8", "day of week: 8 is outside 0-7"),
        ("*/0 * * * *", "minute: step '0' is not a number above 0"),
        ("10-5 * * * *", "minute: range '10-5' runs backwards"),
        ("1,,2 * * * *", "minute: an empty item in '1,,2'"),
        ("0 0 31 2 *", "'0 0 31 2 *' never happens (no such day)"),
    ],
)
def test_bad_schedules_name_the_problem(text: str, message: str):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@given(st.text(max_size=60))
def test_no_text_breaks_the_schedule_parser(text: str):
    try:
        schedule = parse_schedule(text)
    except ScheduleError:
        return
    if schedule is not None:
        due = schedule.next_after(NOW)
        assert due is None or (due > NOW and schedule.matches(due))


@given(
    st.lists(st.integers(0, 59), min_size=1, max_size=3),
    st.lists(st.integers(0, 23), min_size=1, max_size=3),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1)),
)
def test_cron_next_time_is_the_first_matching_minute(minutes, hours, moment):
    text = f"{','.join(map(str, minutes))} {','.join(map(str, hours))} * * *"
    schedule = parse_schedule(text)
    assert schedule is not None
    due = schedule.next_after(moment)
    assert due is not None and due > moment and schedule.matches(due)
    assert due - moment <= dt.timedelta(days=1)


# --------------------------------------------------------------------------- database


@pytest.fixture
async def h(settings: Settings, db: Database) -> AsyncIterator[Harness]:
    harness = await Harness(settings, db).setup()
    await db.run_script("DELETE FROM cache")
    try:
        yield harness
    finally:
        await harness.close()


async def test_a_scheduled_slot_starts_one_run_across_servers(h: Harness):
    sim = await h.simulator()
    await h.students(5)
    one = h.syncpay(sim)
    two = h.syncpay(sim, db=await h.connection())
    due = dt.datetime(2026, 11, 29, 2, 0)
    first = Maintenance(one.db, one.sync, one.queue, schedule="02:00")
    second = Maintenance(two.db, two.sync, two.queue, schedule="02:00")
    assert first.next_run(NOW) == due
    started = [await first.run_scheduled(due), await second.run_scheduled(due)]
    run_ids = [r for r in started if r is not None]
    assert len(run_ids) == 1
    run = await one.sync.get(run_ids[0])
    assert run.started_by == SCHEDULED_BY and run.total == 5 and run.scope.is_all


async def test_a_scheduled_run_is_skipped_while_a_run_is_active(h: Harness):
    sim = await h.simulator()
    await h.students(3)
    sp = h.syncpay(sim)
    active = await sp.start(started_by="bu-sari")
    m = Maintenance(sp.db, sp.sync, sp.queue, schedule="02:00")
    assert await m.run_scheduled(dt.datetime(2026, 11, 29, 2, 0)) is None
    assert [r.id for r in await sp.sync.active()] == [active.id]


async def test_prune_deletes_only_old_ended_runs_with_their_logs(h: Harness):
    sim = await h.simulator()
    roster = await h.students(4)
    sp = h.syncpay(sim)
    old = await sp.start(idpersons=[roster[0]["idperson"]])
    await sp.cancel(old.id)
    recent = await sp.start(unit=None, kelas=None)
    await sp.cancel(recent.id)
    running = await sp.start(started_by="bu-sari")
    await h.db.run_script(
        f"UPDATE sync_runs SET finished_at = finished_at - 200 * 86400, "
        f"started_at = started_at - 200 * 86400 WHERE id = {old.id}"
    )
    assert await log_lines(h.db, old.id)
    assert await prune_runs(h.db, 180) == 1
    left = {r["id"] for r in await h.db.fetch_all("sync_runs_recent", {"limit": 10})}
    assert left == {recent.id, running.id}
    assert await log_lines(h.db, old.id) == []
    report = await prune(h.db, sp.queue, run_days=0, failed_hours=0)
    assert report.runs == 0


async def test_prune_keeps_everything_with_zero_ages(h: Harness):
    sim = await h.simulator()
    await h.students(2)
    sp = h.syncpay(sim)
    run = await sp.start()
    await sp.cancel(run.id)
    await h.db.run_script("UPDATE sync_runs SET finished_at = 1")
    report = await prune(h.db, sp.queue, run_days=0, failed_hours=0)
    assert report.runs == 0 and report.failed_jobs == 0
    assert (await sp.sync.get(run.id)).id == run.id


def test_prune_commands_report_what_they_deleted(cli):
    cli.env["APP_LOCALE"] = "en"  # the English wording (Indonesian is the default)
    assert "0 failed jobs older than 48 hours deleted." in cli.ok(
        "queue:prune-failed", "--hours", "48"
    )
    assert re.search(r"^\d+ sync runs? older than 180 days deleted\.$", cli.ok("sync:prune"), re.M)
    assert "0 sync runs older than 7 days deleted." in cli.ok("sync:prune", "--days", "7")
    bad = cli.run("sync:prune", "--days", "-3")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_sync_prune_also_prunes_the_students_history(cli):
    """sync:prune deletes the history lines older than SYNC_HISTORY_DAYS (or
    --history-days) as the daily clean-up does, and says how many."""
    cli.env["APP_LOCALE"] = "en"
    cli.ok("migrate")
    cli.sql_exec("DELETE FROM siswa_history")
    now = int(dt.datetime.now(dt.UTC).timestamp())
    for after, age in ((1, 400), (2, 366), (3, 30), (4, 1)):
        cli.sql_exec(
            _HISTORY_ROW.format(
                idperson="2025000001", run_id="NULL", at=now - age * 86400, after=after
            )
        )
    left = "SELECT tunggakan_after FROM siswa_history ORDER BY tunggakan_after"
    out = cli.ok("sync:prune")
    assert "2 student history lines older than 365 days deleted." in out
    assert [r[0] for r in cli.sql(left)] == [3, 4]
    out = cli.ok("sync:prune", "--history-days", "7")
    assert "1 student history line older than 7 days deleted." in out
    assert [r[0] for r in cli.sql(left)] == [4]
    out = cli.run("sync:prune", env={"SYNC_HISTORY_DAYS": "0", "SYNC_PRUNE_DAYS": "0"}).stdout
    assert "SYNC_HISTORY_DAYS is 0 (keep for ever): no student history deleted." in out
    assert "SYNC_PRUNE_DAYS is 0 (keep for ever): no sync run deleted." in out
    assert [r[0] for r in cli.sql(left)] == [4]
    assert "SYNC_HISTORY_DAYS" in cli.ok("sync:prune", "--help")
    for bad in ("0", "36501", "x"):
        refused = cli.run("sync:prune", "--history-days", bad)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr


# --------------------------------------------------------------------------- history

_HISTORY_ROW = (
    "INSERT INTO siswa_history (idperson, run_id, changed_at, tunggakan_before,"
    " tunggakan_after, kelebihan_before, kelebihan_after, lunas_before, lunas_after)"
    " VALUES ('{idperson}', {run_id}, {at}, 100000, {after}, 0, 0, 0, 0)"
)


async def history_lines(db: Database) -> dict[int, int | None]:
    """Every history line's tunggakan_after → its run_id (the test's lines differ)."""
    if "ts_history_all" not in db.queries:
        sql = "-- name: ts_history_all\nSELECT run_id, tunggakan_after FROM siswa_history\n"
        db.queries.update(parse_queries(sql, db.placeholder, {}))
    rows = await db.fetch_all("ts_history_all")
    return {int(r["tunggakan_after"]): r["run_id"] for r in rows}


async def test_the_clean_up_keeps_history_by_its_own_age_not_its_runs(h: Harness):
    """SYNC_HISTORY_DAYS deletes the lines older than it; a line whose run was pruned
    (SYNC_PRUNE_DAYS) keeps its date and numbers until then."""
    sim = await h.simulator()
    roster = await h.students(2)
    sp = h.syncpay(sim)
    old = await sp.start(idpersons=[roster[0]["idperson"]])
    await sp.cancel(old.id)
    await h.db.run_script(
        "DELETE FROM siswa_history;\n"
        f"UPDATE sync_runs SET finished_at = finished_at - 200 * 86400 WHERE id = {old.id}"
    )
    day = 86400
    now = int(dt.datetime.now(dt.UTC).timestamp())
    lines = {  # tunggakan_after → (age in days, run)
        1: (400, "NULL"),  # older than a year: deleted
        2: (366, old.id),
        3: (200, old.id),  # its run is pruned, the line stays
        4: (364, "NULL"),
        5: (1, 987654),  # a run id that never existed
    }
    await h.db.run_script(
        ";\n".join(
            _HISTORY_ROW.format(
                idperson=roster[n % 2]["idperson"], run_id=run, at=now - age * day, after=n
            )
            for n, (age, run) in lines.items()
        )
    )
    report = await prune(h.db, sp.queue, run_days=180, failed_hours=0, history_days=365)
    assert (report.runs, report.history) == (1, 2)
    assert await history_lines(h.db) == {3: old.id, 4: None, 5: 987654}
    history = await sp.students.history(roster[1]["idperson"])
    assert [c.tunggakan_after for c in history.changes] == [5, 3]
    assert [(c.run_id, c.run_kept) for c in history.changes] == [(987654, False), (old.id, False)]
    # 0 keeps every line; a shorter age deletes more
    assert (await prune(h.db, sp.queue, run_days=0, failed_hours=0, history_days=0)).history == 0
    assert await prune_history(h.db, 30) == 2
    assert await history_lines(h.db) == {5: 987654}
