"""The sync page ``/admin/sync-pembayaran``, its JSON routes and its WebSocket.

The JSON routes follow SPEC §6: ``start``, ``cancel``, ``reset`` (admins) and
``progress`` (any user), plus what the page needs: ``failed``, ``retry-failed``,
``runs`` and ``scopes``. The page is rendered with the current state and kept live by
``static/sync.js`` over ``…/ws`` (see :mod:`..live`), falling back to polling
``progress``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ...sync.progress import Progress, iso
from ...sync.records import FailedStudent, LogLine, RunSummary
from ...sync.runs import (
    NoStudents,
    RunConflict,
    RunNotFound,
    SyncError,
)
from ...sync.scope import ScopeError
from ..auth import admin_only, current_user, signed_in_check
from ..dates import format_clock, format_datetime
from ..errors import ApiError, json_ok, json_route
from ..i18n import language, reason, text
from ..keys import CATALOGS, MAINTENANCE, SETTINGS, SYNCPAY, WORKER
from ..live import HUB
from ..pages import page
from ..render import Markup, h, join, render
from ..requests import check_text, read_body, read_form

routes = web.RouteTableDef()
BASE = "/admin/sync-pembayaran"

#: Longest values a scope may name (the roster's column widths) and most ids at once.
MAX_UNIT = 100
MAX_IDPERSON = 32
MAX_IDS = 10_000
#: Largest number accepted for ids and cursors (beyond any real run or log id).
MAX_NUMBER = 10**15
#: Failed students and recent runs shown on the page.
PAGE_FAILED = 100
PAGE_RUNS = 10
#: Most failed students and runs one request may ask for (``?limit=``).
MAX_FAILED = 1000
MAX_RUNS = 100

#: The HTTP status of each refusal of the sync layer, by its type (the first that the
#: exception is an instance of); a scope that cannot be is a 422 like other bad input.
STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (RunConflict, 409),
    (RunNotFound, 404),
    (NoStudents, 400),
    (ScopeError, 422),
    (SyncError, 400),
)


def refusal_status(exc: Exception) -> int:
    return next(status for kind, status in STATUSES if isinstance(exc, kind))


def _refusal(request: web.Request, exc: SyncError | ScopeError) -> ApiError:
    """The sync layer's refusal worded in the request's language from its key and values,
    with the active run's details for a conflict."""
    message = text(request, exc.key, **exc.values)
    extra: dict[str, Any] = {}
    if isinstance(exc, RunConflict) and exc.run is not None:
        extra = {
            "run_id": exc.run.id,
            "started_by": exc.run.started_by,
            "started_at": iso(exc.run.started_at),
        }
    return ApiError(refusal_status(exc), message, **extra)


# --- reading what the client sent ---------------------------------------------------------


async def _body(request: web.Request) -> tuple[dict[str, Any], bool]:
    """The request's fields (JSON object or form) and whether they came from a form
    (where an empty field means "not given")."""
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await read_form(request)
        fields: dict[str, Any] = {}
        for key in set(form.keys()):
            values = [v for v in form.getall(key) if isinstance(v, str)]
            if values:
                fields[key] = values if len(values) > 1 else values[0]
        check_text(request, _read_fields(fields))
        return fields, True
    raw = await read_body(request)
    if not raw.strip():
        return {}, False
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json reads
        raise ApiError(422, text(request, "sync.err.bad_json")) from None
    if not isinstance(data, dict):
        raise ApiError(422, text(request, "sync.err.not_object"))
    check_text(request, _read_fields(data))
    return data, False


#: The fields the sync routes read from a body; any other is ignored, never stored, so
#: its text is not checked either (an unknown field never makes a 422).
READ_FIELDS = ("unit", "kelas", "idperson", "idpersons", "run_id")


def _read_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in READ_FIELDS if name in data}


def _number(request: web.Request, value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) <= 16 else MAX_NUMBER + 1
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_NUMBER:
        raise ApiError(422, text(request, "sync.err.bad_number", field=name, min=minimum))
    return value


