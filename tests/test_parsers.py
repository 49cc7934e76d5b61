"""Parsers (syncpay/sync/parsers/): the fixtures' totals, malformed answers, custom
parsers, and never raising anything but ParseError.

The fixtures are `../../shared/fixtures` from this file, or the
directory named by SYNCPAY_FIXTURES.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncpay.config import Settings
from syncpay.sync.money import Item, compute_totals
from syncpay.sync.parsers import (
    Parsed,
    ParseError,
    load_parser,
    parse_flat,
    parse_nested,
    parser_for,
    storable_answer,
)
from syncpay.text import is_clean

TODAY = date(2026, 11, 28)
FIXTURES = Path(
    os.environ.get("SYNCPAY_FIXTURES")
    or Path(__file__).resolve().parents[2] / "shared" / "fixtures"
)
PARSERS = {"flat": parse_flat, "nested": parse_nested}

# file: (shape, tunggakan, kelebihan, lunas, saldo) -- the fixtures README's table
EXPECTED = {
    "payments-flat-lunas.json": ("flat", 0, 0, True, None),
    "payments-flat-tunggakan.json": ("flat", 700000, 0, False, None),
    "payments-flat-kelebihan-belum-jatuh-tempo.json": ("flat", 0, 100000, True, None),
    "payments-nested.json": ("nested", 250000, 0, False, 25000),
}


def fixture(name: str) -> str:
    path = FIXTURES / name
    if not path.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"fixture {path} not found (set SYNCPAY_FIXTURES)")
        pytest.skip(f"fixture {path} not found (set SYNCPAY_FIXTURES)")
    return path.read_text(encoding="utf-8")


def fixture_json(name: str) -> dict:
    return json.loads(fixture(name))


def parse_error(parser, text: str) -> str:
    with pytest.raises(ParseError) as info:
        parser(text)
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_totals(name):
    shape, tunggakan, kelebihan, lunas, saldo = EXPECTED[name]
    text = fixture(name)
    for parser in (PARSERS[shape], load_parser(shape), parser_for(Settings(payment_parser=shape))):
        parsed = parser(text)
        totals = compute_totals(parsed.items, TODAY)
        assert totals.total_tunggakan == tunggakan
        assert totals.total_kelebihan == kelebihan
        assert totals.is_lunas is lunas
        assert parsed.saldo == saldo


def test_fixture_totals_match_the_readme():
    """The README's table, read as written: every payments row gives its numbers."""
    rows = 0
    for line in fixture("README.md").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`payments-"):
            continue
        rows += 1
        name = cells[0].strip("`")
        shape = re.match(r"`(\w+)`", cells[1]).group(1)
        expected = cells[2]
        parsed = PARSERS[shape](fixture(name))
        totals = compute_totals(parsed.items, TODAY)
        found = {"tunggakan": totals.total_tunggakan, "kelebihan": totals.total_kelebihan}
        found["saldo"] = parsed.saldo
        for word, amount in re.findall(r"(tunggakan|kelebihan|saldo) (\d+)", expected):
            assert found[word] == Decimal(amount), (name, word)
        assert totals.is_lunas is ("not lunas" not in expected), name
        assert name in EXPECTED
    assert rows == len(EXPECTED)


def test_every_payment_fixture_is_checked():
    fixture("README.md")
    assert {p.name for p in FIXTURES.glob("payments-*.json")} == set(EXPECTED)


def test_flat_fixture_items():
    items = parse_flat(fixture("payments-flat-lunas.json")).items
    assert items[0] == Item(
        "20232024", "SPP Juli", "Formal", Decimal(300000), Decimal(300000), date(2023, 7, 1)
    )
    assert len(items) == 26


def test_nested_fixture_items_use_the_swapped_names():
    items = parse_nested(fixture("payments-nested.json")).items
    assert len(items) == 6
    # "amount_paid": 350000 is the bill, "amount_billed": 100000 the payment
    assert items[-1] == Item(
        "20242025", "SPP September", "SPP", Decimal(350000), Decimal(100000), date(2024, 9, 1)
    )


