"""The student list, built for 100,000 students without reading more than the page's
own rows (each row carries the student's whole payment answer): see the queries at the
end of ``db/queries/*/siswa.sql`` and migration 0007.

A request first counts its matches through the index of its most selective filter,
stopping at the count cap; a result of at most :data:`SMALL` students is then read and
sorted from the indexes, a larger one is paged by walking the sort order's index,
checking the filters on the way. Past the cap the page says "more than 10,000" instead
of a number. A search sorted by name whose driving word starts one name word only is
paged from the word index itself, in name order (migration 0010, :func:`_one_word`).

The CSV export (:func:`export_students`) reads every student the list would show on
all its pages, in the same order, in keyset chunks (``db/queries/*/siswa_export.sql``):
memory stays one chunk whatever the number of students.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..db import Database
from ..officers import OfficerScope, scope_params
from .filters import COUNT_CAP, PER_PAGE, SMALL, WORD_CANDIDATES, Filters
from .records import StudentRow, state_of, to_decimal, utc

__all__ = [
    "EXPORT_CHUNK",
    "Choices",
    "ExportRow",
    "Listing",
    "export_students",
    "filter_choices",
    "list_students",
]


@dataclass
class Listing:
    """One page of the list: its rows, and the total when it was counted (None past
    ``count_cap``). ``queries``: the count and page queries it used."""

    rows: list[StudentRow]
    offset: int
    total: int | None
    has_next: bool
    queries: tuple[str, str] = ("", "")
    per_page: int = PER_PAGE
    count_cap: int = COUNT_CAP

    @property
    def first(self) -> int:
        return self.offset + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.offset + len(self.rows)

    @property
    def pages(self) -> int | None:
        if self.total is None:
            return None
        return max(1, -(-self.total // self.per_page))


async def list_students(
    db: Database,
    filters: Filters,
    *,
    per_page: int = PER_PAGE,
    count_cap: int = COUNT_CAP,
    scope: OfficerScope | None = None,
) -> Listing:
    """The page ``filters.page`` of the students matching ``filters`` (of ``scope``'s
    students only, when given: one more condition in every query, see siswa.sql)."""
    offset = (filters.page - 1) * per_page
    words = filters.words
    common = False
    if words:
        ranked = await _rank_words(db, filters, words)
        if ranked[0][1] == 0:
            return Listing([], offset, 0, False, ("siswa_kata_counts", ""), per_page, count_cap)
        words = [word for word, _ in ranked]
        common = ranked[0][1] > WORD_CANDIDATES
    params = filters.params(words, limit=per_page + 1, offset=offset, cap=count_cap + 1)
    params |= scope_params(scope)
    driver = filters.driver
    count_query = f"siswa_count_{driver}"
    if driver == "all" and params["scoped"]:
        count_query = "siswa_count_scoped"
    counted = int(await db.fetch_value(count_query, params) or 0)
    total = counted if counted <= count_cap else None
    page_query = await _page_query(db, filters, params, counted, common)
    ids = [int(r["id"]) for r in await db.fetch_all(page_query, params)] if counted else []
    has_next = len(ids) > per_page
    ids = ids[:per_page]
    rows: list[StudentRow] = []
    if ids:
        by_id = {int(r["id"]): r for r in await db.fetch_all("siswa_list_rows", {"ids": ids})}
        rows = [StudentRow.from_row(by_id[i]) for i in ids if i in by_id]
    if total is None and rows and not has_next:
        total = offset + len(rows)  # the last page: now we know
    return Listing(rows, offset, total, has_next, (count_query, page_query), per_page, count_cap)


async def _rank_words(db: Database, filters: Filters, words: list[str]) -> list[tuple[str, int]]:
    """How many name words start with each search word (up to the cap), rarest first:
    the rarest word finds the candidates; when even it is everywhere, the sort order
    is walked."""
    row = await db.fetch_one("siswa_kata_counts", filters.params(words, cap=WORD_CANDIDATES + 1))
    assert row is not None
    counts = (int(row[f"n{i + 1}"]) for i in range(len(words)))
    return sorted(zip(words, counts, strict=False), key=lambda wc: wc[1])


async def _page_query(
    db: Database, filters: Filters, params: dict[str, Any], counted: int, common: bool
) -> str:
    """The named query that reads the page's ids (see the module's docstring)."""
    driver = filters.driver
    if filters.sort == "synced_desc":  # synced_at is in siswa_list_synced_index only
        return "siswa_page_scan_synced_desc"
    if driver == "kata" and filters.sort == "nama" and await _one_word(db, params):
        return "siswa_page_kata_nama"
    if driver == "kata" and not common:
        return "siswa_page_kata"
    if driver not in ("all", "kata") and counted <= SMALL:
        return f"siswa_page_{driver}"
    return f"siswa_page_scan_{filters.sort}"


async def _one_word(db: Database, params: dict[str, Any]) -> bool:
    """Whether the search word that drives starts one name word only (a given name typed
    whole, most often): its students are then paged in name order from the word index
    (``siswa_page_kata_nama``), a walk that stops with the page. ``params["kata"]``
    becomes that word."""
    span = await db.fetch_one("siswa_kata_span", params)
    if span is None or span["lo"] is None or span["lo"] != span["hi"]:
        return False
    params["kata"] = span["lo"]
    return True


# --- the export --------------------------------------------------------------------------

#: Students read per keyset chunk of the export.
EXPORT_CHUNK = 1_000
#: Past every id (ids are positive, below 2**63).
_PAST_IDS = 2**62
#: Beyond every amount (DECIMAL(15, 2)) and every instant.
_AMOUNT_BOUND = 10**15
_LAST_INSTANT = "9999-12-31 23:59:59"

#: Each sort's walks: (the named query of the first chunk, of the next ones, the sort key
#: and the id the first one starts after). A sort on a column that may be NULL walks the
#: NULLs apart, where the list has them (first in ascending order, last in descending
#: order: both databases sort them so).
_WALKS: dict[str, tuple[tuple[str, str, Any, int], ...]] = {
    "nama": (("siswa_export_nama_first", "siswa_export_nama", None, 0),),
    "tunggakan_asc": (
        ("siswa_export_tunggakan_null_asc", "siswa_export_tunggakan_null_asc", None, 0),
        ("siswa_export_tunggakan_asc", "siswa_export_tunggakan_asc", -_AMOUNT_BOUND, 0),
    ),
    "tunggakan_desc": (
        ("siswa_export_tunggakan_desc", "siswa_export_tunggakan_desc", _AMOUNT_BOUND, _PAST_IDS),
        ("siswa_export_tunggakan_null_desc", "siswa_export_tunggakan_null_desc", None, _PAST_IDS),
    ),
    "synced_desc": (
        ("siswa_export_synced_desc", "siswa_export_synced_desc", _LAST_INSTANT, _PAST_IDS),
        ("siswa_export_synced_null_desc", "siswa_export_synced_null_desc", None, _PAST_IDS),
    ),
}


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One student of the export: the list's columns and the four totals (None: never
    synced)."""

    idperson: str
    nama: str
    unit: str | None
    kelas: str | None
    state: str
    tunggakan: Decimal | None
    kelebihan: Decimal | None
    tagihan: Decimal | None
    dibayar: Decimal | None
    synced_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ExportRow:
        return cls(
            idperson=str(row["idperson"]),
            nama=str(row["nama"]),
            unit=row["UnitFormal"],
            kelas=row["KelasFormal"],
            state=state_of(row["is_lunas"]),
            tunggakan=to_decimal(row["total_tunggakan"]),
            kelebihan=to_decimal(row["total_kelebihan"]),
            tagihan=to_decimal(row["total_tagihan"]),
            dibayar=to_decimal(row["total_dibayar"]),
            synced_at=utc(row["synced_at"]),
        )