def _optional_number(
    request: web.Request, value: Any, name: str, *, minimum: int = 1
) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _number(request, value, name, minimum=minimum)


def _query_number(
    request: web.Request, name: str, *, minimum: int = 1, default: int | None = None
) -> int | None:
    values = request.query.getall(name, [])
    # The last one counts when a name is repeated (as on the student list).
    value = values[-1] if values else None
    if value is None or value == "":
        return default
    return _number(request, value, name, minimum=minimum)


def _limit(request: web.Request, default: int, maximum: int) -> int:
    limit = _query_number(request, "limit", default=default)
    assert limit is not None
    if limit > maximum:
        raise ApiError(422, text(request, "sync.err.bad_limit", max=maximum))
    return limit


def _text_field(
    request: web.Request, data: dict[str, Any], name: str, maximum: int, form: bool
) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, text(request, "sync.err.not_text", field=name))
    value = value.strip()
    if not value:
        if form:
            return None
        raise ApiError(422, text(request, "sync.err.empty", field=name))
    if len(value) > maximum:
        raise ApiError(422, text(request, "sync.err.too_long", field=name, max=maximum))
    return value


def _ids_field(request: web.Request, data: dict[str, Any], form: bool) -> list[str] | None:
    value = data.get("idperson", data.get("idpersons"))
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ApiError(422, text(request, "sync.err.ids_type"))
    if len(value) > MAX_IDS:
        raise ApiError(422, text(request, "sync.err.too_many", max=MAX_IDS))
    ids: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ApiError(422, text(request, "sync.err.ids_type"))
        item = item.strip()
        if len(item) > MAX_IDPERSON:
            raise ApiError(
                422, text(request, "sync.err.too_long", field="idperson", max=MAX_IDPERSON)
            )
        if item:
            ids.append(item)
        elif not form:
            raise ApiError(422, text(request, "sync.err.empty", field="idperson"))
    if not ids:
        if form:
            return None
        raise ApiError(422, text(request, "sync.err.empty_list"))
    return ids


# --- the JSON routes ------------------------------------------------------------------------


@routes.post(f"{BASE}/start")
@admin_only
@json_route
async def start(request: web.Request) -> web.Response:
    user = current_user(request)
    data, form = await _body(request)
    unit = _text_field(request, data, "unit", MAX_UNIT, form)
    kelas = _text_field(request, data, "kelas", MAX_UNIT, form)
    ids = _ids_field(request, data, form)
    sp = request.app[SYNCPAY]
    try:
        run = await sp.start(unit=unit, kelas=kelas, idpersons=ids, started_by=user.name)
    except (ScopeError, SyncError) as exc:
        raise _refusal(request, exc) from None
    request.app[HUB].nudge()
    return json_ok(text(request, "sync.msg.started"), run_id=run.id)


@routes.post(f"{BASE}/cancel")
@admin_only
@json_route
async def cancel(request: web.Request) -> web.Response:
    user = current_user(request)
    data, _ = await _body(request)
    run_id = _optional_number(request, data.get("run_id"), "run_id")
    sp = request.app[SYNCPAY]
    try:
        run = await sp.cancel(run_id, by=user.name)
    except SyncError as exc:
        raise _refusal(request, exc) from None
    worker = request.app[WORKER]
    if worker is not None:
        await sp.cancel_in_flight(worker)
    request.app[HUB].nudge()
    return json_ok(text(request, "sync.msg.cancelled"), run_id=run.id)


@routes.post(f"{BASE}/reset")
@admin_only
@json_route
async def reset(request: web.Request) -> web.Response:
    try:
        await request.app[SYNCPAY].reset()
    except SyncError as exc:
        raise _refusal(request, exc) from None
    request.app[HUB].nudge()
    return json_ok(text(request, "sync.msg.reset"))


@routes.get(f"{BASE}/progress")
@json_route
async def progress(request: web.Request) -> web.Response:
    run_id = _query_number(request, "run_id")
    after = _query_number(request, "after_log", minimum=0, default=0)
    assert after is not None
    try:
        body = await request.app[HUB].progress_body(run_id, after)
    except SyncError as exc:
        raise _refusal(request, exc) from None
    return web.Response(body=body, content_type="application/json")