def test_nested_mapping_is_used():
    text = fixture("payments-nested.json")
    default = compute_totals(parse_nested(text).items, TODAY)
    swapped_parser = load_parser("nested", bill_field="amount_billed", paid_field="amount_paid")
    swapped = compute_totals(swapped_parser(text).items, TODAY)
    assert (default.total_tunggakan, default.is_lunas) == (250000, False)
    assert (swapped.total_tunggakan, swapped.total_kelebihan, swapped.is_lunas) == (0, 250000, True)
    assert swapped != default
    settings_ = Settings(
        payment_parser="nested",
        payment_nested_bill_field="amount_billed",
        payment_nested_paid_field="amount_paid",
    )
    assert compute_totals(parser_for(settings_)(text).items, TODAY) == swapped


def test_nested_mapping_to_other_field_names():
    answer = {
        "data": [
            {
                "periods": [
                    {
                        "period_id": 2024,
                        "categories": [{"items": [{"tagihan": "5000", "bayar": 1000}]}],
                    }
                ]
            }
        ]
    }
    parsed = parse_nested(json.dumps(answer), bill_field="tagihan", paid_field="bayar")
    assert parsed.saldo is None
    assert parsed.items == (Item("2024", "", "", Decimal(5000), Decimal(1000), None),)


def test_nested_mapping_must_use_two_fields():
    with pytest.raises(ValueError, match="PAYMENT_NESTED_BILL_FIELD and PAYMENT_NESTED_PAID"):
        load_parser("nested", bill_field="amount_paid", paid_field="amount_paid")


def test_not_yet_due_items_are_ignored_until_their_date():
    items = parse_flat(fixture("payments-flat-kelebihan-belum-jatuh-tempo.json")).items
    assert compute_totals(items, TODAY).total_tunggakan == 0
    on_the_day = compute_totals(items, date(2099, 7, 1))
    assert (on_the_day.total_tunggakan, on_the_day.is_lunas) == (400000, False)
    items = parse_flat(fixture("payments-flat-tunggakan.json")).items
    assert compute_totals(items, date(2025, 4, 30)).is_lunas
    assert compute_totals(items, date(2025, 5, 1)).total_tunggakan == 350000


def test_shape_mismatch_is_an_error_not_a_lunas_student():
    nested = fixture("payments-nested.json")
    flat = fixture("payments-flat-tunggakan.json")
    assert parse_error(parse_flat, nested) == "data[0]: missing jml_kredit"
    assert parse_error(parse_nested, flat) == "data[0]: missing periods"


def test_saldo_is_summed_over_entries():
    entry = {"saldo": "1000.50", "periods": []}
    assert parse_nested(json.dumps({"data": [entry, entry]})).saldo == Decimal("2001.00")
    assert parse_nested(json.dumps({"data": [{"periods": []}]})).saldo is None


def test_empty_data_is_a_student_without_bills():
    for parser in (parse_flat, parse_nested):
        parsed = parser('{"status": true, "data": []}')
        assert parsed.items == ()
        assert compute_totals(parsed.items, TODAY).is_lunas


def test_flat_details():
    row = {"judul": "SPP", "jml_kredit": "350000.00", "jml_debet": None, "extra": [1]}
    parsed = parse_flat(json.dumps({"data": [row]}))
    # missing text is "", null paid is 0, missing date is None, extra fields ignored
    assert parsed == Parsed((Item("", "SPP", "", Decimal(350000), Decimal(0), None),), None)
    exact = parse_flat('{"data": [{"jml_kredit": 0.10, "jml_debet": 1E+2}]}').items[0]
    assert (exact.tagihan, exact.dibayar) == (Decimal("0.10"), Decimal(100))


# --------------------------------------------------------------------------- malformed


def flat_with(change) -> str:
    answer = fixture_json("payments-flat-lunas.json")
    change(answer)
    return json.dumps(answer, indent=1)


def nested_with(change) -> str:
    answer = fixture_json("payments-nested.json")
    change(answer)
    return json.dumps(answer, indent=1)


def test_not_json():
    message = parse_error(parse_flat, '{\n  "data": [\n    1 2]}')
    assert message == "not JSON: Expecting ',' delimiter at line 3 column 7"
    assert parse_error(parse_flat, "") == "not JSON: Expecting value at line 1 column 1"
    assert parse_error(parse_nested, "<html>502 Bad Gateway</html>").startswith("not JSON: ")


