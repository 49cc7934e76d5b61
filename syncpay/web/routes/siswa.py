"""The student pages: ``/admin/siswa`` (search, filters, sorting, pages) and
``/admin/siswa/{idperson}`` (payments by period, totals, "Sinkron sekarang").

Both answer JSON to a client that asks for it (``Accept: application/json``).

The list is built for 100,000 students without reading more than the page's own rows
(each row carries the student's whole payment answer): see the queries at the end of
``db/queries/*/siswa.sql`` and migration 0007. A request first counts its matches
through the index of its most selective filter, stopping at :data:`COUNT_CAP`; a
result of at most :data:`SMALL` students is then read and sorted from the indexes, a
larger one is paged by walking the sort order's index, checking the filters on the way.
Past :data:`COUNT_CAP` matches the page says "more than 10,000" instead of a number.
A search sorted by name whose driving word starts one name word only is paged from the
word index itself, in name order (migration 0010, :func:`_one_word`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from ...db import Database, Row
from ...sync.money import Item, Totals, compute_totals
from ...sync.parsers import ParseError
from ...sync.runs import SyncError
from ...text import UNSAFE
from ..auth import current_user
from ..dates import format_date, format_datetime
from ..errors import ApiError, json_capable, json_ok, json_route
from ..i18n import reason, text
from ..keys import SYNCPAY
from ..live import HUB
from ..pages import page
from ..render import Markup, escape, h, join, render
from ..requests import text_problem, wants_json

routes = web.RouteTableDef()
BASE = "/admin/siswa"
SYNC_PAGE = "/admin/sync-pembayaran"

PER_PAGE = 50
#: Counting stops here: past it the page shows "more than …" (a count is an index walk).
COUNT_CAP = 10_000
#: A result this small is read through its filter's index and sorted; a larger one is
#: paged along the sort order's index (see the module docstring).
SMALL = 5_000
#: A search word that starts at most this many name words finds the candidates itself
#: (they are read and sorted); past it every word is common and the sort order is walked.
WORD_CANDIDATES = 15_000
MAX_PAGE = 1_000_000
MAX_Q = 100
MAX_FIELD = 100
#: Words of a search that count (the longest ones: the most selective).
MAX_WORDS = 4
#: idperson as the roster stores it (letters upper-cased).
IDPERSON = re.compile(r"[A-Za-z0-9]{1,32}")
#: Where a name is cut into words (the same characters as the triggers of 0007).
WORD_BREAK = re.compile(r"[\s\-.,]+")
#: Above every code point: "w" ≤ word < "w" + END is "word starts with w" (SQLite).
END = "\U0010ffff"

STATUSES: dict[str, int | None] = {"lunas": 1, "belum_lunas": 0, "belum_sinkron": None}
SORTS = ("nama", "tunggakan_desc", "tunggakan_asc", "synced_desc")
#: A student's payment state → the catalogue key of its label and the badge's class.
STATE_LABEL = {
    "lunas": "siswa.status.lunas",
    "belum_lunas": "siswa.status.belum_lunas",
    "belum_sinkron": "siswa.status.belum_sinkron",
}
STATE_BADGE = {
    "lunas": "badge-completed",
    "belum_lunas": "badge-failed",
    "belum_sinkron": "badge-unsynced",
}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# --- the list's request -------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What ``/admin/siswa`` was asked for, checked; ``errors`` names what was refused
    (a refused value falls back to its default)."""

    q: str = ""
    unit: str | None = None
    kelas: str | None = None
    status: str | None = None
    sort: str = "nama"
    page: int = 1
    errors: tuple[str, ...] = ()

    @property
    def words(self) -> list[str]:
        """The search's words, lower-cased like the index (ASCII letters: SQLite's
        lower(); MySQL compares without case anyway), longest first, at most four."""
        found = {w for w in WORD_BREAK.split(self.q.translate(_ASCII_LOWER)) if w}
        return sorted(found, key=lambda w: (-len(w), w))[:MAX_WORDS]

    @property
    def driver(self) -> str:
        """The filter whose index finds the candidates (the most selective one given)."""
        if self.kelas is not None:
            return "kelas"
        if self.words:
            return "kata"
        if self.unit is not None:
            return "unit"
        if self.status is not None:
            return "status"
        return "all"

    def params(
        self, words: Sequence[str], *, limit: int = 0, offset: int = 0, cap: int = 0
    ) -> dict[str, Any]:
        """The list queries' parameters, ``words`` in the order to use them (the rarest
        first: the first one finds the candidates)."""
        values: dict[str, Any] = {
            "unit": self.unit,
            "kelas": self.kelas,
            "status_any": int(self.status is None),
            "lunas": STATUSES.get(self.status or ""),
            "filtered": int(
                self.unit is not None or self.kelas is not None or self.status is not None
            ),
            "words": len(words),
            "sort": self.sort,
            "limit": limit,
            "offset": offset,
            "cap": cap,
            "kata": words[0] if words else "",
        }
        for i in range(MAX_WORDS):
            word = words[i] if i < len(words) else None
            # An unused word matches nothing (and is never looked at: ":words < i OR …").
            values[f"w{i + 1}"] = word or ""
            values[f"w{i + 1}_end"] = word + END if word else ""
            values[f"w{i + 1}_like"] = _like_prefix(word) if word else ""
        return values

    def query(self, **changes: Any) -> dict[str, str]:
        """The URL parameters of this list (defaults left out), with ``changes``."""
        values: dict[str, Any] = {
            "q": self.q,
            "unit": self.unit,
            "kelas": self.kelas,
            "status": self.status,
            "sort": self.sort if self.sort != "nama" else None,
            "page": self.page if self.page != 1 else None,
        } | changes
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    def url(self, **changes: Any) -> str:
        query = urlencode(self.query(**changes))
        return f"{BASE}?{query}" if query else BASE


