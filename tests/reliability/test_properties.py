"""Issue #6, part 6: property-based tests (hypothesis) of the readers of outside input.

Whatever they are given, the `.env` reader, the schedule parser, the payment-answer
parsers (flat, nested, custom) and the roster import (CSV file, roster API answer)
return a result or raise their module's own one-line error (`ConfigError`,
`ScheduleError`, `ParseError` / `ValueError` for a parser setting, `RosterError`) --
never another exception. The inputs are built from each format's own grammar, so the
near misses (a quote not closed, a range backwards, a number with a huge exponent, a
header twice...) come up far more often than in random text; ``tests/test_*.py`` keep
the plain random-text versions. Examples are few (CI budget); ``SYNCPAY_LONG=1`` runs
ten times as many.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import string
import sys
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syncpay.config import ConfigError, load_settings, parse_dotenv
from syncpay.db import Database
from syncpay.db.queries import parse_queries
from syncpay.roster_columns import ROSTER_COLUMNS
from syncpay.schedule import Schedule, ScheduleError, parse_schedule
from syncpay.students import (
    ImportReport,
    RosterError,
    api_rows,
    fetch_api,
    import_rows,
    read_csv,
)
from syncpay.sync.money import Item, compute_totals
from syncpay.sync.parsers import Parsed, ParseError, load_parser, parse_flat, parse_nested
from tests.reliability.conftest import scale

#: Examples per property: modest in CI, ten times more with SYNCPAY_LONG=1.
FEW = scale(60, 600)
MANY = scale(150, 1500)
#: The largest amount the DECIMAL(15, 2) columns of siswa hold.
COLUMN_LIMIT = Decimal(10) ** 13
QUICK = settings(max_examples=MANY, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message and "Traceback" not in message, repr(message)
    return message


# --- the .env reader ------------------------------------------------------------------------

_KEYS = st.sampled_from(
    ["DB_CONNECTION", "APP_PORT", "A", "_x", "a.b", "SYNC_WORKERS", "PAYMENT_API_URL"]
) | st.text(alphabet=string.ascii_letters + string.digits + "_.-$ ", min_size=1, max_size=8)
_VALUE_PARTS = st.sampled_from(
    ['"', "'", "\\", "\\n", '\\"', "\\$", "#", " #", "\t#", "=", "$HOME", "${X}", " ", "\t"]
) | st.text(max_size=6)
_LINE = st.tuples(
    st.sampled_from(["", " ", "\t", "export ", "export\t", "#", "  # "]),
    _KEYS,
    st.sampled_from(["=", " = ", "\t=", "", "=="]),
    st.sampled_from(["", '"', "'"]),
    st.lists(_VALUE_PARTS, max_size=5).map("".join),
    st.sampled_from(["", '"', "'", '" # c', "' x", '"x']),
).map("".join)
_ENV_TEXT = st.tuples(
    st.sampled_from(["", "\ufeff"]),
    st.lists(_LINE, max_size=8),
    st.sampled_from(["\n", "\r\n", "\r"]),
).map(lambda t: t[0] + t[2].join(t[1]))


@QUICK
@given(_ENV_TEXT)
def test_the_env_reader_returns_variables_or_a_config_error(text: str) -> None:
    try:
        found = parse_dotenv(text)
    except ConfigError as exc:
        assert exc.variable == ".env"
        one_line(exc)
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())


_VALID_KEY = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,10}", fullmatch=True).filter(
    lambda k: k != "export"
)
_PLAIN_VALUE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
)


def _double_quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped.replace("\n", "\\n") + '"'


@settings(max_examples=FEW, deadline=None)
@given(st.dictionaries(_VALID_KEY, _PLAIN_VALUE | st.text(max_size=10), max_size=6))
def test_the_env_reader_reads_back_what_was_written(values: dict[str, str]) -> None:
    values = {k: v.replace("\r", "") for k, v in values.items()}
    lines = [f"{key}={_double_quoted(value)}" for key, value in values.items()]
    assert parse_dotenv("\n".join(lines)) == values
    simple = {k: v for k, v in values.items() if "'" not in v and "\n" not in v and "\r" not in v}
    single = "\n".join(f"export {key}='{value}'  # note" for key, value in simple.items())
    assert parse_dotenv(single) == simple


@settings(max_examples=FEW, deadline=None)
@given(
    st.binary(max_size=200)
    | _ENV_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.lists(
        st.tuples(
            st.sampled_from(["APP_PORT", "DB_CONNECTION", "SYNC_TRIES", "SYNC_SCHEDULE"]),
            st.sampled_from(["", "0", "-1", "99999999999999999999", "x", "02:00", "* * *"]),
        ),
        max_size=4,
    ).map(lambda pairs: "\n".join(f"{k}={v}" for k, v in pairs).encode())
)
def test_a_dotenv_file_of_any_bytes_gives_settings_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("env") / ".env"
    path.write_bytes(data)
    try:
        load_settings({}, environ={}, env_file=path)
    except ConfigError as exc:
        one_line(exc)


# --- the schedule parser --------------------------------------------------------------------

_ATOM = st.one_of(
    st.integers(-2, 70).map(str),
    st.sampled_from(["*", "jan", "DEC", "feb", "sun", "SAT", "mon", "x", "", "00", "007"]),
)
_ITEM = st.one_of(
    _ATOM,
    st.tuples(_ATOM, _ATOM).map("-".join),
    st.tuples(_ATOM, st.integers(-1, 70).map(str)).map("/".join),
    st.tuples(_ATOM, _ATOM, st.sampled_from(["0", "1", "2", "15", "x", ""])).map(
        lambda t: f"{t[0]}-{t[1]}/{t[2]}"
    ),
)
_FIELD = st.lists(_ITEM, min_size=1, max_size=3).map(",".join)
_CRON = st.lists(_FIELD, min_size=3, max_size=7).map(" ".join)
_TIMES = st.lists(
    st.tuples(st.integers(-1, 25), st.integers(-1, 61)).map(lambda hm: f"{hm[0]:02d}:{hm[1]:02d}")
    | st.sampled_from(["2:00", "24:00", "02:0", "02:00:00", ":", " 02:00 ", "", "ab:cd"]),
    min_size=1,
    max_size=4,
).map(",".join)
_MOMENTS = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2200, 1, 1))


@QUICK
@given(_CRON | _TIMES | st.text(max_size=30), _MOMENTS)
def test_the_schedule_parser_returns_a_schedule_or_a_schedule_error(
    text: str, moment: dt.datetime
) -> None:
    try:
        schedule = parse_schedule(text)
    except ScheduleError as exc:
        one_line(exc)
        return
    if schedule is None:
        assert not text.strip()
        return
    assert isinstance(schedule, Schedule)
    after = schedule.next_after(moment)
    if after is not None:  # a schedule that comes: strictly later, and a matching minute
        assert after > moment and schedule.matches(after), (text, moment, after)


# --- the payment-answer parsers ---------------------------------------------------------------

#: JSON number literals, as text: exponents far past what Decimal holds, -0, long ones.
_NUMBER_TEXT = st.one_of(
    st.integers(-(10**16), 10**16).map(str),
    st.sampled_from(
        [
            "1e999999999999999999999",
            "-1E+1000000000000000000",
            "1e-1000000000000000000",
            "9.999999999999999e12",
            "1e13",
            "0.005",
            "-0",
            "-0.0",
            "1" * 400,
            "0." + "0" * 300 + "1",
            "350000.00",
            "9999999999999.99",
        ]
    ),
    st.tuples(st.integers(-99, 99), st.integers(-(10**20), 10**20)).map(lambda t: f"{t[0]}e{t[1]}"),
)
_STRING_TEXT = st.sampled_from(
    [
        *('"350000"', '"350.000"', '"1.250.000"', '"3.5e5"', '" 12 "', '""', '"abc"'),
        *('"2024-01-31"', '"2024-02-30"', '"0000-00-00"', '"2024-01-01T25:61:00"'),
        *('"2024-01-01 10:00:00+07:00"', '"\\u0000"', '"\\ud800"', '"<script>"'),
    ]
) | st.text(max_size=8).map(json.dumps)
_SCALAR_TEXT = _NUMBER_TEXT | _STRING_TEXT | st.sampled_from(["null", "true", "false"])


def _object_text(fields: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    """A JSON object as text: each field kept or dropped, extra junk keys sometimes."""
    pairs = [
        st.one_of(st.just(None), value.map(lambda v, k=key: f"{json.dumps(k)}: {v}"))
        for key, value in fields.items()
    ]
    return st.tuples(*pairs).map(
        lambda kept: "{" + ", ".join(part for part in kept if part is not None) + "}"
    )


def _list_text(element: st.SearchStrategy[str], max_size: int = 3) -> st.SearchStrategy[str]:
    return st.lists(element, max_size=max_size).map(lambda xs: "[" + ", ".join(xs) + "]")


_FLAT_ROW = _object_text(
    {
        "idperiode": _SCALAR_TEXT,
        "judul": _SCALAR_TEXT,
        "nama_unit": _SCALAR_TEXT,
        "jml_kredit": _SCALAR_TEXT,
        "jml_debet": _SCALAR_TEXT,
        "tgl_jurnal": _SCALAR_TEXT,
    }
)
_NESTED_ITEM = _object_text(
    {
        "unit_name": _SCALAR_TEXT,
        "amount_billed": _SCALAR_TEXT,
        "amount_paid": _SCALAR_TEXT,
        "journal_date": _SCALAR_TEXT,
    }
)
_NESTED_ROW = _object_text(
    {
        "saldo": _SCALAR_TEXT,
        "periods": _list_text(
            _object_text(
                {
                    "period_id": _SCALAR_TEXT,
                    "categories": _list_text(
                        _object_text(
                            {"category_name": _SCALAR_TEXT, "items": _list_text(_NESTED_ITEM)}
                        )
                    ),
                }
            )
            | _SCALAR_TEXT
        ),
    }
)
_ANSWER = st.one_of(
    _object_text(
        {
            "status": _SCALAR_TEXT,
            "message": _SCALAR_TEXT,
            "data": _list_text(_FLAT_ROW | _NESTED_ROW | _SCALAR_TEXT, 4) | _SCALAR_TEXT,
        }
    ),
    st.integers(1, 5000).map(lambda n: '{"data": ' + "[" * n + "]" * n + "}"),
    st.integers(1, 5000).map(lambda n: '{"data": [' + '{"a": ' * n + "1" + "}" * n + "]}"),
    _SCALAR_TEXT,
)


def _fits_the_columns(parsed: Parsed, today: dt.date) -> None:
    totals = compute_totals(parsed.items, today)
    for value in totals.as_row().values():
        if isinstance(value, Decimal):
            assert abs(value) < COLUMN_LIMIT, (value, "does not fit DECIMAL(15, 2)")


@QUICK
@given(_ANSWER, st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 1, 1)))
@example('{"data": [{"jml_kredit": 1e999999999999999999999, "jml_debet": 0}]}', dt.date(2030, 1, 1))
def test_the_payment_parsers_return_items_or_a_parse_error(text: str, today: dt.date) -> None:
    for parser in (
        parse_flat,
        parse_nested,
        load_parser("nested", bill_field="amount_billed", paid_field="amount_paid"),
    ):
        try:
            parsed = parser(text)
        except ParseError as exc:
            one_line(exc)
            continue
        assert isinstance(parsed, Parsed)
        _fits_the_columns(parsed, today)


@settings(max_examples=FEW, deadline=None)
@example(2, "9999999999999")  # two bills the columns hold, a total they do not
@given(
    st.integers(1, 40),
    st.sampled_from(["9999999999999", "5000000000000.50", "-9000000000000", "300000000000"]),
)
def test_amounts_that_add_up_past_the_columns_are_a_parse_error(count: int, amount: str) -> None:
    """Every amount is below 10^13 but together they are not: the totals would not fit
    siswa's DECIMAL(15, 2) columns (a write MariaDB refuses), so the answer is refused."""
    row = {"jml_kredit": amount, "jml_debet": "0", "tgl_jurnal": "2020-01-01"}
    text = json.dumps({"data": [row] * count})
    try:
        parsed = parse_flat(text)
    except ParseError as exc:
        assert "add up" in one_line(exc)
        return
    _fits_the_columns(parsed, dt.date(2030, 1, 1))