def test_truncated_json():
    text = fixture("payments-flat-lunas.json")
    message = parse_error(parse_flat, text[: len(text) // 2])
    assert re.fullmatch(r"not JSON: .+ at line \d+ column \d+", message)


def test_json_that_is_not_plain_json():
    assert parse_error(parse_flat, '{"data": [{"jml_kredit": NaN}]}') == (
        "not JSON: NaN is not a number JSON allows"
    )
    assert parse_error(parse_flat, "[" * 100_000).startswith("not JSON: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", 'top level: expected an object with "data", got a list'),
        ('"ok"', 'top level: expected an object with "data", got a string'),
        ("null", 'top level: expected an object with "data", got null'),
        ('{"status": true}', "top level: missing data"),
        ('{"data": null}', "data: expected a list, got null"),
        ('{"data": {"a": 1}}', "data: expected a list, got an object"),
        ('{"data": ["x"]}', "data[0]: expected an object, got a string"),
        (
            '{"status": false, "message": "Siswa\\ntidak ditemukan"}',
            "the source answered status false: Siswa tidak ditemukan",
        ),
        ('{"status": false, "data": []}', "the source answered status false (no message)"),
        ('{"status": "error", "error": "timeout"}', "the source answered status false: timeout"),
    ],
)
def test_envelope_errors(text, message):
    assert parse_error(parse_flat, text) == message
    assert parse_error(parse_nested, text) == message


def test_non_numeric_amount():
    text = flat_with(lambda a: a["data"][2].update(jml_kredit="abc"))
    assert parse_error(parse_flat, text) == "data[2].jml_kredit: 'abc' is not an amount"


def test_ambiguous_amount():
    text = flat_with(lambda a: a["data"][0].update(jml_debet="350.000"))
    assert parse_error(parse_flat, text).startswith("data[0].jml_debet: '350.000' is ambiguous")


def test_amount_with_too_many_decimals():
    text = '{"data": [{"jml_kredit": 350000.001, "jml_debet": 0}]}'
    message = parse_error(parse_flat, text)
    assert message == "data[0].jml_kredit: 350000.001 has more than two decimal places"


def test_missing_amount():
    text = flat_with(lambda a: a["data"][5].pop("jml_debet"))
    assert parse_error(parse_flat, text) == "data[5]: missing jml_debet"


def test_missing_nested_amount():
    items = lambda a: a["data"][0]["periods"][1]["categories"][0]["items"]  # noqa: E731
    text = nested_with(lambda a: items(a)[2].pop("amount_paid"))
    assert parse_error(parse_nested, text) == (
        "data[0].periods[1].categories[0].items[2]: missing amount_paid"
    )


def test_nested_structure_errors():
    text = nested_with(lambda a: a["data"][0]["periods"][0].update(categories="SPP"))
    assert parse_error(parse_nested, text) == (
        "data[0].periods[0].categories: expected a list, got a string"
    )
    text = nested_with(lambda a: a["data"][0].update(saldo="banyak"))
    assert parse_error(parse_nested, text) == "data[0].saldo: 'banyak' is not an amount"


def test_bad_date():
    text = flat_with(lambda a: a["data"][0].update(tgl_jurnal="01/07/2023"))
    assert parse_error(parse_flat, text) == (
        "data[0].tgl_jurnal: '01/07/2023' is not a date (expected YYYY-MM-DD)"
    )
    text = flat_with(lambda a: a["data"][1].update(tgl_jurnal=20230801))
    assert parse_error(parse_flat, text) == "data[1].tgl_jurnal: expected a date, got a number"


def test_dates_with_times():
    rows = [
        {"jml_kredit": 1, "jml_debet": 0, "tgl_jurnal": "2024-07-01 08:30:00"},
        {"jml_kredit": 1, "jml_debet": 0, "tgl_jurnal": "2024-07-02T08:30:00+07:00"},
        {"jml_kredit": 1, "jml_debet": 0, "tgl_jurnal": ""},
        {"jml_kredit": 1, "jml_debet": 0, "tgl_jurnal": "0000-00-00 00:00:00"},
    ]
    items = parse_flat(json.dumps({"data": rows})).items
    assert [i.due for i in items] == [date(2024, 7, 1), date(2024, 7, 2), None, None]


def test_bad_text_field():
    text = flat_with(lambda a: a["data"][3].update(judul=["SPP"]))
    assert parse_error(parse_flat, text) == "data[3].judul: expected text, got a list"


# --------------------------------------------------------------------------- custom


def test_custom_parser_returning_dicts():
    parser = load_parser("tests.custom_parser:parse")
    text = "# period;title;tagihan;dibayar;due\n2024;SPP Juli;350000;0;2024-07-01\n"
    text += "2024;SPP Agustus;350000;400000.00;2024-08-01\n2099;SPP;1;0;2099-01-01\n"
    parsed = parser(text)
    assert parsed.saldo is None
    assert parsed.items[0] == Item(
        "2024", "SPP Juli", "", Decimal(350000), Decimal(0), date(2024, 7, 1)
    )
    totals = compute_totals(parsed.items, TODAY)
    assert (totals.total_tunggakan, totals.total_kelebihan) == (350000, 50000)


