"""One student's page (``/admin/siswa/{idperson}``): its view-model for
``siswa_detail.html`` and its JSON answer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from ...students.detail import Detail, Group
from ...students.records import TOTALS
from ...sync.money import Item
from ..dates import format_date, format_datetime
from ..format import STATE_BADGE, STATE_LABEL, iso_utc, json_amount, rupiah
from ..i18n import reason, text
from .siswa_list import BASE, student_url

__all__ = ["detail_context", "detail_json", "period_label"]


def period_label(request: web.Request, period: str) -> str:
    if not period:
        return text(request, "siswa.period.none")
    if len(period) == 8 and period.isdigit():
        return text(request, "siswa.period.year", first=period[:4], second=period[4:])
    return text(request, "siswa.period.other", period=period)


def detail_json(request: web.Request, detail: Detail) -> dict[str, Any]:
    """The student's JSON answer (without the watched run's state)."""
    student = detail.student
    return {
        "idperson": student.idperson,
        "nama": student.nama,
        "gender": student.gender,
        "unit": student.unit,
        "kelas": student.kelas,
        "asrama": student.asrama,
        "kamar": student.kamar,
        "tingkat_diniyah": student.tingkat_diniyah,
        "kelas_diniyah": student.kelas_diniyah,
        "status": student.state,
        "synced_at": iso_utc(student.synced_at),
        "sync_error": student.sync_error,
        "totals": {key: json_amount(student.totals[key]) for key in TOTALS},
        "parse_error": detail.parse_error,
        "groups": [_group_json(request, group) for group in detail.groups],
    }


def _group_json(request: web.Request, group: Group) -> dict[str, Any]:
    totals = group.totals
    return {
        "period": group.period,
        "label": period_label(request, group.period),
        "totals": {
            "tagihan": json_amount(totals.total_tagihan),
            "dibayar": json_amount(totals.total_dibayar),
            "tunggakan": json_amount(totals.total_tunggakan),
            "kelebihan": json_amount(totals.total_kelebihan),
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


@dataclass(frozen=True)
class ItemRow:
    """One payment item, worded. ``state``: paid, short, over or not-due."""

    state: str
    state_label: str
    due_flag: str
    due: str
    title: str
    category: str
    tagihan: str
    dibayar: str
    tunggakan: str


_ITEM_STATES = {
    "not-due": "siswa.item.not_due",
    "short": "siswa.item.short",
    "over": "siswa.item.over",
    "paid": "siswa.item.paid",
}


def _item_row(request: web.Request, item: Item, group: Group) -> ItemRow:
    due = item.is_due(group.today)
    short = item.tagihan - item.dibayar
    if not due:
        state = "not-due"
    elif short > 0:
        state = "short"
    elif short < 0:
        state = "over"
    else:
        state = "paid"
    return ItemRow(
        state=state,
        state_label=text(request, _ITEM_STATES[state]),
        due_flag="1" if due else "0",
        due=format_date(request, item.due) if item.due else "—",
        title=item.title or "—",
        category=item.category or "—",
        tagihan=rupiah(item.tagihan),
        dibayar=rupiah(item.dibayar),
        tunggakan=rupiah(max(short, Decimal(0))) if due else "—",
    )


def _group(request: web.Request, group: Group) -> dict[str, Any]:
    totals = group.totals
    return {
        "period": group.period,
        "label": period_label(request, group.period),
        "items": [_item_row(request, item, group) for item in group.items],
        "tagihan": rupiah(totals.total_tagihan),
        "dibayar": rupiah(totals.total_dibayar),
        "tunggakan": rupiah(totals.total_tunggakan),
        "not_due": group.not_due,
    }


def _joined(*values: str | None) -> str:
    return " ".join(v for v in values if v)


def detail_context(request: web.Request, detail: Detail) -> dict[str, Any]:
    """The view-model of ``siswa_detail.html``."""
    student = detail.student
    error = reason(request, student.sync_error) if student.sync_error else ""
    return {
        "back": BASE,
        "idperson": student.idperson,
        "nama": student.nama,
        "sync_url": f"{student_url(student.idperson)}/sync",
        "facts": {
            "unit": student.unit or "—",
            "kelas": student.kelas or "—",
            "asrama": _joined(student.asrama, student.kamar) or "—",
            "diniyah": _joined(student.tingkat_diniyah, student.kelas_diniyah) or "—",
            "state": student.state,
            "badge": STATE_BADGE[student.state],
            "state_label": text(request, STATE_LABEL[student.state]),
            "synced_iso": iso_utc(student.synced_at) or "",
            "synced": format_datetime(request, student.synced_at),
            "error": error,
        },
        "totals": {key: rupiah(student.totals[key]) for key in TOTALS},
        "unreadable": detail.parse_error is not None,
        "parse_error": detail.parse_error,
        "no_answer": student.answer is None,
        "groups": [_group(request, group) for group in detail.groups],
    }