async def export_students(
    db: Database,
    filters: Filters,
    *,
    chunk: int = EXPORT_CHUNK,
    scope: OfficerScope | None = None,
) -> AsyncIterator[list[ExportRow]]:
    """Every student matching ``filters`` (all pages; ``filters.page`` is not read), in
    the list's order, a chunk of at most ``chunk`` at a time: each chunk is a walk of
    the sort's index from where the last one stopped (keyset), then the chunk's rows."""
    words = filters.words
    if words:
        ranked = await _rank_words(db, filters, words)
        if ranked[0][1] == 0:
            return
        words = [word for word, _ in ranked]
    params = filters.params(words, limit=chunk) | scope_params(scope)
    for query, next_query, after, after_id in _WALKS[filters.sort]:
        while True:
            found = await db.fetch_all(query, params | {"after": after, "after_id": after_id})
            query = next_query
            if not found:
                break
            ids = [int(r["id"]) for r in found]
            rows = await db.fetch_all("siswa_export_rows", {"ids": ids})
            by_id = {int(r["id"]): r for r in rows}
            yield [ExportRow.from_row(by_id[i]) for i in ids if i in by_id]
            if len(found) < chunk:
                break
            after, after_id = found[-1]["k"], ids[-1]


@dataclass(frozen=True)
class Choices:
    """The values the filter's selects offer: units, and each class with its units."""

    units: list[str]
    kelas: dict[str, list[str]] = field(default_factory=dict)


async def filter_choices(db: Database, scope: OfficerScope | None = None) -> Choices:
    """The units and classes of the students (of ``scope``'s students, when given)."""
    units: list[str] = []
    kelas: dict[str, list[str]] = {}
    params = scope_params(scope)
    query = "siswa_unit_kelas_scoped" if params["scoped"] else "siswa_unit_kelas"
    for row in await db.fetch_all(query, params):
        unit = row["unit"]
        if unit is None:
            continue
        if not units or units[-1] != unit:
            units.append(str(unit))
        if row["kelas"] is not None:
            kelas.setdefault(str(row["kelas"]), []).append(str(unit))
    return Choices(units, dict(sorted(kelas.items(), key=lambda kv: _class_order(kv[0]))))


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}


def _class_order(name: str) -> tuple[int, str]:
    """Classes by grade ("VII A" before "X IPA 1" before "XII …"), then by name."""
    head = name.split(" ", 1)[0].upper()
    if head.isdigit():
        return int(head), name
    if head and all(c in _ROMAN for c in head):
        total = 0
        for i, c in enumerate(head):
            value = _ROMAN[c]
            total += -value if i + 1 < len(head) and _ROMAN[head[i + 1]] > value else value
        return total, name
    return 1000, name