async def _run_or_latest(request: web.Request, run_id: int | None) -> int | None:
    sync = request.app[SYNCPAY].sync
    try:
        if run_id is not None:
            return (await sync.get(run_id)).id
    except SyncError as exc:
        raise _refusal(request, exc) from None
    latest = await sync.latest()
    return None if latest is None else latest.id


@routes.get(f"{BASE}/failed")
@json_route
async def failed(request: web.Request) -> web.Response:
    run_id = await _run_or_latest(request, _query_number(request, "run_id"))
    limit = _limit(request, PAGE_FAILED, MAX_FAILED)
    offset = _query_number(request, "offset", minimum=0, default=0)
    assert offset is not None
    sync = request.app[SYNCPAY].sync
    if run_id is None:
        return json_ok(run_id=None, failed=0, students=[])
    run = await sync.get(run_id)
    students = await sync.failed_students(run_id, limit=limit, offset=offset)
    return json_ok(run_id=run_id, failed=run.failed, students=[s.to_json() for s in students])


@routes.post(f"{BASE}/retry-failed")
@admin_only
@json_route
async def retry_failed(request: web.Request) -> web.Response:
    user = current_user(request)
    data, _ = await _body(request)
    run_id = await _run_or_latest(request, _optional_number(request, data.get("run_id"), "run_id"))
    if run_id is None:
        raise ApiError(400, text(request, "sync.err.no_failed"))
    try:
        run = await request.app[SYNCPAY].retry_failed(run_id, started_by=user.name)
    except SyncError as exc:
        raise _refusal(request, exc) from None
    request.app[HUB].nudge()
    return json_ok(text(request, "sync.msg.retry_started"), run_id=run.id)


@routes.get(f"{BASE}/runs")
@json_route
async def runs(request: web.Request) -> web.Response:
    limit = _limit(request, PAGE_RUNS, MAX_RUNS)
    history = await request.app[SYNCPAY].sync.history(limit)
    return json_ok(runs=[r.to_json() for r in history])


@routes.get(f"{BASE}/scopes")
@json_route
async def scopes(request: web.Request) -> web.Response:
    pairs = await request.app[SYNCPAY].sync.scopes()
    units = sorted({unit for unit, _ in pairs if unit})
    kelas = [{"unit": unit, "kelas": k} for unit, k in pairs if k]
    return json_ok(units=units, kelas=kelas)


# --- the WebSocket --------------------------------------------------------------------------


