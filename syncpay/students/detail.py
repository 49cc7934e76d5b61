"""One student's page: the stored answer parsed, its items grouped by period, and the
history of the student's totals (:mod:`.history`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ..sync.money import Item, Totals, compute_totals
from ..sync.parsers import ParseError, Parser
from .history import History
from .records import StudentRecord

__all__ = ["Detail", "Group", "group_items", "parse_answer"]


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


def parse_answer(parser: Parser, answer: str | None) -> tuple[list[Item], str | None]:
    """The stored answer's items, read with the configured parser (or why not)."""
    if answer is None:
        return [], None
    try:
        return list(parser(answer).items), None
    except ParseError as exc:
        return [], str(exc)


@dataclass
class Detail:
    """A student, the payment items by period, why the answer could not be read
    (``parse_error``, None when it could), and the history of the student's totals."""

    student: StudentRecord
    groups: list[Group]
    parse_error: str | None
    history: History

    @classmethod
    def of(cls, student: StudentRecord, parser: Parser, today: date, history: History) -> Detail:
        items, problem = parse_answer(parser, student.answer)
        return cls(student, group_items(items, today), problem, history)
