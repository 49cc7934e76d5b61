"""The simulator's made-up school: demo students and their payment items.

Everything here is a pure function of a seed and an idperson (plus the school year and
a data version), so a test can predict every answer the simulator gives.

A student's *profile* (name, class, dorm, …) comes from ``sha256("{seed}:siswa:{id}")``;
the roster (`demo_students`) and the payment answers use the same profile, so a demo
student's ``kelas_info`` matches their ``KelasFormal``.  Payment items cover two school
years: the previous one (all due) and the current one (the school year that holds
today's date unless ``year`` is given; its later months are not due yet).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..roster_columns import ROSTER_COLUMNS  # one list of the roster columns

__all__ = [
    "ROSTER_COLUMNS",
    "PaymentItem",
    "demo_students",
    "payment_items",
    "render_flat",
    "render_nested",
    "school_year",
    "student_profile",
]


#: The first demo idperson is ``FIRST_IDPERSON + 1`` (2025000001).
FIRST_IDPERSON = 2025000000

MALE_NAMES = (
    "Ahmad", "Muhammad", "Rizky", "Dimas", "Fajar", "Ilham", "Yusuf", "Bagus", "Rafi",
    "Hafidz", "Abdullah", "Zaki", "Farhan", "Naufal", "Alif", "Fikri", "Hamzah", "Ridwan",
    "Arif", "Bayu", "Dafa", "Galih", "Irfan", "Khoirul", "Lukman", "Malik", "Nabil",
    "Rangga", "Syahrul", "Taufik", "Wildan", "Zidan",
)  # fmt: skip
FEMALE_NAMES = (
    "Siti", "Nur", "Aisyah", "Fatimah", "Putri", "Ayu", "Dewi", "Hana", "Zahra",
    "Salsabila", "Nabila", "Khadijah", "Annisa", "Aulia", "Dinda", "Fitri", "Indah",
    "Laila", "Maryam", "Nadia", "Rahma", "Safira", "Tsania", "Ulfa", "Wardah", "Yasmin",
    "Zulfa", "Amalia", "Bilqis", "Citra", "Hilya", "Naila",
)  # fmt: skip
FAMILY_NAMES = (
    "Hidayat", "Saputra", "Pratama", "Kurniawan", "Setiawan", "Maulana", "Nugroho",
    "Santoso", "Wibowo", "Firmansyah", "Ramadhan", "Hakim", "Fauzi", "Hasan", "Rahman",
    "Syahputra", "Prasetyo", "Permana", "Gunawan", "Kusuma", "Wijaya", "Utomo", "Hartono",
    "Purnomo", "Wahyudi", "Hermawan", "Suryadi", "Aziz", "Mubarok", "Anshori", "Ghozali",
    "Habibi", "Ismail", "Junaedi", "Lutfi", "Mahfud", "Nasrullah", "Rosyid", "Thohir",
    "Ubaidillah", "Wahid", "Zainuddin", "Arifin", "Bahri", "Darmawan", "Efendi",
    "Fadillah", "Iskandar", "Jauhari", "Rahmawati", "Lestari", "Wulandari", "Anggraini",
    "Nurhaliza", "Kartika", "Safitri", "Maharani", "Puspita", "Handayani", "Susanti",
)  # fmt: skip
BIRTHPLACES = (
    "Jember", "Lumajang", "Situbondo", "Bondowoso", "Probolinggo", "Banyuwangi",
    "Pasuruan", "Malang", "Surabaya", "Sidoarjo", "Kediri", "Blitar", "Tulungagung",
    "Jombang", "Mojokerto", "Lamongan", "Gresik", "Tuban", "Bojonegoro", "Pamekasan",
    "Sumenep", "Sampang", "Bangkalan", "Madiun", "Ponorogo", "Nganjuk",
)  # fmt: skip
MALE_DORMS = ("Al-Falah", "Ar-Rahman", "An-Nur", "Al-Hikmah", "Al-Amin", "Al-Ikhlas")
FEMALE_DORMS = ("Al-Hidayah", "Ar-Raudhah", "Az-Zahra", "Al-Khadijah", "As-Salamah")
PHONE_PREFIXES = (
    "11", "12", "13", "21", "22", "23", "51", "52", "53", "14", "15", "16", "55", "56",
    "57", "58", "77", "78", "17", "18", "19", "59", "95", "96", "97", "98", "81", "82",
    "83", "87", "88", "89",
)  # fmt: skip
ROMAN = ("", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
MONTHS = (
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
)  # fmt: skip
#: The nested shape's unit codes for the flat shape's ``nama_unit``.
UNIT_IDS = {"Pondok": "01", "Formal": "02", "Diniyah": "03"}
#: The school year the demo idpersons (2025…) and birth dates are built around.
ROSTER_YEAR = 2025


def _rng(*parts: object) -> random.Random:
    """A random generator seeded from sha256 of the parts (stable across runs)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def uniform_draw(*parts: object) -> float:
    """One uniform number in [0, 1) from sha256 of the parts."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# --------------------------------------------------------------------------- students


def _class_name(unit: str, grade: int, rng: random.Random) -> str:
    roman = ROMAN[grade]
    if unit in ("SMA", "MA"):
        majors = ("IPA", "IPS") if unit == "SMA" else ("IPA", "IPS", "Agama")
        return f"{roman} {rng.choice(majors)} {rng.randint(1, 3)}"
    return f"{roman} {rng.choice('ABC')}"


def _unit_for(grade: int, rng: random.Random) -> str:
    if grade <= 6:
        return "SD"
    if grade <= 9:
        return "SMP" if rng.random() < 0.75 else "MTs"
    return "SMA" if rng.random() < 0.7 else "MA"


def student_profile(seed: int, idperson: str) -> dict[str, str]:
    """The roster row of one student (any idperson, not only the demo ones)."""
    rng = _rng(seed, "siswa", idperson)
    gender = rng.choice("LP")
    if gender == "L":
        given = rng.choice(MALE_NAMES)
        if given != "Muhammad" and rng.random() < 0.2:
            given = f"Muhammad {given}"
    else:
        given = rng.choice(FEMALE_NAMES)
    name = f"{given} {rng.choice(FAMILY_NAMES)}"
    birth_year = rng.randint(2007, 2012)
    birth = dt.date(birth_year, 1, 1) + dt.timedelta(days=rng.randrange(365))
    grade = ROSTER_YEAR - birth_year - 6 - (1 if rng.random() < 0.15 else 0)
    grade = min(max(grade, 6), 12)
    unit = _unit_for(grade, rng)
    boarder = rng.random() < 0.9
    dorm = rng.choice(MALE_DORMS if gender == "L" else FEMALE_DORMS) if boarder else ""
    room = str(rng.randint(1, 30)) if boarder else ""
    tingkat = rng.choice(("Ula", "Wustho") if grade <= 9 else ("Wustho", "Ulya"))
    phone = "08" + rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    return {
        "idperson": idperson,
        "nama": name,
        "gender": gender,
        "lahirtempat": rng.choice(BIRTHPLACES),
        "lahirtanggal": birth.isoformat(),
        "phone": phone,
        "UnitFormal": unit,
        "KelasFormal": _class_name(unit, grade, rng),
        "AsramaPondok": dorm,
        "KamarPondok": room,
        "TingkatDiniyah": tingkat,
        "KelasDiniyah": str(rng.randint(1, 3)),
    }


def demo_idpersons(n: int) -> Iterator[str]:
    """The demo idpersons: "2025000001", "2025000002", …"""
    return (str(FIRST_IDPERSON + i) for i in range(1, n + 1))


def demo_students(n: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` demo students, deterministic from ``seed``: dicts with the columns of
    ``fixtures/siswa.csv`` (`ROSTER_COLUMNS`), every value text (idperson too)."""
    if n < 0:
        raise ValueError(f"n: {n} must be at least 0")
    return [student_profile(seed, idperson) for idperson in demo_idpersons(n)]