def _same_origin(request: web.Request) -> bool:
    """A browser always sends Origin on a WebSocket: it must name this site (a page on
    another site could otherwise open a socket with the user's cookie)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser (a script with a token or a cookie of its own)
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


@routes.get(f"{BASE}/ws")
@json_route
async def live(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        raise ApiError(403, text(request, "sync.err.origin"))
    ws = web.WebSocketResponse(heartbeat=30.0, timeout=2.0, compress=False, max_msg_size=4096)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, text(request, "sync.err.ws_only"))
    hub = request.app[HUB]
    if hub.closing:
        raise ApiError(503, text(request, "sync.err.going_away"))
    run_id = _query_number(request, "run_id")
    watch = await _run_or_latest(request, run_id) if run_id is not None else None
    await ws.prepare(request)
    owner, signed_in = signed_in_check(request)
    client = hub.attach(ws, watch, request.transport, owner=owner, signed_in=signed_in)
    try:
        async for message in ws:
            if message.type != web.WSMsgType.TEXT:
                continue
            if signed_in is not None and not await signed_in():
                await hub.close_ended(client)  # logged out, expired or revoked
                break
            reply = await _on_message(request, message.data)
            if isinstance(reply, dict):
                await ws.send_json(reply)
            else:
                hub.watch(client, reply)
    finally:
        hub.detach(client)
    return ws


async def _on_message(request: web.Request, data: str) -> dict[str, Any] | int | None:
    """A page's request: ``{"run_id": N}`` (watch run N; the run id is returned),
    ``{"run_id": null}`` (the latest: None), anything else: an error message."""
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or "run_id" not in body:
            raise ValueError
    except (ValueError, RecursionError):
        return {"type": "error", "status": 422, "message": text(request, "sync.err.ws_message")}
    try:
        check_text(request, body)
    except ApiError as exc:
        return {"type": "error", "status": exc.status, "message": exc.message}
    if body["run_id"] is None:
        return None
    try:
        run_id = _number(request, body["run_id"], "run_id")
        await request.app[SYNCPAY].sync.get(run_id)
    except ApiError as exc:
        return {"type": "error", "status": exc.status, "message": exc.message}
    except SyncError as exc:
        refused = _refusal(request, exc)
        return {"type": "error", "status": refused.status, "message": refused.message}
    return run_id


# --- the page ------------------------------------------------------------------------------


def number(request: web.Request, value: float | int, digits: int = 0) -> str:
    """``5.000`` / ``12,5`` in Indonesian, ``5,000`` / ``12.5`` in English."""
    shown = f"{value:,.{digits}f}"
    if language(request) == "id":
        shown = shown.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return shown


def human_duration(request: web.Request, seconds: float | None) -> str:
    """``2 menit 5 detik`` / ``2 min 5 s``; hours and minutes for long spans."""
    if seconds is None:
        return text(request, "js.sync.none")
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(text(request, "js.sync.duration.h", n=hours))
    if minutes:
        parts.append(text(request, "js.sync.duration.m", n=minutes))
    if (secs and not hours) or not parts:
        parts.append(text(request, "js.sync.duration.s", n=secs))
    return " ".join(parts)


def log_text(request: web.Request, line: LogLine) -> str:
    """An activity-log line in the page's language (``sync.js`` words it the same way):
    its template ``js.log.<key>`` filled with its values, a run's scope worded from its
    detail; the stored (Indonesian) ``message`` for a line without a key or with a key
    the catalogue does not know."""
    values = line.values
    if isinstance(values, dict) and isinstance(values.get("scope_detail"), dict):
        values = {
            **values,
            "scope": scope_text(request, values["scope_detail"], values.get("scope")),
        }
    if isinstance(values, dict):
        # Counts as the page writes its other numbers ("1.000" / "1,000"); a failure's
        # reason in the page's words.
        values = {
            k: number(request, v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in values.items()
        }
        if isinstance(values.get("reason"), str):
            values["reason"] = reason(request, values["reason"])
    catalogs = request.app[CATALOGS]
    return catalogs.log_text(language(request), line.key, values, line.message)


def tone(status: str, processed: int, failed: int) -> str:
    """How a run reads (``sync.js`` decides the same): an ended run where students failed
    is not a success — ``partial`` (a warning) when some failed, ``failed`` (an error)
    when all did; otherwise its status. The status itself (SPEC) stays ``completed``."""
    if status != "completed" or failed <= 0:
        return status
    return "failed" if failed >= processed else "partial"


def _log_level(line: LogLine) -> str:
    """A run's completion line is stored as ``success``; it reads as its run does."""
    values = line.values
    if line.key == "finished" and isinstance(values, dict):
        failed, success = values.get("failed"), values.get("success")
        if isinstance(failed, int) and failed > 0:
            return "warning" if isinstance(success, int) and success > 0 else "error"
    return line.level


def _log_items(request: web.Request, lines: Iterable[LogLine]) -> Markup:
    return join(
        h(
            "li",
            {"data-id": line.id, "class": f"log-{_log_level(line)}"},
            h("time", {"datetime": line.at}, format_clock(request, line.at)),
            h("span", {"class": "log-message"}, log_text(request, line)),
        )
        for line in lines
    )


