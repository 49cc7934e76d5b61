"""Officer scopes (issue #15): the scope value, the accounts that store it, and the
read model and runs of a scoped petugas. Storage tests run on SQLite and MariaDB."""

from __future__ import annotations

import pytest

from syncpay.accounts import AccountError, Accounts
from syncpay.officers import OfficerScope, ScopeFlagError

PASSWORD = "rahasia-123"


# --- the scope value ------------------------------------------------------------------


def test_scope_parses_normalises_and_round_trips():
    scope = OfficerScope.parse(
        units=[" SMP ", "SMA", "SMP"],
        kelas=["SMA:X IPA 1", " SD : I A ", "SMA:X IPA 1"],
        asrama=["Al-Fatih"],
        diniyah=["Ula", "Wustho", "Ula"],
    )
    assert scope.units == ("SMA", "SMP")
    assert scope.kelas == (("SD", "I A"), ("SMA", "X IPA 1"))
    assert scope.diniyah == ("Ula", "Wustho")
    assert not scope.is_empty
    assert OfficerScope.from_json(scope.to_json()) == scope
    assert scope.to_dict() == {
        "units": ["SMA", "SMP"],
        "kelas": [{"unit": "SD", "kelas": "I A"}, {"unit": "SMA", "kelas": "X IPA 1"}],
        "asrama": ["Al-Fatih"],
        "diniyah": ["Ula", "Wustho"],
    }
    assert OfficerScope.from_json(None) is None
    assert OfficerScope.from_json(OfficerScope().to_json()) is None  # empty = no scope
    assert OfficerScope().is_empty


def test_scope_covers_the_union_of_its_parts():
    scope = OfficerScope.parse(units=["SMP"], kelas=["SMA:X"], asrama=["A1"], diniyah=["Ula"])
    row = {"UnitFormal": None, "KelasFormal": None, "AsramaPondok": None, "TingkatDiniyah": None}
    assert scope.covers(row | {"UnitFormal": "SMP", "KelasFormal": "VII A"})
    assert scope.covers(row | {"UnitFormal": "SMA", "KelasFormal": "X"})
    assert not scope.covers(row | {"UnitFormal": "SMA", "KelasFormal": "XI"})
    assert not scope.covers(row | {"UnitFormal": "SD", "KelasFormal": "X"})  # another unit's X
    assert scope.covers(row | {"UnitFormal": "SD", "AsramaPondok": "A1"})
    assert scope.covers(row | {"UnitFormal": "SD", "TingkatDiniyah": "Ula"})
    assert not scope.covers(row | {"UnitFormal": "SD", "AsramaPondok": "A2"})
    assert not scope.covers(row)
    assert not OfficerScope.nobody().covers(row | {"UnitFormal": "SMP"})


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ({"kelas": ["VII A"]}, "--kelas 'VII A'"),
        ({"kelas": ["SMP:"]}, "--kelas 'SMP:'"),
        ({"units": ["  "]}, "--unit"),
        ({"asrama": ["x" * 101]}, "--asrama"),
        ({"diniyah": ["Ula\x1b[31m"]}, "--diniyah"),
    ],
)
def test_bad_scope_values_are_refused_in_one_line(flags, named):
    with pytest.raises(ScopeFlagError) as caught:
        OfficerScope.parse(**flags)
    assert named in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.key.startswith("scope.err.")


# --- accounts -------------------------------------------------------------------------


