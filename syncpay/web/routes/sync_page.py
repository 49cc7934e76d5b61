"""The sync page ``/admin/sync-pembayaran``: the frame (``templates/sync.html``, its
labels from the catalogues) and the first paint's data. ``static/sync.js`` writes every
dynamic part — the badge, the numbers, the times, the activity log, the failed students
and the recent runs — from that data and then from the progress it hears over the
WebSocket (or polls), each in the words of ``static/sync_words.js``: one place. The
buttons start in the state the progress gives them; the script keeps them so."""

from __future__ import annotations

from aiohttp import web

from ...sync.errors import RunNotFound, SyncError
from ...sync.progress import Progress
from ...sync.records import FailedStudent
from ..auth import current_user
from ..dates import format_datetime
from ..errors import ApiError, json_capable, json_ok
from ..i18n import language, text
from ..keys import CATALOGS, MAINTENANCE, SETTINGS, SYNCPAY
from ..live import HUB
from ..pages import fill, page
from ..requests import wants_json
from ..views.sync_changes import PER_PAGE, ChangesPage, changes_context, changes_json
from .sync_input import PAGE_FAILED, PAGE_RUNS, number, query_number

routes = web.RouteTableDef()
BASE = "/admin/sync-pembayaran"
#: The last page of a run's changed students (100 a page: a million students).
MAX_CHANGES_PAGE = 10_000


def _next_run(request: web.Request) -> str | None:
    """When SYNC_SCHEDULE starts the next all-students run (read in local time)."""
    due = request.app[MAINTENANCE].next_run() if MAINTENANCE in request.app else None
    return None if due is None else format_datetime(request, due, local=True)


@routes.get(BASE)
async def sync_page(request: web.Request) -> web.Response:
    user = current_user(request)
    sync = request.app[SYNCPAY].sync
    # A scoped petugas (issue #15) sees their own runs, and runs them: the buttons are
    # theirs but reset (sync.js keeps it hidden); their page polls.
    officer = user.scoped
    owner = user.name if officer else None
    if officer:
        latest = await sync.latest(owner)
        state = Progress.idle() if latest is None else await sync.progress(latest.id)
    else:
        # The live hub's copy: many pages (re)loaded during a run share one computation.
        state = await request.app[HUB].progress()
    failed_students: list[FailedStudent] = []
    if state.run_id is not None and state.failed:
        failed_students = await sync.failed_students(state.run_id, limit=PAGE_FAILED)
    history = await sync.history(PAGE_RUNS, owner)
    admin = user.is_admin or officer
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
                "reset": user.is_admin and ended,
                "retry": admin and ended and bool(state.failed),
            },
        },
    )
    data = {
        "sync": {
            "base": BASE,
            "admin": admin,
            "officer": officer,
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


@routes.get(BASE + "/runs/{run_id}/changes")
@json_capable
async def run_changes(request: web.Request) -> web.Response:
    """The students the run changed, with before → after, 100 a page by idperson (HTML,
    or JSON with ``Accept: application/json``)."""
    run_id = number(request, request.match_info["run_id"], "run_id")
    at = query_number(request, "page", default=1)
    assert at is not None
    if at > MAX_CHANGES_PAGE:
        raise ApiError(422, text(request, "changes.err.page", max=MAX_CHANGES_PAGE))
    sync = request.app[SYNCPAY].sync
    user = current_user(request)
    try:
        run = await sync.get(run_id)
        if user.scoped and run.started_by != user.name:  # another's run: not found
            raise RunNotFound("sync.err.run_not_found", {"run": run_id})
    except SyncError as exc:
        raise ApiError(exc.status, text(request, exc.key, **exc.values)) from None
    total, students = await sync.changes(run_id, limit=PER_PAGE, offset=(at - 1) * PER_PAGE)
    data = ChangesPage(run=run, total=total, page=at, students=students)
    if wants_json(request):
        return json_ok(**changes_json(data))
    return page(
        request,
        text(request, "changes.title", run=run_id),
        fill(request, "sync_changes.html", changes_context(request, data)),
        styles=["sync.css"],
    )
