"""The money rule (syncpay/sync/money.py): totals, amounts and dates."""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncpay.sync.money import AmountError, Item, Totals, compute_totals, to_amount, to_date

TODAY = date(2026, 11, 28)


def item(tagihan: object, dibayar: object, due: date | None = date(2025, 1, 1)) -> Item:
    return Item("20242025", "SPP", "", Decimal(str(tagihan)), Decimal(str(dibayar)), due)


# --------------------------------------------------------------------------- the rule


def test_no_items_is_lunas():
    totals = compute_totals([], TODAY)
    assert totals == Totals(Decimal(0), Decimal(0), Decimal(0), Decimal(0), True)


def test_arrears_and_overpayment_are_per_item():
    items = [item(350000, 0), item(350000, 450000), item(300000, 300000)]
    totals = compute_totals(items, TODAY)
    # the 100000 overpaid on one item does not cancel the 350000 owed on another
    assert totals.total_tunggakan == 350000
    assert totals.total_kelebihan == 100000
    assert totals.total_tagihan == 1000000
    assert totals.total_dibayar == 750000
    assert totals.is_lunas is False


def test_overpayment_alone_is_lunas():
    totals = compute_totals([item(300000, 400000)], TODAY)
    assert (totals.total_tunggakan, totals.total_kelebihan, totals.is_lunas) == (0, 100000, True)


def test_not_yet_due_items_are_left_out_of_every_total():
    future = date(2099, 7, 1)
    items = [item(300000, 300000), item(400000, 0, future), item(400000, 500000, future)]
    totals = compute_totals(items, TODAY)
    assert totals == Totals(Decimal(300000), Decimal(300000), Decimal(0), Decimal(0), True)


def test_an_item_due_today_counts_and_tomorrow_does_not():
    today, tomorrow = item(100, 0, TODAY), item(100, 0, date(2026, 11, 29))
    assert compute_totals([today], TODAY).total_tunggakan == 100
    assert compute_totals([tomorrow], TODAY).total_tunggakan == 0
    assert compute_totals([tomorrow], date(2026, 11, 29)).total_tunggakan == 100


def test_an_item_without_a_date_counts_as_due():
    totals = compute_totals([item(350000, 100000, None)], TODAY)
    assert totals.total_tunggakan == 250000
    assert not totals.is_lunas


def test_negative_amounts_do_not_make_negative_totals():
    # a refund booked as a negative payment, a correction booked as a negative bill
    totals = compute_totals([item(100000, -50000), item(-20000, 0)], TODAY)
    assert totals.total_tunggakan == 150000
    assert totals.total_kelebihan == 20000
    assert totals.total_tagihan == 80000
    assert totals.total_dibayar == -50000


def test_as_row_has_the_siswa_columns_with_decimals():
    row = compute_totals([item("350000.50", 0)], TODAY).as_row()
    assert row == {
        "total_tagihan": Decimal("350000.50"),
        "total_dibayar": Decimal(0),
        "total_tunggakan": Decimal("350000.50"),
        "total_kelebihan": Decimal(0),
        "is_lunas": False,
    }
    assert all(isinstance(row[k], Decimal) for k in row if k != "is_lunas")


def test_sums_are_exact():
    totals = compute_totals([item("0.10", 0)] * 3, TODAY)
    assert totals.total_tunggakan == Decimal("0.30")


# --------------------------------------------------------------------------- properties

