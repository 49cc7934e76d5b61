"""One student's page (``/admin/siswa/{idperson}``): its view-model for
``siswa_detail.html`` (with ``siswa_history.html``: the history of the student's
totals and its sparkline) and its JSON answer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from ...students.detail import Detail, Group
from ...students.history import Change, History
from ...students.records import TOTALS
from ...sync.money import Item
from ..charts.sparkline import sparkline
from ..dates import format_date, format_datetime
from ..format import STATE_BADGE, STATE_LABEL, iso_utc, json_amount, rupiah
from ..i18n import reason, text
from .siswa_list import BASE, SYNC_PAGE, student_url

__all__ = ["detail_context", "detail_json", "history_context", "history_json", "period_label"]

#: What a history line's run links to while the run is kept: the students it changed.
RUN_CHANGES = SYNC_PAGE + "/runs/{run}/changes"


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
        **history_json(detail.history),
    }


def history_json(history: History) -> dict[str, Any]:
    """``history`` (newest first, at most ``history_limit`` lines) and ``history_more``
    (older lines exist that are not listed)."""
    return {
        "history": [
            {
                "changed_at": iso_utc(change.changed_at),
                "run_id": change.run_id,
                "run_kept": change.run_kept,
                "tunggakan_before": json_amount(change.tunggakan_before),
                "tunggakan_after": json_amount(change.tunggakan_after),
                "kelebihan_before": json_amount(change.kelebihan_before),
                "kelebihan_after": json_amount(change.kelebihan_after),
                "status_before": change.state_before,
                "status_after": change.state_after,
            }
            for change in history.changes
        ],
        "history_more": history.more,
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


@dataclass(frozen=True)
class HistoryRow:
    """One line of the history, worded. ``trend``: the arrears went up, down or stayed
    (``same``); ``first`` for the first sync."""

    iso: str
    when: str
    run: str
    run_url: str
    run_note: str
    trend: str
    tunggakan: str
    kelebihan: str
    state: str
    badge: str
    state_label: str


def _change(request: web.Request, before: str | None, after: str) -> str:
    """``after``, or ``before → after`` when it changed."""
    if before is None or before == after:
        return after
    return text(request, "siswa.history.change", before=before, after=after)


def _amounts(request: web.Request, before: Decimal | None, after: Decimal) -> str:
    return _change(request, None if before is None else rupiah(before), rupiah(after))


def _trend(change: Change) -> str:
    if change.tunggakan_before is None:
        return "first"
    if change.tunggakan_after == change.tunggakan_before:
        return "same"
    return "up" if change.tunggakan_after > change.tunggakan_before else "down"


def _history_row(request: web.Request, change: Change) -> HistoryRow:
    run = "" if change.run_id is None else f"#{change.run_id}"
    kept = change.run_kept and change.run_id is not None
    state_before = text(request, STATE_LABEL[change.state_before])
    state_after = text(request, STATE_LABEL[change.state_after])
    return HistoryRow(
        iso=iso_utc(change.changed_at) or "",
        when=format_datetime(request, change.changed_at),
        run=run,
        run_url=RUN_CHANGES.format(run=change.run_id) if kept else "",
        run_note="" if kept or not run else text(request, "siswa.history.run_gone", run=run),
        trend=_trend(change),
        tunggakan=_amounts(request, change.tunggakan_before, change.tunggakan_after),
        kelebihan=_amounts(request, change.kelebihan_before, change.kelebihan_after),
        state=change.state_after,
        badge=STATE_BADGE[change.state_after],
        state_label=_change(request, state_before, state_after),
    )


def _spark(request: web.Request, history: History) -> dict[str, Any] | None:
    """The arrears' sparkline over the lines shown, and its numbers as text."""
    oldest = history.oldest_first()
    if not oldest:
        return None
    line = sparkline(
        [(c.changed_at, c.tunggakan_after) for c in oldest], start=oldest[0].tunggakan_before
    )
    if line is None:
        return None
    first, last = line.points[0], line.last
    start = oldest[0].changed_at
    return {
        "width": line.width,
        "height": line.height,
        "path": line.path,
        "base": line.base,
        "dots": [
            {
                "x": point.x,
                "y": point.y,
                "title": text(
                    request,
                    "siswa.history.spark.point",
                    when=format_datetime(request, point.at),
                    amount=rupiah(point.value),
                ),
            }
            for point in line.points
            if point.at is not None
        ],
        "desc": text(
            request,
            "siswa.history.spark.desc",
            first=rupiah(first.value),
            last=rupiah(last.value),
            high=rupiah(line.high),
            low=rupiah(line.low),
            since=format_datetime(request, start),
        ),
        "high": rupiah(line.high),
        "low": rupiah(line.low),
        "last": rupiah(last.value),
    }


def history_context(request: web.Request, history: History) -> dict[str, Any]:
    """The view-model of ``siswa_history.html``: the lines (newest first), whether
    there are more than shown, and the sparkline (None without lines)."""
    return {
        "lines": [_history_row(request, change) for change in history.changes],
        "more": history.more,
        "limit": history.limit,
        "spark": _spark(request, history),
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
        "history": history_context(request, detail.history),
    }