def test_custom_parser_returning_items_and_parsed():
    items = load_parser("tests.custom_parser:parse_items")("").items
    assert compute_totals(items, TODAY).total_kelebihan == 50000
    assert load_parser("tests.custom_parser:parse_with_saldo")("").saldo == 5000


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("broken", "custom parser failed: ValueError: line 1: no idea what this is"),
        (
            "returns_text",
            "custom parser result: expected Parsed, or a list of Item or of dicts, got a string",
        ),
        ("returns_bad_amount", "custom parser result[0].tagihan: '350.000' is ambiguous"),
    ],
)
def test_custom_parser_errors(function, message):
    assert parse_error(load_parser(f"tests.custom_parser:{function}"), "x").startswith(message)


def test_custom_parser_errors_in_the_text():
    parser = load_parser("tests.custom_parser:parse")
    assert parse_error(parser, "2024;SPP;abc;0;2024-07-01") == (
        "custom parser result[0].tagihan: 'abc' is not an amount"
    )
    assert parse_error(parser, "2024;SPP") == (
        "custom parser failed: ValueError: not enough values to unpack (expected 5, got 2)"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "no_such_module_xyz:parse",
            "PAYMENT_PARSER: cannot import module 'no_such_module_xyz' "
            "(No module named 'no_such_module_xyz')",
        ),
        ("tests.custom_parser:nope", "PAYMENT_PARSER: module 'tests.custom_parser' has no 'nope'"),
        (
            "tests.custom_parser:NOT_CALLABLE",
            "PAYMENT_PARSER: 'tests.custom_parser:NOT_CALLABLE' is not callable (it is a number)",
        ),
        ("json", "PAYMENT_PARSER: expected flat, nested or module:function, got 'json'"),
        ("tests.custom_parser:", "PAYMENT_PARSER: expected flat, nested or module:function"),
    ],
)
def test_custom_parser_that_cannot_be_loaded(spec, message):
    with pytest.raises(ValueError) as info:
        load_parser(spec)
    assert str(info.value).startswith(message)