amounts = st.decimals(
    min_value=Decimal("-9999999999999.99"),
    max_value=Decimal("9999999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
items_strategy = st.lists(
    st.builds(
        Item,
        period=st.text(max_size=8),
        title=st.text(max_size=8),
        category=st.just(""),
        tagihan=amounts,
        dibayar=amounts,
        due=st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    ),
    max_size=30,
)


@given(items_strategy, st.randoms(use_true_random=False))
def test_totals_do_not_depend_on_the_order(items, rnd: random.Random):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert compute_totals(items, TODAY) == compute_totals(shuffled, TODAY)


@given(items_strategy, st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_totals_invariants(items, today):
    totals = compute_totals(items, today)
    assert totals.total_tunggakan >= 0
    assert totals.total_kelebihan >= 0
    assert totals.is_lunas == (totals.total_tunggakan == 0)
    assert (
        totals.total_tagihan - totals.total_dibayar
        == totals.total_tunggakan - totals.total_kelebihan
    )
    due = [i for i in items if i.due is None or i.due <= today]
    assert compute_totals(due, today) == totals


# --------------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (350000, Decimal(350000)),
        (350000.0, Decimal(350000)),
        (0.1, Decimal("0.10")),
        ("350000", Decimal(350000)),
        ("350000.00", Decimal(350000)),
        ("350000.5", Decimal("350000.50")),
        (" 350000 ", Decimal(350000)),
        ("-50000", Decimal(-50000)),
        ("+7", Decimal(7)),
        ("-0", Decimal(0)),
        ("1234.500", Decimal("1234.50")),  # four digits before '.': cannot be grouping
        (Decimal("3.5E+5"), Decimal(350000)),
        ("9999999999999.99", Decimal("9999999999999.99")),
    ],
)
def test_amounts_accepted(value, expected):
    amount = to_amount(value)
    assert amount == expected
    assert str(amount) == str(expected)  # canonical: whole, or two decimal places


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "'abc' is not an amount"),
        ("", "'' is not an amount"),
        ("350.000", "'350.000' is ambiguous"),
        ("1.250", "'1.250' is ambiguous"),
        ("1.250.000", "'1.250.000' is not an amount"),
        ("350,000", "'350,000' is not an amount"),
        ("350000,00", "'350000,00' is not an amount"),
        ("3.5e5", "'3.5e5' is not an amount"),
        ("1_000", "'1_000' is not an amount"),
        ("NaN", "'NaN' is not an amount"),
        ("Infinity", "'Infinity' is not an amount"),
        ("٣٥٠", "is not an amount"),  # Arabic-Indic digits: Decimal would accept them
        (".5", "'.5' is not an amount"),
        ("Rp 350000", "'Rp 350000' is not an amount"),
        (float("nan"), "nan is not an amount"),
        (float("inf"), "inf is not an amount"),
        ("350000.005", "has more than two decimal places"),
        (0.1 + 0.2, "has more than two decimal places"),
        (10**13, "is out of range"),
        ("-10000000000000", "is out of range"),
        (True, "expected an amount, got True"),
        (None, "expected an amount, got null"),
        ([1], "expected an amount, got a list"),
    ],
)
def test_amounts_refused(value, message):
    with pytest.raises(AmountError) as info:
        to_amount(value)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("1e999999999999"), "1E+999999999999 is out of range"),
        (Decimal("-1e999999999"), "-1E+999999999 is out of range"),
        (Decimal("1E+1000000"), "1E+1000000 is out of range"),
        (Decimal("1.0E+13"), "1.0E+13 is out of range"),
        (Decimal("-1E+13"), "-1E+13 is out of range"),
        (Decimal("1e-999999999999"), "1E-999999999999 has more than two decimal places"),
        (Decimal("NaN"), "NaN is not an amount"),
        (Decimal("-sNaN"), "-sNaN is not an amount"),
        (Decimal("-Infinity"), "-Infinity is not an amount"),
    ],
)
def test_huge_exponents_are_out_of_range_not_an_overflow(value: Decimal, message: str) -> None:
    """Issue #12, item 30: ``1e999999999999`` (a JSON number read as a Decimal) raised
    ``decimal.Overflow``, shown as ``[<class 'decimal.Overflow'>]``."""
    with pytest.raises(AmountError) as info:
        to_amount(value)
    assert str(info.value).startswith(message)
    assert to_amount(Decimal("9999999999999.99")) == Decimal("9999999999999.99")
    assert to_amount(Decimal("9.99E+12")) == Decimal("9990000000000")
    assert to_amount(Decimal("0E+999999999999")) == 0


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-07-01", date(2024, 7, 1)),
        ("2024-07-01 13:45:00", date(2024, 7, 1)),
        ("2024-07-01T13:45:00", date(2024, 7, 1)),
        ("2024-07-01T13:45:00.123+07:00", date(2024, 7, 1)),
        ("2024-07-01T13:45Z", date(2024, 7, 1)),
        (date(2024, 7, 1), date(2024, 7, 1)),
        (datetime(2024, 7, 1, 23, 59), date(2024, 7, 1)),
        (None, None),
        ("", None),
        ("0000-00-00", None),
        ("0000-00-00 00:00:00", None),
    ],
)
def test_dates_accepted(value, expected):
    result = to_date(value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "value", ["01-07-2024", "2024/07/01", "2024-13-01", "2024-02-30", "2024-7-1", "yesterday"]
)
def test_dates_refused(value):
    with pytest.raises(ValueError, match="is not a date"):
        to_date(value)


def test_date_of_a_wrong_type():
    with pytest.raises(ValueError, match="expected a date, got a number"):
        to_date(20240701)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0, "Rp 0"),
        (1250000, "Rp 1.250.000"),
        (Decimal("1250000.50"), "Rp 1.250.000,50"),
        (Decimal("-300.05"), "-Rp 300,05"),
        (Decimal("999.999"), "Rp 1.000"),
    ],
)
def test_rupiah_is_written_in_the_currencys_notation(
    value: Decimal | int | None, text: str
) -> None:
    """One function (sync/money.py) words amounts for the pages and the CLI: the dot
    groups thousands and the comma starts cents, in every language."""
    from syncpay.sync.money import rupiah

    assert rupiah(value) == text
