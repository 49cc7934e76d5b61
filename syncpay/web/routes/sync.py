"""The sync page's JSON routes and its WebSocket (``/admin/sync-pembayaran/…``).

The JSON routes follow SPEC §6: ``start``, ``cancel``, ``reset`` (admins) and
``progress`` (any user), plus what the page needs: ``failed``, ``retry-failed``,
``runs`` and ``scopes``. A scoped petugas (issue #15) may start a run of their own
students (or of a unit, class or list inside their scope), cancel and retry their own
runs, and sees only their own runs (another's is not found), also over the WebSocket,
where their "latest run" is the newest they started. The page itself is
:mod:`.sync_page`; ``static/sync.js`` keeps it live over ``…/ws`` (see :mod:`..live`),
falling back to polling ``progress``. What a client sends is read by :mod:`.sync_input`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ...accounts import User
from ...sync.errors import NoStudents, OutsideScope, RunConflict, RunNotFound, SyncError
from ...sync.records import iso
from ...sync.scope import ScopeError
from ..auth import admin_only, current_user, officer_or_admin, signed_in_check
from ..errors import ApiError, json_ok, json_route
from ..i18n import text
from ..keys import SYNCPAY, WORKER
from ..live import HUB, LatestOf, Watch
from ..requests import check_text
from .sync_input import (
    MAX_FAILED,
    MAX_RUNS,
    MAX_UNIT,
    PAGE_FAILED,
    PAGE_RUNS,
    body_fields,
    ids_field,
    number,
    optional_number,
    query_limit,
    query_number,
    text_field,
)

routes = web.RouteTableDef()
BASE = "/admin/sync-pembayaran"

#: The HTTP status of each refusal of the sync layer, by its type (the first that the
#: exception is an instance of); a scope that cannot be is a 422 like other bad input.
STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (RunConflict, 409),
    (RunNotFound, 404),
    (OutsideScope, 403),
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


def _may_run(request: web.Request) -> User:
    """An admin, or a scoped petugas (their own runs; ``@officer_or_admin`` refused the
    others with 403 already)."""
    user = current_user(request)
    assert user.is_admin or user.scoped
    return user


def owner_of(request: web.Request) -> str | None:
    """The name whose runs a scoped petugas sees (None: every run)."""
    user = current_user(request)
    return user.name if user.scoped else None


# --- the JSON routes ------------------------------------------------------------------------


@routes.post(f"{BASE}/start")
@officer_or_admin
@json_route
async def start(request: web.Request) -> web.Response:
    user = _may_run(request)
    data, form = await body_fields(request)
    unit = text_field(request, data, "unit", MAX_UNIT, form)
    kelas = text_field(request, data, "kelas", MAX_UNIT, form)
    ids = ids_field(request, data, form)
    sp = request.app[SYNCPAY]
    try:
        run = await sp.start(
            unit=unit, kelas=kelas, idpersons=ids, started_by=user.name, officer=user.sees
        )
    except OutsideScope as exc:
        if ids is not None and len(ids) == 1 and unit is None and kelas is None:
            # One student outside: not found, as on the student's page (ids not probed).
            raise ApiError(404, text(request, "siswa.err.not_found")) from None
        raise _refusal(request, exc) from None
    except (ScopeError, SyncError) as exc:
        raise _refusal(request, exc) from None
    request.app[HUB].nudge()
    return json_ok(text(request, "sync.msg.started"), run_id=run.id)


@routes.post(f"{BASE}/cancel")
@officer_or_admin
@json_route
async def cancel(request: web.Request) -> web.Response:
    user = _may_run(request)
    data, _ = await body_fields(request)
    run_id = optional_number(request, data.get("run_id"), "run_id")
    sp = request.app[SYNCPAY]
    try:
        run = await sp.cancel(run_id, by=user.name, owner=owner_of(request))
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
    run_id = query_number(request, "run_id")
    after = query_number(request, "after_log", minimum=0, default=0)
    assert after is not None
    watched: Watch = run_id
    owner = owner_of(request)
    if owner is not None:  # a scoped petugas: their own runs only
        watched = LatestOf(owner) if run_id is None else await _run_or_latest(request, run_id)
    try:
        body = await request.app[HUB].progress_body(watched, after)
    except SyncError as exc:
        raise _refusal(request, exc) from None
    return web.Response(body=body, content_type="application/json")


async def _run_or_latest(request: web.Request, run_id: int | None) -> int | None:
    """The run asked for, or the latest; a scoped petugas's own only (another's is not
    found, as an unknown run)."""
    sync = request.app[SYNCPAY].sync
    owner = owner_of(request)
    try:
        if run_id is not None:
            run = await sync.get(run_id)
            if owner is not None and run.started_by != owner:
                raise RunNotFound("sync.err.run_not_found", {"run": run_id})
            return run.id
    except SyncError as exc:
        raise _refusal(request, exc) from None
    latest = await sync.latest(owner)
    return None if latest is None else latest.id


@routes.get(f"{BASE}/failed")
@json_route
async def failed(request: web.Request) -> web.Response:
    run_id = await _run_or_latest(request, query_number(request, "run_id"))
    limit = query_limit(request, PAGE_FAILED, MAX_FAILED)
    offset = query_number(request, "offset", minimum=0, default=0)
    assert offset is not None
    sync = request.app[SYNCPAY].sync
    if run_id is None:
        return json_ok(run_id=None, failed=0, students=[])
    run = await sync.get(run_id)
    students = await sync.failed_students(run_id, limit=limit, offset=offset)
    return json_ok(run_id=run_id, failed=run.failed, students=[s.to_json() for s in students])


@routes.post(f"{BASE}/retry-failed")
@officer_or_admin
@json_route
async def retry_failed(request: web.Request) -> web.Response:
    user = _may_run(request)
    data, _ = await body_fields(request)
    run_id = await _run_or_latest(request, optional_number(request, data.get("run_id"), "run_id"))
    if run_id is None:
        raise ApiError(400, text(request, "sync.err.no_failed"))
    try:
        sp = request.app[SYNCPAY]
        run = await sp.retry_failed(run_id, started_by=user.name, officer=user.sees)
    except SyncError as exc:
        raise _refusal(request, exc) from None
    request.app[HUB].nudge()
    return json_ok(text(request, "sync.msg.retry_started"), run_id=run.id)


@routes.get(f"{BASE}/runs")
@json_route
async def runs(request: web.Request) -> web.Response:
    limit = query_limit(request, PAGE_RUNS, MAX_RUNS)
    history = await request.app[SYNCPAY].sync.history(limit, owner_of(request))
    return json_ok(runs=[r.to_json() for r in history])


@routes.get(f"{BASE}/scopes")
@json_route
async def scopes(request: web.Request) -> web.Response:
    officer = current_user(request).sees
    if officer is not None:  # the units and classes of their students
        choices = await request.app[SYNCPAY].students.choices(scope=officer)
        own = [{"unit": u, "kelas": k} for k, units in choices.kelas.items() for u in units]
        return json_ok(units=choices.units, kelas=own)
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
    run_id = query_number(request, "run_id")
    starter = owner_of(request)
    # A scoped petugas's "latest" is the newest run they started (they see no other).
    latest: Watch = None if starter is None else LatestOf(starter)
    watch = await _run_or_latest(request, run_id) if run_id is not None else latest
    await ws.prepare(request)
    owner, signed_in = signed_in_check(request)
    client = hub.attach(
        ws, watch, request.transport, owner=owner, signed_in=signed_in, latest=latest
    )
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
                hub.watch(client, client.latest if reply is None else reply)
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
        run_id = number(request, body["run_id"], "run_id")
        await _run_or_latest(request, run_id)  # a scoped petugas: their own runs only
    except ApiError as exc:
        return {"type": "error", "status": exc.status, "message": exc.message}
    except SyncError as exc:
        refused = _refusal(request, exc)
        return {"type": "error", "status": refused.status, "message": refused.message}
    return run_id
