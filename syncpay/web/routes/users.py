"""The users page ``/admin/users`` (admins only): every user with their role and scope,
and per user a form to set the role, one to set the scope (the roster's units, classes,
dormitories and diniyah levels as checkboxes; nothing checked, or the "clear" button:
every student) and one to reset the password (the user's sessions end).

``GET /admin/users`` answers JSON to a client that asks for it. The three actions,
``POST /admin/users/{name}/role``, ``…/scope`` and ``…/password``, take a form (the
page's, with its CSRF ``_token``) or a JSON object; a JSON client gets the user as it
now is, a form is sent back to the page with a notice (or shown the page again with the
refusal, in one line). The accounts are changed by :class:`~syncpay.accounts.Accounts`;
the view-model is :mod:`..views.users`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ...accounts import MAX_PASSWORD, ROLES, AccountError, LastAdmin, User
from ...officers import MAX_PARTS, MAX_VALUE, OfficerScope, ScopeFlagError
from ..auth import admin_only, current_user
from ..errors import ApiError, json_capable, json_ok
from ..i18n import text
from ..keys import ACCOUNTS, RECENT_USERS, SYNCPAY
from ..pages import fill, page
from ..requests import check_text, read_body, read_form, wants_json
from ..session import SESSION
from ..views.users import (
    BASE,
    MIN_PASSWORD,
    Roster,
    effective_scope,
    scope_text,
    user_json,
    users_context,
)

__all__ = ["BASE", "MAX_CHOICES", "MAX_NAME", "SCOPE_FIELDS", "routes"]

routes = web.RouteTableDef()

#: The longest user name (``accounts.check_name``); a longer one in a path is no user.
MAX_NAME = 191
#: The most dormitories and diniyah levels the scope form offers (each, sorted).
MAX_CHOICES = 1000
#: The scope's fields in a form or a JSON object (a text or a list of them each;
#: ``kelas`` as ``UNIT:KELAS``, or in JSON also ``{"unit": …, "kelas": …}``).
SCOPE_FIELDS = ("units", "kelas", "asrama", "diniyah")
#: Actions after which the page shows a notice (``?done=…&user=…``).
DONE = ("role", "scope", "password")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

Fields = dict[str, Any]
Action = Callable[[web.Request, Mapping[str, Any], Fields, bool], Awaitable[None]]


# --- reading a request -------------------------------------------------------------------------


async def _fields(request: web.Request) -> tuple[Fields, bool]:
    """The body's fields (a JSON object, or a form whose fields are lists of their
    values) and whether it was a form."""
    if request.content_type in FORM_TYPES:
        form = await read_form(request)
        fields: Fields = {}
        for key in set(form.keys()):
            if key != "_token":
                fields[key] = [v for v in form.getall(key) if isinstance(v, str)]
        return fields, True
    raw = await read_body(request)
    if not raw.strip():
        return {}, False
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(422, text(request, "sync.err.bad_json")) from None
    if not isinstance(data, dict):
        raise ApiError(422, text(request, "sync.err.not_object"))
    return data, False


def _one(request: web.Request, fields: Fields, name: str, form: bool) -> str:
    """A text field (a form's last value); "" when not given."""
    value = fields.get(name)
    if form and isinstance(value, list):
        value = value[-1] if value else None
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(422, text(request, "sync.err.not_text", field=name))
    return value


def _texts(request: web.Request, fields: Fields, name: str, form: bool) -> list[Any]:
    """A scope field's values (a text or a list; a form's empty boxes skipped), each
    checked: text, not empty, not too long, printable; a class ``UNIT:KELAS`` (or in
    JSON ``{"unit": …, "kelas": …}``) as a (unit, class) pair."""
    value = fields.get(name)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_PARTS:
        raise ApiError(422, text(request, "users.err.too_many", field=name, max=MAX_PARTS))
    found: list[Any] = []
    for item in items:
        if form and isinstance(item, str) and not item.strip():
            continue
        found.append(_kelas(request, item, form) if name == "kelas" else _part(request, item, name))
    return found


def _kelas(request: web.Request, item: Any, form: bool) -> tuple[str, str]:
    if isinstance(item, dict) and not form and set(item) <= {"unit", "kelas"}:
        return _part(request, item.get("unit"), "kelas"), _part(request, item.get("kelas"), "kelas")
    if not isinstance(item, str):
        raise ApiError(422, text(request, "users.err.not_list", field="kelas"))
    check_text(request, item, "kelas")
    if not form and len(item) > MAX_VALUE:  # longer: as {"unit": …, "kelas": …}
        raise ApiError(422, text(request, "sync.err.too_long", field="kelas", max=MAX_VALUE))
    unit, colon, kelas = item.partition(":")
    if not colon or not unit.strip() or not kelas.strip():
        raise ApiError(422, text(request, "users.err.kelas", value=item.strip()[:MAX_VALUE]))
    return _part(request, unit, "kelas"), _part(request, kelas, "kelas")


def _part(request: web.Request, value: Any, name: str) -> str:
    """One value: a text of at most MAX_VALUE characters (spaces around it count, as in
    the document), not blank, no control character; trimmed."""
    if not isinstance(value, str):
        raise ApiError(422, text(request, "users.err.not_list", field=name))
    check_text(request, value, name)
    if len(value) > MAX_VALUE:
        raise ApiError(422, text(request, "sync.err.too_long", field=name, max=MAX_VALUE))
    value = value.strip()
    if not value:
        raise ApiError(422, text(request, "sync.err.empty", field=name))
    return value


# --- the page ----------------------------------------------------------------------------------


async def _roster(request: web.Request) -> Roster:
    """The values a scope can name: the roster's units and classes (the student list's
    choices) and its dormitories and diniyah levels."""
    db = request.app[ACCOUNTS].db
    # Dormitories and levels have no index: each is a scan of the roster (0.1-0.3 s at
    # 100,000 students with their payment answers, SQLite); asked together (MariaDB's
    # pool answers them at once, SQLite one after the other).
    choices, asrama, diniyah = await asyncio.gather(
        request.app[SYNCPAY].students.choices(),
        db.fetch_all("siswa_asrama_values", {"limit": MAX_CHOICES}),
        db.fetch_all("siswa_diniyah_values", {"limit": MAX_CHOICES}),
    )
    kelas = [(unit, k) for k, units in choices.kelas.items() for unit in units]
    return Roster(
        units=choices.units,
        kelas=kelas,
        asrama=[str(r["value"]) for r in asrama],
        diniyah=[str(r["value"]) for r in diniyah],
    )


def _notice(request: web.Request, rows: list[dict[str, Any]]) -> str | None:
    """The words for ``?done=<action>&user=<name>`` (after a form's action), or None."""
    done, name = request.query.get("done"), request.query.get("user")
    row = next((r for r in rows if str(r["name"]) == name), None)
    if done not in DONE or row is None:
        return None
    return _done_text(request, done, row)


def _done_text(request: web.Request, done: str, row: Mapping[str, Any]) -> str:
    role = str(row["role"])
    return text(
        request,
        f"users.done.{done}",
        name=str(row["name"]),
        role=text(request, f"role.{role}"),
        scope=scope_text(request, effective_scope(row), role),
    )


async def _page(
    request: web.Request, *, error: str | None = None, status: int = 200
) -> web.Response:
    rows = await request.app[ACCOUNTS].users()
    context = users_context(
        request,
        rows,
        await _roster(request),
        current_user(request),
        csrf=request[SESSION].csrf,
        notice=None if error else _notice(request, rows),
        error=error,
    )
    return page(
        request,
        text(request, "users.title"),
        fill(request, "users.html", context),
        styles=["users.css"],
        status=status,
        body_class="users-page",
    )


@routes.get(BASE)
@admin_only
@json_capable
async def users_page(request: web.Request) -> web.Response:
    if wants_json(request):
        rows = await request.app[ACCOUNTS].users()
        return json_ok(data=[user_json(row) for row in rows])
    return await _page(request)


# --- the actions -------------------------------------------------------------------------------


async def _target(request: web.Request) -> dict[str, Any]:
    """The user the path names (404 when there is none)."""
    name = request.match_info["name"]
    row = None
    if len(name) <= MAX_NAME and name.isprintable():
        row = await request.app[ACCOUNTS].find_user(name)
    if row is None:
        raise ApiError(404, text(request, "users.err.not_found", name=name[:MAX_NAME]))
    return row


async def _act(request: web.Request, done: str, action: Action) -> web.Response:
    """Run one action on the path's user; answer JSON, or send a form back to the page
    (its notice; the login page when the action ended the caller's own session)."""
    form = request.content_type in FORM_TYPES
    try:
        row = await _target(request)
        fields, form = await _fields(request)
        await action(request, row, fields, form)
    except ApiError as exc:
        if wants_json(request) or not form:
            raise
        return await _page(request, error=exc.message, status=exc.status)
    # Sessions and tokens read the role and scope anew, in this process at once.
    request.app[RECENT_USERS].clear()
    name = str(row["name"])
    rows = await request.app[ACCOUNTS].users()
    after = next((r for r in rows if str(r["name"]) == name), row)
    if wants_json(request):
        return json_ok(_done_text(request, done, after), user=user_json(after))
    me = current_user(request)
    if int(row["id"]) == me.id and me.via == "session" and done in ("role", "password"):
        raise web.HTTPFound("/login")  # the action ended this session
    raise web.HTTPFound(f"{BASE}?{urlencode({'done': done, 'user': name})}")


async def _change_role(
    request: web.Request, row: Mapping[str, Any], fields: Fields, form: bool
) -> None:
    role = _one(request, fields, "role", form).strip()
    if role not in ROLES:
        raise ApiError(422, text(request, "users.err.role"))
    accounts = request.app[ACCOUNTS]
    await _accounts_call(request, row, accounts.set_role(str(row["name"]), role))


async def _change_scope(
    request: web.Request, row: Mapping[str, Any], fields: Fields, form: bool
) -> None:
    """The scope becomes exactly the parts sent; none (the page's "clear" button, or
    nothing checked): every student. A JSON field that is not a part is refused (a
    misspelt ``unit`` would otherwise clear the scope)."""
    if not form:
        unknown = sorted(name for name in fields if name not in SCOPE_FIELDS)
        if unknown:
            raise ApiError(422, text(request, "users.err.unknown_field", field=unknown[0][:40]))
    values = {name: _texts(request, fields, name, form) for name in SCOPE_FIELDS}
    try:
        scope = OfficerScope.parse(**values)
    except ScopeFlagError as exc:
        raise ApiError(422, text(request, exc.key, **exc.values)) from None
    if str(row["role"]) == "admin" and not scope.is_empty:
        raise ApiError(409, text(request, "users.err.admin_scope", name=str(row["name"])))
    accounts = request.app[ACCOUNTS]
    stored = None if scope.is_empty else scope
    await _accounts_call(request, row, accounts.set_scope(str(row["name"]), stored))


async def _change_password(
    request: web.Request, row: Mapping[str, Any], fields: Fields, form: bool
) -> None:
    password = _one(request, fields, "password", form)
    check_text(request, password, "password")
    if len(password) < MIN_PASSWORD:
        raise ApiError(422, text(request, "users.err.password_short", min=MIN_PASSWORD))
    if len(password) > MAX_PASSWORD:
        raise ApiError(422, text(request, "users.err.password_long", max=MAX_PASSWORD))
    # The page's form has the password typed twice; a script sends it once.
    if form and _one(request, fields, "password_confirmation", form) != password:
        raise ApiError(422, text(request, "users.err.password_mismatch"))
    accounts = request.app[ACCOUNTS]
    await _accounts_call(request, row, accounts.reset_password(str(row["name"]), password))


async def _accounts_call(
    request: web.Request, row: Mapping[str, Any], call: Awaitable[User]
) -> None:
    """An accounts method; its refusal as a 409 (the last admin), a 404 (the user
    removed meanwhile) or a 422 in the page's words."""
    try:
        await call
    except LastAdmin:  # checked in the transaction that would demote them
        raise ApiError(409, text(request, "users.err.last_admin", name=str(row["name"]))) from None
    except AccountError as exc:
        if exc.key != "cli.user.not_found":
            raise ApiError(422, text(request, exc.key, **exc.values)) from None
        raise ApiError(404, text(request, "users.err.not_found", name=str(row["name"]))) from None


@routes.post(BASE + "/{name}/role")
@admin_only
@json_capable
async def set_role(request: web.Request) -> web.Response:
    return await _act(request, "role", _change_role)


@routes.post(BASE + "/{name}/scope")
@admin_only
@json_capable
async def set_scope(request: web.Request) -> web.Response:
    return await _act(request, "scope", _change_scope)


@routes.post(BASE + "/{name}/password")
@admin_only
@json_capable
async def reset_password(request: web.Request) -> web.Response:
    return await _act(request, "password", _change_password)
