"""Each student's history (issue #14): one line per sync that changed the student's
totals or state, newest first, read through ``sp.students.history`` (SQLite and
MariaDB); kept when the student leaves the roster and shown again when they come back;
and the sparkline's geometry (``web/charts/sparkline.py``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncpay.service import SyncPay
from syncpay.simulator import Simulator
from syncpay.students import import_rows
from syncpay.sync.money import Totals, compute_totals
from syncpay.sync.parsers import parse_flat
from syncpay.web.charts.sparkline import HEIGHT, PAD, WIDTH, sparkline
from tests.sync_helpers import Harness


def totals_of(sim: Simulator, idperson: str) -> Totals:
    return compute_totals(parse_flat(sim.answer_text(idperson)).items, date.today())


def state(totals: Totals) -> str:
    return "lunas" if totals.is_lunas else "belum_lunas"


async def sync_all(sp: SyncPay) -> int:
    run = await sp.wait((await sp.start()).id, workers=4)
    assert (run.status, run.failed) == ("completed", 0)
    return run.id


async def test_three_syncs_two_changing_make_two_lines_newest_first(h: Harness) -> None:
    """A first sync, the same answers again (nothing changes: no line), then other
    answers: two lines for a student whose totals changed, one for the others."""
    roster = await h.students(20, seed=14)
    await h.db.run_script("DELETE FROM siswa_history")
    old, new = await h.simulator(), await h.simulator(version=3)
    first = await sync_all(h.syncpay(old))
    again = await sync_all(h.syncpay(old))
    sp = h.syncpay(new)
    third = await sync_all(sp)
    ids = [s["idperson"] for s in roster]
    moved = [i for i in ids if totals_of(old, i) != totals_of(new, i)]
    stayed = [i for i in ids if i not in moved]
    assert moved and stayed, "version 3 changes some students, not all"

    idperson = moved[0]
    before, after = totals_of(old, idperson), totals_of(new, idperson)
    history = await sp.students.history(idperson)
    assert [c.run_id for c in history.changes] == [third, first]
    assert again not in {c.run_id for c in history.changes}
    assert not history.more and all(c.run_kept for c in history.changes)
    latest, earliest = history.changes
    assert latest.changed_at >= earliest.changed_at and latest.id > earliest.id
    assert (earliest.tunggakan_before, earliest.kelebihan_before) == (None, None)
    assert (earliest.state_before, earliest.state_after) == ("belum_sinkron", state(before))
    assert (earliest.tunggakan_after, earliest.kelebihan_after) == (
        before.total_tunggakan,
        before.total_kelebihan,
    )
    assert (latest.tunggakan_before, latest.kelebihan_before) == (
        before.total_tunggakan,
        before.total_kelebihan,
    )
    assert (latest.tunggakan_after, latest.kelebihan_after) == (
        after.total_tunggakan,
        after.total_kelebihan,
    )
    assert (latest.state_before, latest.state_after) == (state(before), state(after))
    for other in stayed:
        lines = (await sp.students.history(other)).changes
        assert [c.run_id for c in lines] == [first], other
    # The student page reads the same lines.
    detail = await sp.students.detail(idperson)
    assert detail is not None and detail.history == history


async def test_a_student_removed_from_the_roster_keeps_the_history(h: Harness) -> None:
    """siswa:import --prune moves a student to siswa_removed: the page is gone (404),
    the history lines stay; an import that lists the student again shows them again."""
    roster = await h.students(20, seed=5)
    await h.db.run_script("DELETE FROM siswa_history")
    sp = h.syncpay(await h.simulator())
    run_id = await sync_all(sp)
    leaving = roster[3]["idperson"]
    lines = (await sp.students.history(leaving)).changes
    assert [c.run_id for c in lines] == [run_id]

    rest = [s for s in roster if s["idperson"] != leaving]
    report = await import_rows(h.db, enumerate(rest, start=2), prune=True)
    assert report.pruned == 1
    assert await sp.students.detail(leaving) is None
    assert (await sp.students.history(leaving)).changes == lines

    report = await import_rows(h.db, enumerate(roster, start=2))
    assert report.restored == 1
    detail = await sp.students.detail(leaving)
    assert detail is not None and detail.history.changes == lines
    assert detail.student.totals["tunggakan"] == lines[0].tunggakan_after


# --- the sparkline ----------------------------------------------------------------------------

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_a_sparkline_steps_from_zero_to_the_highest_amount_by_time() -> None:
    values = [(T0, Decimal(400)), (T0 + timedelta(days=1), Decimal(100))]
    values.append((T0 + timedelta(days=4), Decimal(0)))
    line = sparkline(values)
    assert line is not None
    assert (line.width, line.height, line.high, line.low) == (WIDTH, HEIGHT, 400, 0)
    assert [p.x for p in line.points] == [PAD, 83.0, WIDTH - PAD]  # a quarter of the time
    assert [p.y for p in line.points] == [PAD, 45.0, HEIGHT - PAD]
    assert line.path == "M6,6 H83V45 H314V58 H314"
    assert line.last.value == 0 and line.base == HEIGHT - PAD


def test_a_sparkline_with_the_amount_before_and_edge_cases() -> None:
    line = sparkline([(T0, Decimal(50))], start=Decimal(100))
    assert line is not None
    assert [(p.value, p.at) for p in line.points] == [(100, None), (50, T0)]
    assert line.path.startswith("M6,6 H") and line.points[1].y == 32.0
    assert sparkline([]) is None
    flat = sparkline([(T0, Decimal(0)), (T0, Decimal(0))])  # one instant, no arrears
    assert flat is not None
    assert [p.y for p in flat.points] == [HEIGHT - PAD] * 2
    assert [p.x for p in flat.points] == [PAD, WIDTH - PAD]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10 * 365 * 86400),
            st.decimals(0, 10**12, places=2, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=30,
    ),
    st.none() | st.decimals(0, 10**12, places=2, allow_nan=False, allow_infinity=False),
)
def test_every_sparkline_stays_in_its_box(
    raw: list[tuple[int, Decimal]], start: Decimal | None
) -> None:
    values = sorted((T0 + timedelta(seconds=s), amount) for s, amount in raw)
    line = sparkline(values, start=start)
    assert line is not None
    assert len(line.points) == len(values) + (start is not None)
    xs = [p.x for p in line.points]
    assert xs == sorted(xs)
    for point in line.points:
        assert PAD <= point.x <= WIDTH - PAD and PAD <= point.y <= HEIGHT - PAD
    highest = max(line.points, key=lambda p: p.value)
    assert highest.y == (PAD if highest.value > 0 else HEIGHT - PAD)
    assert line.path.startswith("M") and set(line.path) <= set("MHV0123456789., ")


@pytest.mark.parametrize("amount", [Decimal("-5"), Decimal(0)])
def test_no_arrears_is_the_bottom_line(amount: Decimal) -> None:
    line = sparkline([(T0, amount), (T0 + timedelta(hours=1), Decimal(10))])
    assert line is not None and line.points[0].y == HEIGHT - PAD