# --------------------------------------------------------------------------- payments


@dataclass(frozen=True, slots=True)
class PaymentItem:
    """One bill and what was paid against it, the common data of both shapes."""

    period: str  # "20252026"
    title: str  # "SPP Juli"
    category: str  # "SPP"
    unit: str  # "Formal" | "Pondok" | "Diniyah"
    bill: int  # tagihan, whole rupiah
    paid: int  # dibayar, whole rupiah
    date: str  # due / journal date "YYYY-MM-DD"


def school_year(today: dt.date | None = None) -> int:
    """The first calendar year of the school year (July–June) holding ``today``."""
    today = today or dt.date.today()
    return today.year if today.month >= 7 else today.year - 1


def _month_date(start_year: int, index: int) -> dt.date:
    """The first day of month ``index`` (0 = July) of the school year."""
    month = 7 + index
    return dt.date(start_year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _round_down(amount: int, step: int) -> int:
    return max(0, amount // step * step)


_PAYERS = (("tertib", 0.45), ("telat", 0.25), ("sebagian", 0.15), ("lebih", 0.10))


def _payer(rng: random.Random) -> str:
    u = rng.random()
    for name, share in _PAYERS:
        if u < share:
            return name
        u -= share
    return "nunggak"


def payment_items(
    seed: int, idperson: str, *, year: int | None = None, version: int = 0
) -> list[PaymentItem]:
    """The payment items of one student over two school years (the one starting in
    ``year - 1`` and the one starting in ``year``; ``year`` defaults to the school year
    holding today).

    Bills are round amounts (multiples of 25,000); payments follow one of five payer
    habits (pays on time, pays late, pays part, pays too much, in arrears), so the
    answers show arrears, overpayments and items not due yet.  ``version`` > 0 redraws
    the payments of about a quarter of the students per step (a "new month" in the
    finance system); bills and dates never change.
    """
    start = school_year() if year is None else year
    today = dt.date.today() if year is None else None
    cutoff = today or _month_date(start, 4)  # a pinned year: "today" is 1 November
    profile = student_profile(seed, idperson)
    bills = _rng(seed, "tagihan", idperson)
    touched = sum(1 for v in range(1, version + 1) if uniform_draw(seed, "v", v, idperson) < 0.25)
    pays = _rng(seed, "bayar", idperson, touched)
    payer = _payer(pays)
    senior = profile["UnitFormal"] in ("SMA", "MA")
    boarder = bool(profile["AsramaPondok"])

    spp_choices = (250_000, 300_000, 350_000, 400_000) if senior else (150_000, 200_000, 250_000)
    spp_now = bills.choice(spp_choices)
    makan = bills.choice((300_000, 350_000, 400_000, 450_000))
    # (period, title, category, unit, bill, date, due?) of every item, then the payments
    bills_due: list[tuple[str, str, str, str, int, str, bool]] = []
    for offset, spp in ((-1, spp_now - bills.choice((0, 25_000, 50_000))), (0, spp_now)):
        first = start + offset
        period = f"{first}{first + 1}"
        daftar = bills.randrange(500_000, 1_000_001, 50_000)
        kitab = bills.randrange(75_000, 200_001, 25_000)
        months = [_month_date(first, index) for index in range(12)]
        due_of = [day <= cutoff for day in months]
        bills_due.append(
            (period, "Daftar Ulang", "Daftar Ulang", "Pondok", daftar, f"{first}-07-01", due_of[0])
        )
        bills_due.append(
            (period, "Kitab Diniyah", "Kitab", "Diniyah", kitab, f"{first}-08-01", due_of[1])
        )
        for month, day, due in zip(MONTHS, months, due_of, strict=True):
            text = day.isoformat()
            bills_due.append((period, f"SPP {month}", "SPP", "Formal", spp, text, due))
            if boarder:
                bills_due.append(
                    (period, f"Uang Makan {month}", "Uang Makan", "Pondok", makan, text, due)
                )
    due_list = [i for i, spec in enumerate(bills_due) if spec[6]]
    late = set(due_list[-pays.randint(1, 3) :]) if payer == "telat" else set()
    count = min(len(due_list), pays.randint(1, 2))
    special = set(pays.sample(due_list, count))
    result: list[PaymentItem] = []
    for i, (period, title, category, unit, bill, on, due) in enumerate(bills_due):
        if not due:  # not due yet: mostly unpaid, sometimes paid in advance
            paid = bill if pays.random() < 0.08 else 0
        elif payer == "nunggak":
            paid = 0 if pays.random() < 0.5 else bill
        elif i in late:
            paid = 0
        elif payer == "sebagian" and i in special:
            paid = _round_down(bill * pays.choice((1, 2, 3)) // 4, 5_000)
        elif payer == "lebih" and i in special:
            paid = bill + pays.randrange(25_000, 100_001, 25_000)
        else:
            paid = bill
        result.append(PaymentItem(period, title, category, unit, bill, paid, on))
    return result


def render_flat(items: list[PaymentItem]) -> dict[str, Any]:
    """The ``flat`` shape: the finance database's own column names."""
    return {
        "status": True,
        "data": [
            {
                "idperiode": item.period,
                "judul": item.title,
                "nama_unit": item.unit,
                "jml_kredit": item.bill,
                "jml_debet": item.paid,
                "tgl_jurnal": item.date,
            }
            for item in items
        ],
    }


def _summary(items: list[PaymentItem]) -> dict[str, Any]:
    # The real API's names are swapped throughout: "billed" sums the payments.
    remaining = sum(max(item.bill - item.paid, 0) for item in items)
    return {
        "total_billed": sum(item.paid for item in items),
        "total_paid": sum(item.bill for item in items),
        "total_remaining": remaining,
        "fully_paid": remaining == 0,
    }


def _previous_class(unit: str, kelas: str) -> str:
    """The class a student was in a year earlier ("SMP - VIII B" → "SMP - VII B")."""
    roman, _, rest = kelas.partition(" ")
    grade = ROMAN.index(roman) if roman in ROMAN else 0
    if grade <= 1:
        return f"{unit} - {kelas}"
    previous = grade - 1
    if previous == 9:
        return f"{'MTs' if unit == 'MA' else 'SMP'} - IX A"
    if previous == 6:
        return "SD - VI A"
    return f"{unit} - {ROMAN[previous]} {rest}".rstrip()


def render_nested(
    items: list[PaymentItem], *, unit: str, kelas: str, deposit: int = 0
) -> dict[str, Any]:
    """The ``nested`` shape, as the fixture's API gives it: periods → categories →
    items, with its swap (``amount_paid`` is the bill, ``amount_billed`` the payment),
    summaries in the same swapped names, and ``saldo`` = the overpayments plus a
    deposit the student keeps with the finance office."""
    periods: dict[str, dict[str, list[PaymentItem]]] = {}
    for item in items:
        periods.setdefault(item.period, {}).setdefault(item.category, []).append(item)
    last = max(periods, default="")
    rendered = []
    for period, categories in periods.items():
        in_period = [item for group in categories.values() for item in group]
        kelas_info = f"{unit} - {kelas}" if period == last else _previous_class(unit, kelas)
        rendered.append(
            {
                "period_id": period,
                "kelas_info": kelas_info,
                "summary": _summary(in_period),
                "categories": [
                    {
                        "category_name": name,
                        "summary": _summary(group),
                        "items": [
                            {
                                "unit_id": UNIT_IDS.get(item.unit, "00"),
                                "unit_name": item.title,
                                "amount_paid": item.bill,
                                "amount_billed": item.paid,
                                "remaining_balance": max(item.bill - item.paid, 0),
                                "payment_status": "paid" if item.paid >= item.bill else "unpaid",
                                "journal_date": item.date,
                            }
                            for item in group
                        ],
                    }
                    for name, group in categories.items()
                ],
            }
        )
    saldo = sum(max(item.paid - item.bill, 0) for item in items) + deposit
    return {"status": True, "data": [{"saldo": saldo, "periods": rendered}]}


def deposit_of(seed: int, idperson: str) -> int:
    """The deposit (titipan) the nested shape adds to ``saldo``: mostly 0."""
    rng = _rng(seed, "titipan", idperson)
    return rng.randrange(5_000, 100_001, 5_000) if rng.random() < 0.2 else 0