def _failed_rows(request: web.Request, students: Iterable[FailedStudent]) -> Markup:
    return join(
        h(
            "tr",
            {"data-idperson": s.idperson},
            h("td", {}, s.idperson),
            h("td", {}, s.nama or ""),
            h("td", {"class": "reason"}, reason(request, s.reason)),
            h("td", {"class": "num"}, number(request, s.attempts)),
        )
        for s in students
    )


def _run_rows(request: web.Request, history: Iterable[RunSummary]) -> Markup:
    return join(
        h(
            "tr",
            {"data-run-id": r.run_id, "data-status": r.status},
            h("td", {"class": "num"}, f"#{r.run_id}"),
            h(
                "td",
                {},
                h(
                    "span",
                    {"class": f"badge badge-{look}"},
                    text(request, f"js.sync.status.{look}"),
                ),
            ),
            h("td", {}, scope_text(request, r.scope_detail, r.scope)),
            h("td", {}, r.started_by),
            h(
                "td",
                {},
                h("time", {"datetime": r.started_at}, format_datetime(request, r.started_at)),
            ),
            h("td", {"class": "num"}, human_duration(request, r.duration_seconds)),
            h("td", {"class": "num"}, number(request, r.success_count)),
            h("td", {"class": "num"}, number(request, r.failed)),
            h("td", {"class": "num"}, number(request, r.total)),
            h(
                "td",
                {},
                h(
                    "button",
                    {"type": "button", "class": "btn btn-small", "data-watch": r.run_id},
                    text(request, "js.sync.watch"),
                ),
            ),
        )
        for r in history
        for look in (tone(r.status, r.processed, r.failed),)
    )


def _button(
    request: web.Request, element_id: str, label: str, kind: str, admin: bool, enabled: bool
) -> Markup:
    return h(
        "button",
        {
            "type": "button",
            "id": element_id,
            "class": f"btn {kind}",
            "disabled": not (admin and enabled),
            "title": None if admin else text(request, "sync.admin_only"),
        },
        text(request, label),
    )


def scope_text(request: web.Request, detail: dict[str, Any] | None, label: str | None) -> str:
    """A run's scope in the page's language (``sync.js`` words it the same way); the
    stored Indonesian ``label`` for a kind this does not know."""
    if not detail:
        return label or text(request, "js.sync.none")
    kind = detail.get("kind")
    if kind == "kelas" and detail.get("unit"):
        kind = "kelas_unit"
    if kind not in ("all", "unit", "kelas", "kelas_unit", "one", "list"):
        return label or text(request, "js.sync.none")
    values = {
        "unit": detail.get("unit") or "",
        "kelas": detail.get("kelas") or "",
        "idperson": detail.get("idperson") or "",
        "n": number(request, detail.get("students") or 0),
    }
    return text(request, f"js.sync.scope_label.{kind}", **values)


def _scope_picker(request: web.Request) -> Markup:
    kinds = (("all", "sync.scope.all"), ("unit", "sync.scope.unit"), ("kelas", "sync.scope.kelas"))
    return h(
        "div",
        {"class": "scope-picker"},
        h("label", {"for": "scope-kind"}, text(request, "sync.scope")),
        h(
            "select",
            {"id": "scope-kind", "name": "scope"},
            join(h("option", {"value": value}, text(request, key)) for value, key in kinds),
        ),
        h(
            "select",
            {"id": "scope-unit", "name": "unit", "aria-label": "Unit", "hidden": True},
            h("option", {"value": ""}, text(request, "js.sync.pick")),
        ),
        h(
            "select",
            {"id": "scope-kelas", "name": "kelas", "aria-label": "Kelas", "hidden": True},
            h("option", {"value": ""}, text(request, "js.sync.pick")),
        ),
    )


def _eta(request: web.Request, state: Progress) -> str:
    """The time left as the page's script words it: a run nobody works waits for a
    worker, one whose remaining students wait for their retry shows that wait, rather
    than an estimate."""
    if not state.is_running:
        return text(request, "js.sync.none")
    if state.waiting_for_worker:
        return text(request, "js.sync.waiting_for_worker")
    if waits_for_retry(state):
        wait = human_duration(request, state.next_retry_seconds)
        return text(request, "js.sync.waiting_retry", time=wait)
    return human_duration(request, state.eta_seconds)