async def test_accounts_store_scopes_roles_and_bound_tokens(db):
    accounts = Accounts(db)
    scope = OfficerScope.parse(units=["SMP"], kelas=["SMA:X IPA 1"])
    sari, created = await accounts.create_user("Sari", PASSWORD, "petugas", scope=scope)
    assert created and sari.scope == scope and sari.scoped
    assert (await accounts.user("SARI")) == sari
    rows = {r["name"]: r for r in await accounts.users()}
    assert OfficerScope.from_json(rows["sari"]["scope"]) == scope

    # A scope is for a petugas: an admin sees everyone.
    with pytest.raises(AccountError, match="admin"):
        await accounts.create_user("boss", PASSWORD, "admin", scope=scope)
    admin, _ = await accounts.create_user("boss", PASSWORD, "admin")
    assert admin.scope is None and not admin.scoped
    with pytest.raises(AccountError, match="admin"):
        await accounts.set_scope("boss", scope)

    # Replace, then clear (an empty scope is stored as none).
    dorm = OfficerScope.parse(asrama=["Al-Fatih"])
    assert (await accounts.set_scope("sari", dorm)).scope == dorm
    assert (await accounts.user("sari")).scope == dorm  # type: ignore[union-attr]
    cleared = await accounts.set_scope("sari", OfficerScope())
    assert cleared.scope is None and not cleared.scoped
    await accounts.set_scope("sari", dorm)

    # --update with no scope keeps it; a promotion to admin drops it.
    user, created = await accounts.create_user("sari", PASSWORD + "!", update=True)
    assert not created and user.scope == dorm
    promoted = await accounts.set_role("sari", "admin")
    assert promoted.is_admin and promoted.scope is None
    assert (await accounts.user("sari")).scope is None  # type: ignore[union-attr]
    back = await accounts.set_role("sari", "petugas")
    assert back.scope is None  # the old scope is not restored
    await accounts.set_scope("sari", dorm)

    # Unknown users and roles: one line.
    for call in (
        accounts.set_scope("nobody", dorm),
        accounts.set_role("nobody", "admin"),
        accounts.reset_password("nobody", PASSWORD),
        accounts.set_role("sari", "boss"),
        accounts.create_token("t", user="nobody"),
    ):
        with pytest.raises(AccountError) as caught:
            await call
        assert "\n" not in str(caught.value)
    with pytest.raises(AccountError):
        await accounts.reset_password("sari", "short")
    assert (await accounts.reset_password("sari", "new-password-1")).scope == dorm
    assert await accounts.authenticate("sari", "new-password-1") is not None

    # A bound token acts as its user, with the user's current role and scope.
    token = await accounts.create_token("sari-script", user="sari")
    as_sari = await accounts.token_user(token)
    assert as_sari is not None and as_sari.via == "token"
    assert (as_sari.name, as_sari.role, as_sari.scope) == ("sari", "petugas", dorm)
    await accounts.set_scope("sari", scope)
    assert (await accounts.token_user(token)).scope == scope  # type: ignore[union-attr]
    listed = [t for t in await accounts.tokens() if t["name"] == "sari-script"]
    assert listed[0]["user_name"] == "sari"
    # An unbound token keeps its own role and has no scope.
    plain = await accounts.token_user(await accounts.create_token("cron", "petugas"))
    assert plain is not None and plain.name == "cron" and plain.scope is None
    # A removed user's token no longer acts.
    assert await accounts.delete_user("sari")
    assert await accounts.token_user(token) is None


async def test_a_scope_syncpay_cannot_read_covers_nobody(db):
    accounts = Accounts(db)
    user, _ = await accounts.create_user("rina", PASSWORD)
    await db.execute("user_set_scope", {"id": user.id, "scope": "{not json"})
    found = await accounts.user("rina")
    assert found is not None and found.scoped
    assert not found.scope.covers({"UnitFormal": "SMP"})  # type: ignore[union-attr]


# --- the read model ---------------------------------------------------------------------

SCOPES = {
    "parts": OfficerScope.parse(
        units=["MTs"], kelas=["SMA:X IPS 2", "SMP:VII A"], asrama=["Al-Hidayah"]
    ),
    "diniyah": OfficerScope.parse(diniyah=["Ula"]),
}


async def _roster(db) -> dict[str, dict]:
    ids = [r["idperson"] for r in await db.fetch_all("roster_idpersons")]
    return {str(r["idperson"]): r for r in await db.fetch_all("roster_find", {"ids": ids})}


async def _covered(db, scope: OfficerScope) -> dict[str, dict]:
    return {i: r for i, r in (await _roster(db)).items() if scope.covers(r)}


async def _listed(students, filters, scope) -> tuple[list[str], int | None]:
    from dataclasses import replace

    ids: list[str] = []
    page, total = 1, None
    while True:
        listing = await students.list(replace(filters, page=page), scope=scope)
        ids += [row.idperson for row in listing.rows]
        total = listing.total if total is None else total
        if not listing.has_next:
            return ids, total
        page += 1


