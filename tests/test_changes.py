"""What each sync changed (issue #14), on SQLite and MariaDB: a run's change summary
equals the differences between the students' stored totals before and after it, its
list of changed students is exactly those, each change is one line of the student's
history, once; and a run from before migration 0015 says ``changes: null``.

The answers change between two syncs because the second simulator serves another data
version (``SimulatorOptions.version``: each step redraws ~25% of the students)."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import Any

from syncpay.db import Database, Tx
from syncpay.db.queries import parse_queries
from syncpay.sync.accounting import record_success
from syncpay.sync.money import compute_totals
from syncpay.sync.parsers import parse_flat
from syncpay.sync.records import CHANGE_COUNTERS, RunChanges
from tests.sync_helpers import Harness, run_next_job, siswa_rows

_QUERIES = {
    "tc_history": "SELECT * FROM siswa_history WHERE run_id IN (:run_ids) ORDER BY id",
    "tc_forget_changes": (
        "UPDATE sync_runs SET became_lunas = NULL, became_belum_lunas = NULL,"
        " first_synced = NULL, arrears_up = NULL, arrears_down = NULL,"
        " tunggakan_before = NULL, tunggakan_after = NULL WHERE id = :id"
    ),
}


def _teach(db: Database) -> Database:
    if "tc_history" not in db.queries:
        for name, sql in _QUERIES.items():
            db.queries.update(parse_queries(f"-- name: {name}\n{sql}\n", db.placeholder, {}))
    return db


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _lunas(value: Any) -> bool | None:
    return None if value is None else bool(int(value))


def _state(row: dict[str, Any]) -> tuple[Decimal | None, Decimal | None, bool | None]:
    return _money(row["total_tunggakan"]), _money(row["total_kelebihan"]), _lunas(row["is_lunas"])


def expected_changes(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> tuple[RunChanges, set[str]]:
    """The summary and the changed students, computed from two snapshots of siswa."""
    counts = dict.fromkeys(CHANGE_COUNTERS, 0)
    total_before = total_after = Decimal(0)
    changed: set[str] = set()
    for idperson, row in after.items():
        t0, k0, l0 = _state(before[idperson])
        t1, k1, l1 = _state(row)
        assert t1 is not None and l1 is not None, f"{idperson} not synced"
        total_before += t0 or 0
        total_after += t1
        if (t0, k0, l0) == (t1, k1, l1):
            continue
        changed.add(idperson)
        if l0 is None:
            counts["first_synced"] += 1
            continue
        if l0 != l1:
            counts["became_lunas" if l1 else "became_belum_lunas"] += 1
        if t1 != t0:
            counts["arrears_up" if t1 > (t0 or 0) else "arrears_down"] += 1
    summary = RunChanges(**counts, tunggakan_before=total_before, tunggakan_after=total_after)
    return summary, changed


async def test_a_runs_changes_are_the_differences_between_before_and_after(h: Harness) -> None:
    await h.students(80, seed=14)
    first_sim, second_sim = await h.simulator(), await h.simulator(version=3)
    sp = h.syncpay(first_sim)
    never = await siswa_rows(h.db)

    first = await sp.wait((await sp.start()).id, workers=8)
    assert (first.status, first.failed) == ("completed", 0)
    synced = await siswa_rows(h.db)
    summary, changed = expected_changes(never, synced)
    assert first.changes == summary
    assert summary.first_synced == 80 and summary.tunggakan_before == 0

    sp2 = h.syncpay(second_sim)
    second = await sp2.wait((await sp2.start()).id, workers=8)
    assert (second.status, second.failed) == ("completed", 0)
    resynced = await siswa_rows(h.db)
    summary, changed = expected_changes(synced, resynced)
    assert second.changes == summary
    assert changed, "the second data version changes some students"
    assert summary.became_lunas + summary.became_belum_lunas + summary.arrears_up > 0
    assert summary.first_synced == 0

    # The progress object and the runs' history carry the same summary, amounts as numbers.
    progress = (await sp2.progress(second.id)).to_json()
    assert progress["changes"] == summary.to_json()
    assert isinstance(progress["changes"]["tunggakan_after"], int | float)
    history = {r.run_id: r for r in await sp2.sync.history(5)}
    assert history[second.id].changes == summary
    assert history[second.id].to_json()["changes"] == summary.to_json()

    # The run's list: exactly the changed students, with before → after.
    total, listed = await sp2.sync.changes(second.id, limit=1000)
    assert total == len(changed) == len(listed)
    assert {c.idperson for c in listed} == changed
    for c in listed:
        assert (c.change.tunggakan_before, c.change.kelebihan_before, c.change.lunas_before) == (
            _state(synced[c.idperson])
        )
        assert (c.change.tunggakan_after, c.change.kelebihan_after, c.change.lunas_after) == (
            _state(resynced[c.idperson])
        )
    _, page = await sp2.sync.changes(second.id, limit=3, offset=3)
    assert [c.idperson for c in page] == [c.idperson for c in listed[3:6]]

    # One history line per changed student and run; a third, unchanged sync adds none.
    lines = await _teach(h.db).fetch_all("tc_history", {"run_ids": [first.id, second.id]})
    assert sum(int(r["run_id"]) == second.id for r in lines) == len(changed)
    assert sum(int(r["run_id"]) == first.id for r in lines) == 80
    third = await sp2.wait((await sp2.start()).id, workers=8)
    assert third.changes == RunChanges(
        tunggakan_before=summary.tunggakan_after, tunggakan_after=summary.tunggakan_after
    )
    assert await _teach(h.db).fetch_all("tc_history", {"run_ids": [third.id]}) == []
    assert await sp2.sync.changes(third.id) == (0, [])


async def test_a_duplicate_delivery_records_no_second_change(h: Harness) -> None:
    sim = await h.simulator()
    roster = await h.students(3, seed=9)
    sp = h.syncpay(sim)
    ids = [s["idperson"] for s in roster]
    run = await sp.start(idpersons=ids)
    assert await run_next_job(sp) == "sync.dispatch"
    one = ids[0]
    text = sim.answer_text(one)
    digest = hashlib.sha256(text.encode()).hexdigest()
    totals = compute_totals(parse_flat(text).items, date.today())

    async def deliver(tx: Tx) -> bool:
        return await record_success(tx, one, text, digest, totals, 1)

    assert await h.db.transact(deliver) is True
    await h.db.transact(deliver)  # the same student delivered again
    lines = await _teach(h.db).fetch_all("tc_history", {"run_ids": [run.id]})
    assert [str(r["idperson"]) for r in lines] == [one]
    now = await sp.sync.get(run.id)
    assert now.changes is not None and now.changes.first_synced == 1
    assert now.changes.tunggakan_after == totals.total_tunggakan
    await sp.cancel(run.id)


async def test_a_run_from_before_the_feature_says_changes_null(h: Harness) -> None:
    sim = await h.simulator()
    roster = await h.students(2, seed=3)
    sp = h.syncpay(sim)
    run = await sp.start(idpersons=[s["idperson"] for s in roster])
    assert (await sp.sync.get(run.id)).changes == RunChanges()  # 0 from the start
    await _teach(h.db).execute("tc_forget_changes", {"id": run.id})  # as 0014 left it
    assert (await sp.progress(run.id)).to_json()["changes"] is None
    assert [r.to_json()["changes"] for r in await sp.sync.history(1)] == [None]
    # Counting into it keeps it unknown (NULL + n) rather than a partial summary.
    await sp.wait(run.id, workers=2)
    assert (await sp.sync.get(run.id)).changes is None
