"""The sync page ``/admin/sync-pembayaran``: the frame (``templates/sync.html``, its
labels from the catalogues) and the first paint's data. ``static/sync.js`` writes every
dynamic part — the badge, the numbers, the times, the activity log, the failed students
and the recent runs — from that data and then from the progress it hears over the
WebSocket (or polls), each in the words of ``static/sync_words.js``: one place. The
buttons start in the state the progress gives them; the script keeps them so."""

from __future__ import annotations

from aiohttp import web

from ...sync.records import FailedStudent
from ..auth import current_user
from ..dates import format_datetime
from ..i18n import language, text
from ..keys import CATALOGS, MAINTENANCE, SETTINGS, SYNCPAY
from ..live import HUB
from ..pages import fill, page
from .sync_input import PAGE_FAILED, PAGE_RUNS

routes = web.RouteTableDef()
BASE = "/admin/sync-pembayaran"


def _next_run(request: web.Request) -> str | None:
    """When SYNC_SCHEDULE starts the next all-students run (read in local time)."""
    due = request.app[MAINTENANCE].next_run() if MAINTENANCE in request.app else None
    return None if due is None else format_datetime(request, due, local=True)


@routes.get(BASE)
async def sync_page(request: web.Request) -> web.Response:
    user = current_user(request)
    sync = request.app[SYNCPAY].sync
    # The live hub's copy: many pages (re)loaded during a run share one computation.
    state = await request.app[HUB].progress()
    failed_students: list[FailedStudent] = []
    if state.run_id is not None and state.failed:
        failed_students = await sync.failed_students(state.run_id, limit=PAGE_FAILED)
    history = await sync.history(PAGE_RUNS)
    admin = user.is_admin
    ended = state.status in ("completed", "cancelled")
    next_run = _next_run(request)
    body = fill(
        request,
        "sync.html",
        {
            "base": BASE,
            "admin": admin,
            "status": state.status,
            "percent": state.percent,
            "waiting": state.waiting_for_worker,
            "schedule": request.app[SETTINGS].sync_schedule if next_run else None,
            "next_run": next_run,
            "can": {
                "start": admin and state.status != "running",
                "cancel": admin and state.status == "running",
                "reset": admin and ended,
                "retry": admin and ended and bool(state.failed),
            },
        },
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
        scripts=["sync_words.js", "sync.js", "sync_actions.js"],
        styles=["sync.css"],
        data=data,
    )