def test_custom_parser_module_failing_on_import(tmp_path, monkeypatch):
    (tmp_path / "syncpay_broken_parser.py").write_text("raise RuntimeError('no\\nconfig')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError) as info:
        load_parser("syncpay_broken_parser:parse")
    assert str(info.value) == (
        "PAYMENT_PARSER: cannot import module 'syncpay_broken_parser' (RuntimeError: no config)"
    )


# --------------------------------------------------------------------------- never crash

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["350000", "350.000", "2024-07-01", "2024-02-30", "0000-00-00", ""]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


good_amounts = st.integers(-(10**9), 10**9) | st.sampled_from(["350000", "350000.00", "-5", None])
amount_values = good_amounts | st.floats(-1e7, 1e7) | st.sampled_from(["350.000", "1e3", "x"])
good_dates = st.dates().map(str) | st.sampled_from(["2024-07-01 08:00:00", "0000-00-00", None])
date_values = good_dates | st.sampled_from(["2024-02-30", "01/07/2024", "2024-7-1"])
text_values = st.text(max_size=6) | st.integers() | st.none()


def shaped(fields: dict[str, st.SearchStrategy], noisy: bool) -> st.SearchStrategy:
    """Objects with `fields`; when `noisy`, keys may be missing and values of any type."""
    if not noisy:
        return st.fixed_dictionaries(fields)
    fields = {key: st.one_of(value, value, value, json_values) for key, value in fields.items()}
    extra = st.dictionaries(st.text(max_size=6), json_values, max_size=2)
    some = st.fixed_dictionaries({}, optional=fields)
    return st.builds(lambda d, e: {**e, **d}, st.fixed_dictionaries(fields) | some, extra)


def answers(noisy: bool, nested: bool) -> st.SearchStrategy:
    amounts, dates = (amount_values, date_values) if noisy else (good_amounts, good_dates)
    if nested:
        item = {"unit_name": text_values, "amount_billed": amounts, "amount_paid": amounts}
        row = shaped({**item, "journal_date": dates}, noisy)
        for key, name in [("items", "category_name"), ("categories", "period_id")]:
            row = shaped({name: text_values, key: st.lists(row, max_size=3)}, noisy)
        row = shaped({"saldo": amounts, "periods": st.lists(row, max_size=3)}, noisy)
    else:
        row = {"idperiode": text_values, "judul": text_values, "nama_unit": text_values}
        row = shaped(
            {**row, "jml_kredit": amounts, "jml_debet": amounts, "tgl_jurnal": dates}, noisy
        )
    status = st.booleans() | json_values if noisy else st.just(True)
    return st.fixed_dictionaries(
        {"data": st.lists(row, max_size=4)}, optional={"status": status, "message": json_values}
    )


near_misses = st.one_of(
    [answers(noisy, nested) for noisy in (False, True) for nested in (False, True)]
)


def only_parse_errors(text: str) -> None:
    for parser in (parse_flat, parse_nested):
        try:
            parsed = parser(text)
        except ParseError as exc:
            assert "\n" not in str(exc)
            continue
        totals = compute_totals(parsed.items, TODAY)
        assert totals.total_tunggakan >= 0 and totals.total_kelebihan >= 0
        for item in parsed.items:
            assert isinstance(item.tagihan, Decimal) and isinstance(item.dibayar, Decimal)
            assert item.tagihan.as_tuple().exponent >= -2


@given(st.text())
def test_any_text_gives_items_or_parse_error(text):
    only_parse_errors(text)


@given(json_values)
def test_any_json_gives_items_or_parse_error(value):
    only_parse_errors(json.dumps(value))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(near_misses)
def test_near_miss_answers_give_items_or_parse_error(value):
    only_parse_errors(json.dumps(value))


# The usual flat row has a shortcut (`_plain_flat_row`); it must read exactly what the
# general path reads, and leave every other row, with its error, to that path.
flat_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**14), max_value=10**14),
    st.sampled_from([10**13 - 1, -(10**13) + 1, 10**13, -(10**13), 0, 350_000]),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.sampled_from(["2025-07-01", "2025-07-01 08:00:00", "", "0000-00-00", "2025-13-01"]),
    st.sampled_from(["20252026", "SPP Juli", " 350000 ", "350.000", "12a", "-50000.50"]),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
)
FLAT_KEYS = ("idperiode", "judul", "nama_unit", "jml_kredit", "jml_debet", "tgl_jurnal")
plain_rows = st.fixed_dictionaries(
    {
        "idperiode": st.sampled_from(["20242025", "20252026"]),
        "judul": st.text(max_size=8),
        "nama_unit": st.sampled_from(["SMP", "Pondok", ""]),
        "jml_kredit": st.integers(min_value=-(10**13) - 1, max_value=10**13 + 1),
        "jml_debet": st.integers(min_value=-(10**13) - 1, max_value=10**13 + 1),
        "tgl_jurnal": st.sampled_from(["2025-07-01", "2026-12-10", "2025-02-30", "0000-00-00"]),
    }
)


@st.composite
def flat_rows(draw: st.DrawFn) -> dict[str, object]:
    """Mostly the usual row, sometimes with a key changed or missing."""
    row = dict(draw(plain_rows))
    for key in draw(st.lists(st.sampled_from(FLAT_KEYS), max_size=2, unique=True)):
        if draw(st.booleans()):
            del row[key]
        else:
            row[key] = draw(flat_values)
    return row


def _read(text: str) -> Parsed | str:
    try:
        return parse_flat(text)
    except ParseError as exc:
        return f"ParseError: {exc}"


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.lists(st.one_of(flat_rows(), flat_values), max_size=4))
def test_the_flat_shortcut_reads_what_the_general_path_reads(rows):
    import syncpay.sync.parsers.builtin as parsers

    text = json.dumps({"status": True, "data": rows}, default=str)
    fast = _read(text)
    shortcut = parsers._plain_flat_row
    parsers._plain_flat_row = lambda raw: None  # every row through the general path
    try:
        general = _read(text)
    finally:
        parsers._plain_flat_row = shortcut
    assert fast == general
    if isinstance(fast, Parsed):
        for a, b in zip(fast.items, general.items, strict=True):
            assert str(a.tagihan) == str(b.tagihan) and str(a.dibayar) == str(b.dibayar)