def waits_for_retry(state: Progress) -> bool:
    """The run cannot end before its next retry: show that wait, not a smaller estimate
    (students waiting out their backoff near the end made it "0 detik")."""
    wait, eta = state.next_retry_seconds, state.eta_seconds
    return wait is not None and (eta is None or eta < wait)


def _next_schedule(request: web.Request) -> str:
    """When SYNC_SCHEDULE starts the next all-students run (read in local time)."""
    due = request.app[MAINTENANCE].next_run() if MAINTENANCE in request.app else None
    if due is None:
        return text(request, "sync.no_schedule")
    when = format_datetime(request, due, local=True)
    return f"{when} ({request.app[SETTINGS].sync_schedule})"


@routes.get(BASE)
async def sync_page(request: web.Request) -> web.Response:
    user = current_user(request)
    sync = request.app[SYNCPAY].sync
    # The live hub's copy: many pages (re)loaded during a run share one computation.
    state = await request.app[HUB].progress()
    failed_students = []
    if state.run_id is not None and state.failed:
        failed_students = await sync.failed_students(state.run_id, limit=PAGE_FAILED)
    history = await sync.history(PAGE_RUNS)
    admin = user.is_admin
    status = state.status
    look = tone(status, state.processed, state.failed)
    ended = status in ("completed", "cancelled")
    body = render(
        "sync.html",
        {
            "base": BASE,
            "status": status,
            "tone": look,
            "status_label": text(request, f"js.sync.status.{look}"),
            "percent": state.percent,
            "percent_text": f"{number(request, state.percent, 1)} %",
            "total": number(request, state.total),
            "success": number(request, state.success_count),
            "failed": number(request, state.failed),
            "processed": number(request, state.processed),
            "eta": _eta(request, state),
            "rate": text(request, "js.sync.rate", n=number(request, state.rate_per_second, 1))
            if state.is_running
            else text(request, "js.sync.none"),
            "elapsed": human_duration(request, state.elapsed_seconds),
            "started_by": state.started_by or text(request, "js.sync.none"),
            "scope": scope_text(request, state.scope_detail, state.scope),
            "next_schedule": _next_schedule(request),
            "run": f"#{state.run_id}" if state.run_id else text(request, "js.sync.none"),
            "readonly": Markup("")
            if admin
            else h("p", {"class": "alert alert-info"}, text(request, "sync.readonly")),
            "worker": h(
                "p",
                {
                    "id": "sync-worker",
                    "class": "alert alert-warning",
                    "role": "status",
                    "hidden": not state.waiting_for_worker,
                },
                text(request, "js.sync.waiting_for_worker_hint"),
            ),
            "picker": _scope_picker(request) if admin else Markup(""),
            "start": _button(
                request, "btn-start", "sync.start", "btn-primary", admin, status != "running"
            ),
            "cancel": _button(
                request, "btn-cancel", "sync.cancel", "btn-danger", admin, status == "running"
            ),
            "reset": _button(request, "btn-reset", "sync.reset", "btn-warning", admin, ended),
            "retry": _button(
                request,
                "btn-retry-failed",
                "sync.retry",
                "",
                admin,
                ended and bool(state.failed),
            ),
            "log": _log_items(request, state.logs),
            "failed_rows": _failed_rows(request, failed_students),
            "run_rows": _run_rows(request, history),
        },
        lambda key: text(request, key),
    )
    data = {
        "sync": {
            "base": BASE,
            "admin": admin,
            "progress": state.to_json(),
            "failed": [s.to_json() for s in failed_students],
            "runs": [r.to_json() for r in history],
            # The sync layer's Indonesian words in a failure's reason, and this page's.
            "reasonWords": request.app[CATALOGS].reason_words(language(request)),
        }
    }
    return page(
        request,
        text(request, "sync.title"),
        body,
        scripts=["sync.js"],
        styles=["sync.css"],
        data=data,
    )