class _Nasty:
    """An object a custom parser might return whose every inspection fails."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def __iter__(self) -> Any:
        raise RuntimeError("not iterable after all")

    def __len__(self) -> int:
        raise RuntimeError("no length")


class _BadDict(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        raise KeyError(key)

    def __getitem__(self, key: Any) -> Any:
        raise KeyError(key)


_JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.decimals(allow_nan=True, allow_infinity=True),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
_ITEM_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "tagihan": _JSONISH,
        "dibayar": _JSONISH,
        "period": _JSONISH,
        "title": _JSONISH,
        "category": _JSONISH,
        "due": _JSONISH | st.dates() | st.datetimes(),
    },
)
_CUSTOM_RESULTS = st.one_of(
    _JSONISH,
    st.lists(_ITEM_FIELDS | _JSONISH, max_size=4),
    st.lists(_ITEM_FIELDS, max_size=4).map(tuple),
    st.lists(_ITEM_FIELDS.map(_BadDict), min_size=1, max_size=2),
    st.builds(lambda: _Nasty()),
    st.builds(lambda: [_Nasty()]),
    st.builds(lambda: Parsed((), Decimal("NaN"))),  # type: ignore[arg-type]
    st.builds(
        lambda t, d: Parsed((Item("p", "t", "c", t, d, None),)),  # type: ignore[arg-type]
        _JSONISH,
        _JSONISH,
    ),
)
_RAISED = st.sampled_from(
    [ValueError("bad"), KeyError("x"), RecursionError(), ZeroDivisionError(), ParseError("own")]
)


@QUICK
@given(_CUSTOM_RESULTS, st.none() | _RAISED)
def test_a_custom_parsers_result_is_checked_like_an_answer(
    result: object, raised: Exception | None
) -> None:
    module = ModuleType("syncpay_property_parser")

    def custom(text: str) -> object:
        if raised is not None:
            raise raised
        return result

    module.parse = custom  # type: ignore[attr-defined]
    sys.modules["syncpay_property_parser"] = module
    try:
        parser = load_parser("syncpay_property_parser:parse")
        try:
            parsed = parser("{}")
        except ParseError as exc:
            one_line(exc)
            return
        assert isinstance(parsed, Parsed)
        assert all(isinstance(i.tagihan, Decimal) for i in parsed.items)
        _fits_the_columns(parsed, dt.date(2030, 1, 1))
    finally:
        del sys.modules["syncpay_property_parser"]


#: Parser settings: only modules that are safe to import (never a name from the wild).
_SPECS = st.one_of(
    st.sampled_from(["flat", "nested", "", ":", "json:", ":loads", "json:loads:x", "FLAT"]),
    st.tuples(
        st.sampled_from(
            [
                "json",
                "tests.custom_parser",
                "syncpay.sync.parsers",
                "math",
                "syncpay_no_such_module",
                "syncpay..x",
                ".relative",
                "json.decoder",
            ]
        ),
        st.sampled_from(
            ["loads", "parse", "NOT_CALLABLE", "pi", "nothing", "", "parse_flat", "__name__"]
        ),
    ).map(":".join),
)


@QUICK
@given(_SPECS)
def test_a_parser_setting_loads_a_parser_or_says_why_not(spec: str) -> None:
    try:
        parser = load_parser(spec)
    except ValueError as exc:
        one_line(exc)
        return
    assert callable(parser)


# --- the roster import: CSV files and the roster API --------------------------------------------

_HEADER_NAMES = st.sampled_from(
    [
        *ROSTER_COLUMNS,
        *("Unit Formal", "kelas_formal", "IDPERSON", " nama ", "\ufeffidperson"),
        *("unknown", "", "nama", "idperson"),
    ]
)
_CELL = st.one_of(
    st.sampled_from(
        [
            *("", " ", "2025000001", "abc", "A-1", "L", "P", "Laki-laki", "x", "2010-02-29"),
            *("29/02/2012", "31.12.1899", "0000-00-00", "2999-01-01", "08123456789"),
            *("6.28E+11", '"quoted"', "a\nb", "a\tb", "\x00", "<script>", "'; DROP TABLE x"),
            *("=cmd|' /C calc'!A0", "x" * 200),
        ]
    ),
    st.text(max_size=12),
)


def _csv_text(header: list[str], rows: list[list[str]], delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


_CSV_FILES = st.one_of(
    st.tuples(
        st.lists(_HEADER_NAMES, min_size=1, max_size=6),
        st.lists(st.lists(_CELL, max_size=7), max_size=6),
        st.sampled_from([",", ";", "\t"]),
    ).map(lambda t: _csv_text(*t).encode("utf-8", "surrogatepass")),
    st.binary(max_size=120),
    st.sampled_from(
        [
            b"",
            b"\xef\xbb\xbf",
            b'idperson,nama\n1,"never closed\n',
            b"idperson,nama\n" + b'1,"' + b"x" * 200_000 + b'"\n',
            b"idperson;nama;idperson\n1;a;2\n",
            b"idperson,nama\n\xff\xfe,x\n",
        ]
    ),
)

_TEST_QUERIES = """
-- name: prop_siswa_count
SELECT COUNT(*) FROM siswa
"""


def _count_query(db: Database) -> Database:
    if "prop_siswa_count" not in db.queries:
        db.queries.update(parse_queries(_TEST_QUERIES, db.placeholder, {}))
    return db


def _check_report(report: ImportReport, rows: int) -> None:
    assert report.imported + len(report.invalid) == rows, report
    for _, reason in report.invalid:
        assert reason and "\n" not in reason


async def _import_or_roster_error(db: Database, load: Callable[[], list[tuple[int, Any]]]) -> None:
    before = int(await db.fetch_value("prop_siswa_count"))
    try:
        rows = load()
        report = await import_rows(db, rows)
    except RosterError as exc:
        one_line(exc)
        assert int(await db.fetch_value("prop_siswa_count")) == before  # nothing written
        return
    _check_report(report, len(rows))
    assert int(await db.fetch_value("prop_siswa_count")) == before + report.inserted


@settings(
    max_examples=scale(40, 400),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=_CSV_FILES)
@example(data=b'idperson,nama\n1,"' + b"x" * 200_000 + b'"\n')  # past csv's field limit
async def test_a_roster_csv_of_any_content_imports_or_gives_a_roster_error(
    db: Database, tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "siswa.csv"
    path.write_bytes(data)
    await _import_or_roster_error(_count_query(db), lambda: list(read_csv(path)))


_API_ANSWERS = st.one_of(
    _JSONISH,
    st.fixed_dictionaries(
        {},
        optional={
            "status": _JSONISH,
            "message": _JSONISH,
            "data": st.lists(
                st.dictionaries(_HEADER_NAMES | st.text(max_size=4), _JSONISH | _CELL, max_size=6)
                | _JSONISH,
                max_size=5,
            )
            | _JSONISH,
        },
    ),
)


@settings(
    max_examples=scale(40, 400),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answer=_API_ANSWERS)
async def test_a_roster_api_answer_of_any_shape_imports_or_gives_a_roster_error(
    db: Database, answer: object
) -> None:
    await _import_or_roster_error(_count_query(db), lambda: api_rows(answer))


@pytest.fixture
async def roster_api() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A roster API on a local port that answers whatever body the test puts in
    ``answer["body"]`` (the simulator only serves well-formed rosters)."""
    answer: dict[str, Any] = {"body": b"", "status": 200}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=answer["body"], status=answer["status"])

    app = web.Application()
    app.router.add_get("/siswa", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/siswa")), answer
    finally:
        await server.close()


_RAW_ANSWERS = st.one_of(
    st.binary(max_size=60),
    st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 100_000).map(lambda n: b'{"data": ' * n),
    _ANSWER.map(lambda t: t.encode("utf-8", "surrogatepass")),
    _API_ANSWERS.map(lambda v: json.dumps(v, default=str).encode()),
)


@settings(
    max_examples=scale(30, 300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_RAW_ANSWERS, status=st.sampled_from([200, 200, 200, 404, 500]))
@example(body=b"[" * 100_000, status=200)  # deeper than json reads: was a RecursionError
async def test_a_roster_api_body_of_any_bytes_gives_rows_or_a_roster_error(
    roster_api: tuple[str, dict[str, Any]], body: bytes, status: int
) -> None:
    url, answer = roster_api
    answer["body"], answer["status"] = body, status
    try:
        rows = await asyncio.wait_for(fetch_api(url, timeout=5), 30)
    except RosterError as exc:
        one_line(exc)
        return
    assert status == 200 and isinstance(rows, list)