@pytest.mark.parametrize("name", sorted(SCOPES))
async def test_a_scoped_read_model_holds_exactly_the_scopes_students(h, name):
    """The list (every driver and sort, all pages), the filter's choices, the export,
    the report, a student's page and history: exactly the students the scope covers
    (computed in Python from the roster), and nobody outside."""
    from syncpay.students import Students
    from syncpay.students.filters import Filters

    scope = SCOPES[name]
    await h.students(240, seed=3)
    covered = await _covered(h.db, scope)
    assert 10 < len(covered) < 200  # a real part of the school
    students = Students(h.db, h.settings)
    students.per_page, students.export_chunk = 17, 7
    word = next(iter(covered.values()))["nama"].split()[0]
    cases = [
        Filters(),
        Filters(sort="tunggakan_desc"),
        Filters(sort="synced_desc"),
        Filters(unit="SMA"),
        Filters(unit="SMP", kelas="VII A"),
        Filters(kelas="VII A"),
        Filters(status="belum_sinkron"),
        Filters(q=word),
        Filters(q=word, sort="tunggakan_asc", unit="SMA"),
    ]
    for filters in cases:
        unscoped, _ = await _listed(students, filters, None)
        expected = [i for i in unscoped if i in covered]  # the same order, scope's only
        ids, total = await _listed(students, filters, scope)
        assert ids == expected, filters
        assert total == len(expected), filters
        exported = [
            r.idperson async for chunk in students.export(filters, scope=scope) for r in chunk
        ]
        assert exported == expected, filters

    choices = await students.choices(scope=scope)
    assert set(choices.units) == {r["UnitFormal"] for r in covered.values()}
    pairs = {(u, k) for k, units in choices.kelas.items() for u in units}
    assert pairs == {(r["UnitFormal"], r["KelasFormal"]) for r in covered.values()}

    report = await students.report(scope=scope)
    assert report.total.students == len(covered)
    assert {(c.unit, c.kelas): c.students for c in report.classes} == _count_classes(covered)
    sma = await students.report("SMA", scope=scope)
    assert sma.total.students == sum(r["UnitFormal"] == "SMA" for r in covered.values())

    inside = next(iter(covered))
    outside = next(i for i in await _all_ids(h.db) if i not in covered)
    assert await students.detail(inside, scope=scope) is not None
    assert await students.detail(outside, scope=scope) is None
    assert await students.detail(outside) is not None
    assert await students.exists(inside, scope=scope)
    assert not await students.exists(outside, scope=scope)
    assert (await students.history(outside, scope=scope)).changes == ()


def _count_classes(rows: dict[str, dict]) -> dict[tuple, int]:
    from collections import Counter

    return dict(Counter((r["UnitFormal"], r["KelasFormal"]) for r in rows.values()))


async def _all_ids(db) -> list[str]:
    return sorted(await _roster(db))


# --- runs -----------------------------------------------------------------------------

SARI = OfficerScope.parse(units=["MTs"], asrama=["Al-Hidayah"])
BUDI = OfficerScope.parse(kelas=["SMA:X IPS 2", "SMA:XI IPA 1", "SMP:VII A"])