def _like_prefix(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def read_filters(request: web.Request) -> Filters:
    """The list's parameters from the URL; each bad one is dropped with a message."""
    query = request.query
    errors: list[str] = []

    def one(name: str) -> str:
        values = query.getall(name, [])
        value = values[-1].strip() if values else ""
        # A control character in a filter (an exact value) is refused; in the search box
        # it is only a gap between words.
        refused = text_problem(request, value, name) if name != "q" else None
        if refused is not None:
            errors.append(refused)
            return ""
        return value

    q = " ".join(UNSAFE.sub(" ", one("q")).split())
    if len(q) > MAX_Q:
        errors.append(text(request, "siswa.err.q_too_long", max=MAX_Q))
        q = ""
    fields: dict[str, str | None] = {}
    for name in ("unit", "kelas"):
        value = one(name)
        if len(value) > MAX_FIELD:
            errors.append(text(request, "siswa.err.too_long", field=name, max=MAX_FIELD))
            value = ""
        fields[name] = value or None
    status: str | None = one("status") or None
    if status is not None and status not in STATUSES:
        errors.append(text(request, "siswa.err.status", values=", ".join(STATUSES)))
        status = None
    sort = one("sort") or "nama"
    if sort not in SORTS:
        errors.append(text(request, "siswa.err.sort", values=", ".join(SORTS)))
        sort = "nama"
    page_text = one("page") or "1"
    page_number = 0
    if page_text.isascii() and page_text.isdigit() and len(page_text) <= 7:
        page_number = int(page_text)
    if not 1 <= page_number <= MAX_PAGE:
        errors.append(text(request, "siswa.err.page", max=number(MAX_PAGE)))
        page_number = 1
    return Filters(
        q=q,
        unit=fields["unit"],
        kelas=fields["kelas"],
        status=status,
        sort=sort,
        page=page_number,
        errors=tuple(errors),
    )


# --- reading the list -----------------------------------------------------------------------


@dataclass
class Listing:
    """One page of the list: its rows, and the total when it was counted."""

    rows: list[Row]
    offset: int
    total: int | None
    has_next: bool
    queries: tuple[str, str] = ("", "")

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
        return max(1, -(-self.total // PER_PAGE))


async def list_students(db: Database, filters: Filters) -> Listing:
    """The page ``filters.page`` of the students matching ``filters``."""
    offset = (filters.page - 1) * PER_PAGE
    cap = COUNT_CAP + 1
    words = filters.words
    common = False
    if words:
        # How many name words start with each search word (up to the cap): the rarest
        # word finds the candidates; when even it is everywhere, walk the sort order.
        row = await db.fetch_one(
            "siswa_kata_counts", filters.params(words, cap=WORD_CANDIDATES + 1)
        )
        assert row is not None
        ranked = sorted(
            zip(words, (int(row[f"n{i + 1}"]) for i in range(len(words))), strict=False),
            key=lambda wc: wc[1],
        )
        if ranked[0][1] == 0:
            return Listing([], offset, 0, False, ("siswa_kata_counts", ""))
        words = [word for word, _ in ranked]
        common = ranked[0][1] > WORD_CANDIDATES
    params = filters.params(words, limit=PER_PAGE + 1, offset=offset, cap=cap)
    driver = filters.driver
    count_query = f"siswa_count_{driver}"
    counted = int(await db.fetch_value(count_query, params) or 0)
    total = counted if counted <= COUNT_CAP else None
    if filters.sort == "synced_desc":  # synced_at is in siswa_list_synced_index only
        page_query = "siswa_page_scan_synced_desc"
    elif driver == "kata" and filters.sort == "nama" and await _one_word(db, params):
        page_query = "siswa_page_kata_nama"
    elif driver == "kata" and not common:
        page_query = "siswa_page_kata"
    elif driver not in ("all", "kata") and counted <= SMALL:
        page_query = f"siswa_page_{driver}"
    else:
        page_query = f"siswa_page_scan_{filters.sort}"
    ids = [int(r["id"]) for r in await db.fetch_all(page_query, params)] if counted else []
    has_next = len(ids) > PER_PAGE
    ids = ids[:PER_PAGE]
    rows: list[Row] = []
    if ids:
        by_id = {int(r["id"]): r for r in await db.fetch_all("siswa_list_rows", {"ids": ids})}
        rows = [by_id[i] for i in ids if i in by_id]
    if total is None and rows and not has_next:
        total = offset + len(rows)  # the last page: now we know
    return Listing(rows, offset, total, has_next, (count_query, page_query))


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


@dataclass(frozen=True)
class Choices:
    """The values the filter's selects offer: units, and each class with its units."""

    units: list[str]
    kelas: dict[str, list[str]] = field(default_factory=dict)


async def filter_choices(db: Database) -> Choices:
    units: list[str] = []
    kelas: dict[str, list[str]] = {}
    for row in await db.fetch_all("siswa_unit_kelas"):
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


# --- values for the page ---------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def rupiah(value: Any) -> str:
    """``Rp 1.250.000`` (``Rp 1.250.000,50`` with cents); ``—`` for no value."""
    amount = to_decimal(value)
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    cents = abs(amount).quantize(Decimal("0.01"))
    whole, _, fraction = f"{cents:f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{sign}Rp {grouped}" + (f",{fraction}" if fraction.strip("0") else "")


def number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def json_amount(value: Any) -> int | float | None:
    amount = to_decimal(value)
    if amount is None:
        return None
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def state_of(is_lunas: Any) -> str:
    if is_lunas is None:
        return "belum_sinkron"
    return "lunas" if int(is_lunas) else "belum_lunas"


def utc(value: Any) -> datetime | None:
    """A DATETIME column (text on SQLite, datetime on MySQL), UTC without a zone."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def iso_utc(value: Any) -> str | None:
    moment = utc(value)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def time_element(request: web.Request, value: Any, *, element_id: str | None = None) -> Markup:
    """``<time datetime="…Z">28 Nov 2026 16.15</time>`` (the pages' one format)."""
    moment = utc(value)
    if moment is None:
        return h("span", {"id": element_id, "class": "muted"}, text(request, "siswa.never"))
    return h(
        "time",
        {"id": element_id, "datetime": moment.strftime("%Y-%m-%dT%H:%M:%SZ")},
        format_datetime(request, moment),
    )


def state_badge(request: web.Request, state: str, *, element_id: str | None = None) -> Markup:
    return h(
        "span",
        {"id": element_id, "class": f"badge {STATE_BADGE[state]}", "data-status": state},
        text(request, STATE_LABEL[state]),
    )


def student_url(idperson: Any) -> str:
    return f"{BASE}/{quote(str(idperson), safe='')}"


# --- GET /admin/siswa -------------------------------------------------------------------------


@routes.get(BASE)
@json_capable
async def siswa_list(request: web.Request) -> web.Response:
    filters = read_filters(request)
    db = request.app[SYNCPAY].db
    if wants_json(request):
        if filters.errors:
            raise ApiError(422, filters.errors[0])
        listing = await list_students(db, filters)
        body: dict[str, Any] = {
            "data": [_row_json(row) for row in listing.rows],
            "page": filters.page,
            "per_page": PER_PAGE,
            "has_next": listing.has_next,
        }
        if listing.total is not None:
            body["total"] = listing.total
        return json_ok(**body)
    listing = await list_students(db, filters)
    choices = await filter_choices(db)
    body_html = render(
        "siswa_list.html",
        {
            "sync_page": SYNC_PAGE,
            "errors": join(
                h("p", {"class": "alert alert-error", "role": "alert"}, e) for e in filters.errors
            ),
            "form": _filter_form(request, filters, choices),
            "count": _count_text(request, listing, filters),
            "table": _list_table(request, listing),
            "pager": _pager(request, listing, filters),
        },
        lambda key: text(request, key),
    )
    return page(
        request,
        text(request, "siswa.title"),
        body_html,
        scripts=["siswa.js"],
        styles=["siswa.css"],
        status=422 if filters.errors else 200,
    )


def _row_json(row: Row) -> dict[str, Any]:
    return {
        "idperson": str(row["idperson"]),
        "nama": row["nama"],
        "unit": row["UnitFormal"],
        "kelas": row["KelasFormal"],
        "total_tunggakan": json_amount(row["total_tunggakan"]),
        "status": state_of(row["is_lunas"]),
        "synced_at": iso_utc(row["synced_at"]),
        "sync_error": row["sync_error"],
        "url": student_url(row["idperson"]),
    }


def _options(
    request: web.Request,
    all_key: str,
    values: Iterable[tuple[str, str, dict[str, str]]],
    selected: str | None,
) -> Markup:
    parts = [h("option", {"value": ""}, text(request, all_key))]
    seen = False
    for value, label, extra in values:
        chosen = value == selected
        seen = seen or chosen
        more = "".join(f' {name}="{escape(v)}"' for name, v in extra.items())
        flag = " selected" if chosen else ""
        parts.append(
            Markup(f'<option value="{escape(value)}"{more}{flag}>{escape(label)}</option>')
        )
    if selected and not seen:  # a value no student has (any more): keep it visible
        parts.append(h("option", {"value": selected, "selected": True}, selected))
    return Markup("".join(parts))


def _filter_form(request: web.Request, filters: Filters, choices: Choices) -> Markup:
    def field(label_key: str, name: str, control: Markup) -> Markup:
        return h(
            "div",
            {"class": "field"},
            h("label", {"for": f"filter-{name}"}, text(request, label_key)),
            control,
        )

    units = _options(
        request, "siswa.filter.all_units", ((u, u, {}) for u in choices.units), filters.unit
    )
    kelas = _options(
        request,
        "siswa.filter.all_kelas",
        ((k, k, {"data-units": json.dumps(units_of)}) for k, units_of in choices.kelas.items()),
        filters.kelas,
    )
    statuses = _options(
        request,
        "siswa.filter.all_status",
        ((s, text(request, STATE_LABEL[s]), {}) for s in STATUSES),
        filters.status,
    )
    sorts = join(
        h("option", {"value": s, "selected": s == filters.sort}, text(request, f"siswa.sort.{s}"))
        for s in SORTS
    )
    return h(
        "form",
        {
            "id": "siswa-filter",
            "class": "siswa-filter",
            "method": "get",
            "action": BASE,
            "role": "search",
        },
        field(
            "siswa.filter.q",
            "q",
            h(
                "input",
                {
                    "id": "filter-q",
                    "type": "search",
                    "name": "q",
                    "value": filters.q,
                    "maxlength": MAX_Q,
                    "placeholder": text(request, "siswa.filter.q_placeholder"),
                    "autocomplete": "off",
                },
            ),
        ),
        field(
            "siswa.filter.unit", "unit", h("select", {"id": "filter-unit", "name": "unit"}, units)
        ),
        field(
            "siswa.filter.kelas",
            "kelas",
            h("select", {"id": "filter-kelas", "name": "kelas"}, kelas),
        ),
        field(
            "siswa.filter.status",
            "status",
            h("select", {"id": "filter-status", "name": "status"}, statuses),
        ),
        field(
            "siswa.filter.sort", "sort", h("select", {"id": "filter-sort", "name": "sort"}, sorts)
        ),
        h(
            "div",
            {"class": "field field-buttons"},
            h(
                "button",
                {"type": "submit", "class": "btn btn-primary"},
                text(request, "siswa.filter.submit"),
            ),
            h("a", {"href": BASE, "class": "btn"}, text(request, "siswa.filter.reset")),
        ),
    )


def _count_text(request: web.Request, listing: Listing, filters: Filters) -> str:
    if not listing.rows:
        if filters.page > 1 and (listing.total or listing.offset):
            return text(request, "siswa.count.past_end")
        return text(request, "siswa.count.none")
    values = {"first": number(listing.first), "last": number(listing.last)}
    if listing.total is not None:
        return text(request, "siswa.count.of", total=number(listing.total), **values)
    return text(request, "siswa.count.more", more=number(max(COUNT_CAP, listing.last)), **values)


def _list_table(request: web.Request, listing: Listing) -> Markup:
    head = h(
        "tr",
        {},
        h("th", {"scope": "col"}, text(request, "siswa.col.idperson")),
        h("th", {"scope": "col"}, text(request, "siswa.col.nama")),
        h("th", {"scope": "col"}, text(request, "siswa.col.unit")),
        h("th", {"scope": "col"}, text(request, "siswa.col.kelas")),
        h("th", {"scope": "col", "class": "num"}, text(request, "siswa.col.tunggakan")),
        h("th", {"scope": "col"}, text(request, "siswa.col.status")),
        h("th", {"scope": "col"}, text(request, "siswa.col.synced")),
    )
    # The rows are the page's bulk: written from one template, every value escaped.
    badges = {state: state_badge(request, state) for state in STATE_LABEL}
    never = h("span", {"class": "muted"}, text(request, "siswa.never"))
    failed = escape(text(request, "siswa.sync_failed_short"))
    label_tunggakan = escape(text(request, "siswa.col.tunggakan"))
    label_synced = escape(text(request, "siswa.col.synced"))
    rows = []
    for row in listing.rows:
        state = state_of(row["is_lunas"])
        moment = utc(row["synced_at"])
        synced = never
        if moment is not None:
            synced = Markup(
                f'<time datetime="{moment:%Y-%m-%dT%H:%M:%SZ}">'
                f"{escape(format_datetime(request, moment))}</time>"
            )
        if row["sync_error"]:
            title = escape(reason(request, row["sync_error"]))
            synced = Markup(
                f'{synced} <span class="sync-error-flag" title="{title}">{failed}</span>'
            )
        idperson = escape(row["idperson"])
        # The classes and data-label place the cells when a phone shows rows as cards.
        rows.append(
            f'<tr data-idperson="{idperson}" data-status="{state}">'
            f'<td class="idperson">{idperson}</td>'
            f'<td class="nama"><a href="{escape(student_url(row["idperson"]))}">'
            f"{escape(row['nama'])}</a></td>"
            f'<td class="unit">{escape(row["UnitFormal"] or "—")}</td>'
            f'<td class="kelas">{escape(row["KelasFormal"] or "—")}</td>'
            f'<td class="num tunggakan" data-label="{label_tunggakan}">'
            f"{rupiah(row['total_tunggakan'])}</td>"
            f'<td class="status">{badges[state]}</td>'
            f'<td class="synced" data-label="{label_synced}">{synced}</td></tr>'
        )
    return h(
        "table",
        {"id": "siswa-table", "class": "siswa-table"},
        h("caption", {"class": "visually-hidden"}, text(request, "siswa.table_caption")),
        h("thead", {}, head),
        h("tbody", {}, Markup("".join(rows))),
    )


def _pager(request: web.Request, listing: Listing, filters: Filters) -> Markup:
    parts: list[Markup] = []
    if filters.page > 1:
        target = filters.page - 1
        if listing.pages is not None and target > listing.pages:
            target = listing.pages
        parts.append(
            h(
                "a",
                {
                    "href": filters.url(page=target if target > 1 else None),
                    "rel": "prev",
                    "class": "btn",
                },
                text(request, "siswa.page.prev"),
            )
        )
    if listing.pages is not None:
        where = text(
            request, "siswa.page.of", page=number(filters.page), pages=number(listing.pages)
        )
    else:
        where = text(request, "siswa.page.n", page=number(filters.page))
    parts.append(h("span", {"class": "page-where"}, where))
    if listing.has_next:
        parts.append(
            h(
                "a",
                {"href": filters.url(page=filters.page + 1), "rel": "next", "class": "btn"},
                text(request, "siswa.page.next"),
            )
        )
    return h(
        "nav", {"class": "pager", "aria-label": text(request, "siswa.page.label")}, join(parts)
    )


# --- GET /admin/siswa/{idperson} -----------------------------------------------------------------


def _idperson(request: web.Request) -> str:
    raw = request.match_info["idperson"]
    if not IDPERSON.fullmatch(raw):
        raise ApiError(404, text(request, "siswa.err.not_found"))
    return raw.upper()


@dataclass
class Group:
    """The items of one period and their totals (the money rule, due items only)."""

    period: str
    items: list[Item]
    today: date

    @property
    def totals(self) -> Totals:
        return compute_totals(self.items, self.today)

    @property
    def not_due(self) -> int:
        return sum(1 for item in self.items if not item.is_due(self.today))


def period_label(request: web.Request, period: str) -> str:
    if not period:
        return text(request, "siswa.period.none")
    if len(period) == 8 and period.isdigit():
        return text(request, "siswa.period.year", first=period[:4], second=period[4:])
    return text(request, "siswa.period.other", period=period)


def group_items(items: Sequence[Item], today: date) -> list[Group]:
    """Items by period (newest period first), each period's items by due date."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.period, []).append(item)
    ordered = sorted(groups.items(), key=lambda kv: kv[0], reverse=True)
    return [
        Group(period, sorted(found, key=lambda i: i.due or date.min), today)
        for period, found in ordered
    ]


async def _student(request: web.Request) -> Row:
    idperson = _idperson(request)
    row = await request.app[SYNCPAY].db.fetch_one("siswa_detail", {"idperson": idperson})
    if row is None:
        raise ApiError(404, text(request, "siswa.err.not_found"))
    return row


def _parsed(request: web.Request, row: Row) -> tuple[list[Item], str | None]:
    """The stored answer's items, read with the configured parser (or why not)."""
    raw = row["pembayaran"]
    if raw is None:
        return [], None
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", "replace")
    try:
        return list(request.app[SYNCPAY].runtime.parser(str(raw)).items), None
    except ParseError as exc:
        return [], str(exc)


@routes.get(BASE + "/{idperson}")
@json_capable
async def siswa_detail(request: web.Request) -> web.Response:
    row = await _student(request)
    items, problem = _parsed(request, row)
    groups = group_items(items, date.today())
    if wants_json(request):
        return json_ok(data=await _detail_json(request, row, groups, problem))
    state = state_of(row["is_lunas"])
    body = render(
        "siswa_detail.html",
        {
            "back": BASE,
            "idperson": row["idperson"],
            "nama": row["nama"],
            "sync_url": f"{student_url(row['idperson'])}/sync",
            "data": _detail_data(request, row, groups, problem, state),
        },
        lambda key: text(request, key),
    )
    return page(
        request,
        str(row["nama"]),
        body,
        scripts=["siswa.js"],
        styles=["siswa.css"],
        data={"siswa": {"idperson": row["idperson"], "url": student_url(row["idperson"])}},
    )


async def _detail_json(
    request: web.Request, row: Row, groups: list[Group], problem: str | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "idperson": str(row["idperson"]),
        "nama": row["nama"],
        "gender": row["gender"],
        "unit": row["UnitFormal"],
        "kelas": row["KelasFormal"],
        "asrama": row["AsramaPondok"],
        "kamar": row["KamarPondok"],
        "tingkat_diniyah": row["TingkatDiniyah"],
        "kelas_diniyah": row["KelasDiniyah"],
        "status": state_of(row["is_lunas"]),
        "synced_at": iso_utc(row["synced_at"]),
        "sync_error": row["sync_error"],
        "totals": {
            key: json_amount(row[f"total_{key}"])
            for key in ("tagihan", "dibayar", "tunggakan", "kelebihan")
        },
        "parse_error": problem,
        "groups": [
            {
                "period": group.period,
                "label": period_label(request, group.period),
                "totals": {
                    "tagihan": json_amount(group.totals.total_tagihan),
                    "dibayar": json_amount(group.totals.total_dibayar),
                    "tunggakan": json_amount(group.totals.total_tunggakan),
                    "kelebihan": json_amount(group.totals.total_kelebihan),
                },
                "not_due": group.not_due,
                "items": [
                    {
                        "title": item.title,
                        "category": item.category,
                        "due": item.due.isoformat() if item.due else None,
                        "is_due": item.is_due(group.today),
                        "tagihan": json_amount(item.tagihan),
                        "dibayar": json_amount(item.dibayar),
                    }
                    for item in group.items
                ],
            }
            for group in groups
        ],
    }
    # The last one counts when a name is repeated (as on the list and the sync routes).
    run_ids = request.query.getall("run_id", [])
    run_id = run_ids[-1] if run_ids else ""
    if run_id:
        # For a script watching its "sync now": the run's state with the student's.
        if not (run_id.isascii() and run_id.isdigit() and len(run_id) <= 15):
            raise ApiError(422, text(request, "siswa.err.run_id"))
        progress = await request.app[SYNCPAY].progress(int(run_id))
        data["run"] = {
            "run_id": progress.run_id,
            "status": progress.status,
            "total": progress.total,
            "processed": progress.processed,
            "failed": progress.failed,
        }
    return data


def _detail_data(
    request: web.Request, row: Row, groups: list[Group], problem: str | None, state: str
) -> Markup:
    """The part of the student page that "Sinkron sekarang" refreshes (#siswa-data)."""

    def info(key: str, value: Any, element_id: str | None = None) -> Markup:
        shown = value if isinstance(value, Markup) else (value or "—")
        return h("div", {}, h("dt", {}, text(request, key)), h("dd", {"id": element_id}, shown))

    error = reason(request, row["sync_error"]) if row["sync_error"] else None
    facts = h(
        "dl",
        {"class": "siswa-facts"},
        info("siswa.col.idperson", row["idperson"]),
        info("siswa.col.unit", row["UnitFormal"]),
        info("siswa.col.kelas", row["KelasFormal"]),
        info("siswa.asrama", " ".join(v for v in (row["AsramaPondok"], row["KamarPondok"]) if v)),
        info(
            "siswa.diniyah",
            " ".join(v for v in (row["TingkatDiniyah"], row["KelasDiniyah"]) if v),
        ),
        info("siswa.col.status", state_badge(request, state, element_id="siswa-status")),
        info("siswa.last_sync", time_element(request, row["synced_at"], element_id="last-sync")),
        h(
            "div",
            {"class": "wide"},
            h("dt", {}, text(request, "siswa.last_error")),
            h(
                "dd",
                {
                    "id": "sync-error",
                    "class": "sync-error" if error else "muted",
                    "data-empty": "1" if not error else None,
                },
                error or text(request, "siswa.no_error"),
            ),
        ),
    )
    totals = h(
        "dl",
        {"class": "siswa-totals"},
        *[
            h(
                "div",
                {"class": f"total total-{key}"},
                h("dt", {}, text(request, f"siswa.total.{key}")),
                h("dd", {"id": f"total-{key}"}, rupiah(row[f"total_{key}"])),
            )
            for key in ("tagihan", "dibayar", "tunggakan", "kelebihan")
        ],
    )
    if problem is not None:
        payments: Markup = h(
            "p",
            {"class": "alert alert-error", "id": "payments-error"},
            text(request, "siswa.parse_error", reason=problem),
        )
    elif row["pembayaran"] is None:
        payments = h(
            "p",
            {"class": "alert alert-info", "id": "payments-empty"},
            text(request, "siswa.no_payments"),
        )
    elif not groups:
        payments = h(
            "p", {"class": "muted", "id": "payments-empty"}, text(request, "siswa.no_items")
        )
    else:
        payments = join(_group_section(request, group) for group in groups)
    return join(
        [
            facts,
            h("h2", {}, text(request, "siswa.totals_heading")),
            h("p", {"class": "muted small"}, text(request, "siswa.totals_note")),
            totals,
            h("h2", {}, text(request, "siswa.items_heading")),
            payments,
        ]
    )


def _group_section(request: web.Request, group: Group) -> Markup:
    rows = []
    for item in group.items:
        due = item.is_due(group.today)
        short = item.tagihan - item.dibayar
        if not due:
            state, key = "not-due", "siswa.item.not_due"
        elif short > 0:
            state, key = "short", "siswa.item.short"
        elif short < 0:
            state, key = "over", "siswa.item.over"
        else:
            state, key = "paid", "siswa.item.paid"
        rows.append(
            h(
                "tr",
                {"class": f"item item-{state}", "data-due": "1" if due else "0"},
                h("td", {}, format_date(request, item.due) if item.due else "—"),
                h("td", {}, item.title or "—"),
                h("td", {}, item.category or "—"),
                h("td", {"class": "num"}, rupiah(item.tagihan)),
                h("td", {"class": "num"}, rupiah(item.dibayar)),
                h("td", {"class": "num"}, rupiah(max(short, Decimal(0))) if due else "—"),
                h(
                    "td",
                    {},
                    h("span", {"class": f"item-state item-state-{state}"}, text(request, key)),
                ),
            )
        )
    totals = group.totals
    foot = h(
        "tr",
        {"class": "group-total"},
        h("th", {"scope": "row", "colspan": "3"}, text(request, "siswa.group.total")),
        h("td", {"class": "num group-tagihan"}, rupiah(totals.total_tagihan)),
        h("td", {"class": "num group-dibayar"}, rupiah(totals.total_dibayar)),
        h("td", {"class": "num group-tunggakan"}, rupiah(totals.total_tunggakan)),
        h("td", {}, text(request, "siswa.group.not_due", n=group.not_due) if group.not_due else ""),
    )
    head = h(
        "tr",
        {},
        *[
            h(
                "th",
                {
                    "scope": "col",
                    "class": "num" if key in ("tagihan", "dibayar", "tunggakan") else None,
                },
                text(request, f"siswa.item.col.{key}"),
            )
            for key in ("due", "title", "category", "tagihan", "dibayar", "tunggakan", "state")
        ],
    )
    return h(
        "section",
        {"class": "period-group", "data-period": group.period},
        h("h3", {}, period_label(request, group.period)),
        # Seven columns: on a phone the table scrolls inside its box, not the page.
        h(
            "div",
            {"class": "table-wrap"},
            h(
                "table",
                {"class": "items"},
                h("thead", {}, head),
                h("tbody", {}, join(rows)),
                h("tfoot", {}, foot),
            ),
        ),
    )


# --- POST /admin/siswa/{idperson}/sync ---------------------------------------------------------


@routes.post(BASE + "/{idperson}/sync")
@json_route
async def sync_now(request: web.Request) -> web.Response:
    user = current_user(request)
    idperson = _idperson(request)
    sp = request.app[SYNCPAY]
    if not await sp.db.fetch_all("roster_find", {"ids": [idperson]}):
        raise ApiError(404, text(request, "siswa.err.not_found"))
    try:
        run = await sp.start(idpersons=[idperson], started_by=user.name)
    except SyncError as exc:
        raise ApiError(exc.status, exc.message) from None
    request.app[HUB].nudge()
    return json_ok(text(request, "siswa.sync.started"), run_id=run.id)