def test_the_flat_shortcut_takes_the_usual_rows():
    from syncpay.sync.parsers.builtin import _plain_flat_row

    row = {
        "idperiode": "20252026",
        "judul": "SPP Juli",
        "nama_unit": "SMP",
        "jml_kredit": 350000,
        "jml_debet": 0,
        "tgl_jurnal": "2025-07-10",
    }
    item = _plain_flat_row(row)
    assert item == Item(
        "20252026", "SPP Juli", "SMP", Decimal(350000), Decimal(0), date(2025, 7, 10)
    )
    assert _plain_flat_row({**row, "jml_kredit": "350000"}) is None
    assert _plain_flat_row({**row, "tgl_jurnal": None}) is None


# --------------------------------------------------------------------------- issue #12


def test_storable_answer_cleans_every_string_once_and_keeps_the_rest() -> None:
    """Item 18(a): a lone surrogate escape (valid JSON), terminal escapes and bidi
    controls in any string (keys too) are cleaned; numbers, valid surrogate pairs and
    clean answers stay byte for byte; an over-long text is cut."""
    plain = '{"status": true, "data": [{"judul": "SPP \\"Juli\\"", "jml_kredit": 1.50}]}'
    assert storable_answer(plain) is plain
    emoji = '{"data": [{"judul": "\\ud83d\\ude00"}]}'  # a valid pair: left as it is
    assert storable_answer(emoji) == emoji
    bad = (
        '{"status": false, "message": "bad \\ud800 thing", "x\\u001b": 1e999999999999,'
        ' "t": "a\\u001b]0;pwned\\u0007b\u202ec\\n", "n": 0.10}'
    )
    cleaned = storable_answer(bad)
    assert json.loads(cleaned) == {
        "status": False,
        "message": "bad \ufffd thing",
        "x\\x1b": float("inf"),
        "t": "a\\x1b]0;pwned\\x07b\\u202ec\\x0a",
        "n": 0.1,
    }
    assert "1e999999999999" in cleaned and "0.10" in cleaned
    long = json.dumps({"data": [{"judul": "x" * 5000}]})
    title = json.loads(storable_answer(long))["data"][0]["judul"]
    assert len(title) == 1000 and title.endswith("\u2026")
    assert storable_answer("not json \\ud800 {") == "not json \\ud800 {"
    raw_tab = '{"data": [], "t": "a\tb\u202e"}'  # a raw tab: not JSON, left to the parser
    assert storable_answer(raw_tab) == raw_tab
    assert parse_error(parse_flat, storable_answer(raw_tab)).startswith("not JSON: ")
    with pytest.raises(ParseError) as caught:
        parse_flat(storable_answer('{"status": "error", "error": "no\\u202e \\udfff"}'))
    assert str(caught.value) == "the source answered status false: no\\u202e \ufffd"
    assert is_clean(str(caught.value))


@pytest.mark.parametrize("number", ["1e999999999999", "-1e999999999", "1E+1000000"])
def test_huge_exponents_are_a_parse_error(number: str) -> None:
    """Item 30: every Decimal made of outside text (flat and nested amounts, saldo, a
    custom parser's result) refuses a huge exponent with a reason, never
    ``decimal.Overflow``."""
    shown = str(Decimal(number))
    range_ = f"{shown} is out of range (at most 13 digits before the '.')"
    row = {"idperiode": "1", "judul": "SPP", "jml_kredit": 0, "jml_debet": 0}
    flat = json.dumps({"data": [row]}).replace('"jml_debet": 0', f'"jml_debet": {number}')
    assert parse_error(parse_flat, flat) == f"data[0].jml_debet: {range_}"
    nested = f'{{"data": [{{"saldo": {number}, "periods": []}}]}}'
    assert parse_error(parse_nested, nested) == f"data[0].saldo: {range_}"
    item = {"unit_name": "SPP", "amount_paid": 0, "amount_billed": 0}
    category = {"category_name": "SPP", "items": [item]}
    text = json.dumps({"data": [{"periods": [{"period_id": "1", "categories": [category]}]}]})
    text = text.replace('"amount_paid": 0', f'"amount_paid": {number}')
    assert parse_error(parse_nested, text) == (
        f"data[0].periods[0].categories[0].items[0].amount_paid: {range_}"
    )
    custom = load_parser("tests.test_parsers:huge_custom")
    assert parse_error(custom, number) == f"custom parser result[0].tagihan: {range_}"


def huge_custom(text: str) -> list[dict[str, object]]:
    """A custom parser whose bill is the Decimal of ``text``."""
    return [{"tagihan": Decimal(text), "dibayar": 0}]