async def test_two_officers_runs_of_their_scopes_complete_exactly_and_fairly(h):
    """Two scoped officers start a run of their own students at once: each run counts
    exactly the students its scope covers (from the roster, in Python), each once; the
    workers share themselves between the runs (after 20 jobs both have progressed, as
    the runs' interleaved sort keys promise); an officer never runs everyone."""
    from syncpay.sync.errors import OutsideScope
    from tests.sync_helpers import items_of, run_next_job, until

    await h.students(240, seed=3)
    sim = await h.simulator(latency=0.0)
    sp = h.syncpay(sim)
    sari_ids = set(await _covered(h.db, SARI))
    budi_ids = set(await _covered(h.db, BUDI))
    assert len(sari_ids) > 20 and len(budi_ids) > 20

    a = await sp.start(started_by="sari", officer=SARI)  # no scope: their students
    b = await sp.start(started_by="budi", officer=BUDI)
    assert (a.scope.kind, a.total, b.scope.kind, b.total) == (
        "officer",
        len(sari_ids),
        "officer",
        len(budi_ids),
    )
    assert a.scope_label == "Siswa petugas sari"
    assert a.scope.detail()["parts"] == SARI.to_dict()
    assert [await run_next_job(sp) for _ in range(2)] == ["sync.dispatch"] * 2
    for _ in range(20):
        await run_next_job(sp)
    early = [(await sp.sync.get(r.id)).processed for r in (a, b)]
    assert min(early) >= 5 and sum(early) == 20, early

    worker = h.worker(sp, 4)
    worker.start()
    for run in (a, b):
        await until(lambda run=run: _ended(sp, run.id), 30, what=f"run {run.id}")
    for run, ids in ((a, sari_ids), (b, budi_ids)):
        done = await sp.sync.get(run.id)
        assert (done.status, done.total, done.processed, done.failed) == (
            "completed",
            len(ids),
            len(ids),
            0,
        )
        items = await items_of(h.db, run.id)
        assert set(items) == ids  # exactly the scope, each student once (the primary key)
    await worker.close()

    # Inside the scope: a unit, a class, a list; outside: refused, nothing started.
    before = len(await sp.sync.recent(100))
    inside = sorted(sari_ids)[:2]
    assert (await sp.start(unit="MTs", started_by="sari", officer=SARI)).scope.kind == "unit"
    assert (await sp.start(idpersons=inside, started_by="sari", officer=SARI)).total == 2
    outside = sorted(budi_ids - sari_ids)[0]
    for refused in (
        {"unit": "SMA"},
        {"unit": "SMP", "kelas": "VII A"},
        {"idpersons": [*inside, outside]},
        {"idpersons": ["NOSUCHID"]},
    ):
        with pytest.raises(OutsideScope):
            await sp.start(started_by="sari", officer=SARI, **refused)
    assert len(await sp.sync.recent(100)) == before + 2

    # Cancel: only one's own runs; without a run id, one's own newest.
    mine = await sp.start(started_by="sari", officer=SARI)
    with pytest.raises(OutsideScope):
        await sp.cancel(mine.id, by="budi", owner="budi")
    from syncpay.sync.errors import RunConflict

    with pytest.raises(RunConflict):
        await sp.cancel(by="budi", owner="budi")  # budi has nothing running
    assert (await sp.cancel(by="sari", owner="sari")).id == mine.id
    with pytest.raises(OutsideScope):
        await sp.retry_failed(mine.id, started_by="budi", officer=BUDI)


async def _ended(sp, run_id: int) -> bool:
    return not (await sp.sync.get(run_id)).is_running


# --- the command line -----------------------------------------------------------------


