"""The users page (``/admin/users``): each user's scope in words, the view-model of
``users.html`` (the forms' choices: the roster's units, classes, dormitories and
diniyah levels, the user's own values checked) and the JSON shape of a user."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ...accounts import MAX_PASSWORD, ROLES, User
from ...officers import OfficerScope
from ..dates import format_datetime, moment
from ..format import iso_utc
from ..i18n import text

__all__ = [
    "BASE",
    "MIN_PASSWORD",
    "Roster",
    "effective_scope",
    "scope_text",
    "user_json",
    "user_url",
    "users_context",
]

BASE = "/admin/users"
#: The shortest password the reset form takes (``accounts.check_password``'s rule).
MIN_PASSWORD = 8


@dataclass(frozen=True, slots=True)
class Roster:
    """What a scope can name, as the roster holds it: units, (unit, class) pairs in the
    student list's class order, dormitories and diniyah levels."""

    units: Sequence[str] = ()
    kelas: Sequence[tuple[str, str]] = ()
    asrama: Sequence[str] = ()
    diniyah: Sequence[str] = ()


def user_url(name: str, action: str = "") -> str:
    """``/admin/users/<name>/<action>`` (the name quoted whole: it may hold a ``/``)."""
    path = f"{BASE}/{quote(name, safe='')}"
    return f"{path}/{action}" if action else path


def effective_scope(row: Mapping[str, Any]) -> OfficerScope | None:
    """The scope a users row gives: None for an admin, an unreadable or an empty one."""
    if str(row.get("role")) == "admin":
        return None
    try:
        return OfficerScope.from_json(row.get("scope"))
    except (ValueError, TypeError, AttributeError):
        return None


def scope_text(request: web.Request, scope: OfficerScope | None, role: str) -> str:
    """ "Unit SMP · Kelas SMP:VII A · Asrama Al-Fatih" or "Semua siswa"."""
    if role == "admin":
        return text(request, "users.scope.admin")
    if scope is None or scope.is_empty:
        return text(request, "users.scope.all")
    parts = [text(request, "users.scope.unit", unit=u) for u in scope.units]
    parts += [text(request, "users.scope.kelas", unit=u, kelas=k) for u, k in scope.kelas]
    parts += [text(request, "users.scope.asrama", asrama=a) for a in scope.asrama]
    parts += [text(request, "users.scope.diniyah", diniyah=d) for d in scope.diniyah]
    return " · ".join(parts)


def user_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """One user of the JSON answers: name, role, scope (null: every student), created."""
    scope = effective_scope(row)
    return {
        "name": str(row["name"]),
        "role": str(row["role"]),
        "scope": None if scope is None else scope.to_dict(),
        "created_at": iso_utc(moment(row.get("created_at"))),
    }


# --- the page --------------------------------------------------------------------------------


def _plain(
    request: web.Request, values: Sequence[str], chosen: Sequence[str]
) -> list[dict[str, Any]]:
    """Checkboxes for a list of values: the roster's, then the chosen ones it lacks."""
    gone = text(request, "users.scope.gone")
    known = set(values)
    items = [{"value": v, "label": v, "checked": v in chosen} for v in values]
    items += [
        {"value": v, "label": f"{v} {gone}", "checked": True} for v in chosen if v not in known
    ]
    return items


def _classes(
    request: web.Request, pairs: Sequence[tuple[str, str]], chosen: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The classes grouped by unit (in the roster's order), each a checkbox whose value
    is ``UNIT:KELAS``; a group is shown open when one of its classes is ticked (folded,
    a school's hundred classes would make the form a few metres long on a phone)."""
    gone = text(request, "users.scope.gone")
    known = set(pairs)
    groups: dict[str, list[dict[str, Any]]] = {}
    for unit, kelas in [*pairs, *(p for p in chosen if p not in known)]:
        label = kelas if (unit, kelas) in known else f"{kelas} {gone}"
        groups.setdefault(unit, []).append(
            {"value": f"{unit}:{kelas}", "label": label, "checked": (unit, kelas) in chosen}
        )
    return [
        {
            "unit": unit,
            "items": items,
            "open": any(item["checked"] for item in items),
            "count": text(
                request,
                "users.scope.ticked",
                ticked=sum(1 for item in items if item["checked"]),
                total=len(items),
            ),
        }
        for unit, items in sorted(groups.items())
    ]


def _user(request: web.Request, row: Mapping[str, Any], roster: Roster, me: User) -> dict[str, Any]:
    name, role = str(row["name"]), str(row["role"])
    scope = effective_scope(row) or OfficerScope()
    return {
        "name": name,
        "me": int(row["id"]) == me.id,
        "role": role,
        "role_label": text(request, f"role.{role}"),
        "petugas": role != "admin",
        "scoped": role != "admin" and not scope.is_empty,
        "scope_text": scope_text(request, scope, role),
        "created": format_datetime(request, row.get("created_at")),
        "created_iso": iso_utc(moment(row.get("created_at"))) or "",
        "role_url": user_url(name, "role"),
        "scope_url": user_url(name, "scope"),
        "password_url": user_url(name, "password"),
        "roles": [
            {"value": r, "label": text(request, f"role.{r}"), "selected": r == role} for r in ROLES
        ],
        "units": _plain(request, roster.units, scope.units),
        "kelas": _classes(request, roster.kelas, scope.kelas),
        "asrama": _plain(request, roster.asrama, scope.asrama),
        "diniyah": _plain(request, roster.diniyah, scope.diniyah),
    }


def users_context(
    request: web.Request,
    rows: Sequence[Mapping[str, Any]],
    roster: Roster,
    me: User,
    *,
    csrf: str,
    notice: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The view-model of ``users.html``."""
    return {
        "csrf": csrf,
        "notice": notice,
        "error": error,
        "users": [_user(request, row, roster, me) for row in rows],
        "min_password": MIN_PASSWORD,
        "max_password": MAX_PASSWORD,
    }