@pytest.mark.parametrize("db_kind", ["sqlite"])  # wording: one database is enough
def test_the_commands_give_and_change_scopes_in_one_line_errors(
    db_kind, env_vars, tmp_path, monkeypatch, capsys
):
    """user:create with scope flags, user:scope, user:list, token:create --user: run
    in-process (``syncpay.cli.main``) in English; refusals are one line."""
    import io
    import sqlite3
    import sys

    from syncpay.cli import main

    monkeypatch.chdir(tmp_path)
    for name, value in (env_vars | {"APP_LOCALE": "en"}).items():
        monkeypatch.setenv(name, value)

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    def create(*args: str) -> tuple[int, str, str]:
        return run("user:create", *args, stdin=PASSWORD + "\n")

    def one_line(result: tuple[int, str, str]) -> str:
        lines = result[2].splitlines()
        assert len(lines) == 1 and lines[0].startswith("syncpay: "), result
        return lines[0]

    def users() -> list[tuple]:
        with sqlite3.connect(env_vars["DB_DATABASE"]) as conn:
            return conn.execute("SELECT name, scope FROM users").fetchall()

    code, out, err = create("Sari", "--unit", "SMP", "--kelas", "SMA:X IPA 1", "--asrama", "A F")
    assert code == 0, err
    assert 'Scope of sari: --unit SMP --kelas "SMA:X IPA 1" --asrama "A F"' in out
    [(_, stored)] = users()
    parts = OfficerScope.parse(units=["SMP"], kelas=["SMA:X IPA 1"], asrama=["A F"])
    assert OfficerScope.from_json(stored) == parts

    bad = create("budi", "--kelas", "VII A")
    assert bad[0] == 1
    assert one_line(bad) == "syncpay: --kelas 'VII A': write it as UNIT:KELAS, e.g. SMP:VII A"
    admin = create("boss", "--role", "admin", "--unit", "SMP")
    assert one_line(admin) == "syncpay: an admin sees every student: a scope is for a petugas"
    assert len(users()) == 1

    code, out, _ = run("user:scope", "sari", "--diniyah", "Ula", "--diniyah", "Wustho")
    assert (code, out.strip()) == (0, "Scope of sari: --diniyah Ula --diniyah Wustho")
    neither = run("user:scope", "sari")
    assert neither[0] == 2 and "--clear" in one_line(neither)
    unknown = run("user:scope", "nobody", "--unit", "SMP")
    assert one_line(unknown) == "syncpay: no user named 'nobody'"
    code, out, _ = run("token:create", "sari-script", "--user", "sari")
    assert code == 0 and out.strip().startswith("sp_")
    assert "\tas sari" in run("token:list")[1]
    assert run("token:create", "x", "--user", "nobody")[0] == 1
    assert run("user:list")[1].strip().endswith("\t--diniyah Ula --diniyah Wustho")
    code, out, _ = run("user:scope", "sari", "--clear")
    assert (code, out.strip()) == (0, "Scope of sari: all students")
    assert run("user:list")[1].strip().endswith("\tall students")


async def test_a_token_and_a_user_never_share_a_name(db):
    """Runs record who started them by name, and a scoped petugas owns the runs started
    under theirs: an unbound token may not take a user's name, nor a user a token's."""
    accounts = Accounts(db)
    await accounts.create_user("sari", PASSWORD)
    with pytest.raises(AccountError, match="--user"):
        await accounts.create_token("Sari", "admin")
    assert await accounts.create_token("sari", user="sari")  # bound: it is sari
    await accounts.create_token("cron", "admin")
    with pytest.raises(AccountError, match="token"):
        await accounts.create_user("CRON", PASSWORD)
    await accounts.revoke_token("cron")
    assert (await accounts.create_user("cron", PASSWORD))[1]


def test_the_cli_words_an_officers_run_in_its_own_language() -> None:
    """`sync:status` and the progress bar word an officer's run as the page does, in
    APP_LOCALE (not the Indonesian label stored with the run)."""
    from syncpay.cli.output import language, scope_words, set_language
    from syncpay.sync.scope import Scope

    scope = Scope(officer=OfficerScope.parse(units=["SMP"]), officer_name="sari")
    before = language()
    try:
        set_language("en")
        assert scope_words(scope.detail(), scope.label()) == "Students of officer sari"
        set_language("id")
        assert scope_words(scope.detail(), "x") == scope.label()
    finally:
        set_language(before)


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(db):
    """The last-admin rule holds in the transaction: two admins demoted at the same
    moment (the page, or `user:create --update --role petugas`) leave exactly one."""
    import asyncio

    from syncpay.accounts import LastAdmin

    accounts = Accounts(db)
    for name in ("ani", "budi"):
        await accounts.create_user(name, "kata-sandi-1", "admin")
    results = await asyncio.gather(
        accounts.set_role("ani", "petugas"),
        accounts.set_role("budi", "petugas"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, LastAdmin)]
    assert len(refused) == 1, results
    roles = {str(r["name"]): str(r["role"]) for r in await accounts.users()}
    assert sorted(roles.values()) == ["admin", "petugas"], roles
    last = next(name for name, role in roles.items() if role == "admin")
    with pytest.raises(LastAdmin):
        await accounts.create_user(last, "kata-sandi-2", "petugas", update=True)
    assert (await accounts.user(last)).role == "admin"  # type: ignore[union-attr]
