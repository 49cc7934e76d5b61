"""``GET /healthz``: is the database reachable (and, for SQLite, is there room to write),
is the worker pool running, how old is the last successful backup (no login)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..auth import public
from ..keys import MAINTENANCE, SYNCPAY, WORKER, WORKERS

routes = web.RouteTableDef()

#: How long the database may take to answer before the answer is 503: shorter than the
#: health-check timeouts of load balancers and monitors (the database layer itself
#: keeps retrying an unreachable server for two minutes).
PROBE_TIMEOUT = 2.0
#: Free bytes on an SQLite database's filesystem below which nothing can be written
#: for long (a student's answer is ~10 KB, SQLite needs room for its journal): 503.
LOW_SPACE = 1024 * 1024


@routes.get("/healthz")
@public
async def healthz(request: web.Request) -> web.Response:
    app = request.app
    sp = app[SYNCPAY]
    database = "ok"
    backup = _NO_BACKUP
    try:
        # One probe, one time limit: a database that dies between the ping and the
        # backup's row answers 503, never a 200 that arrives seconds late.
        backup = await asyncio.wait_for(_probe(app), PROBE_TIMEOUT)
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
    free = sp.free_space()
    if database == "ok" and free is not None and free < LOW_SPACE:
        database = f"error: disk full ({free // 1024} KiB free)"
    worker = app[WORKER]
    if app[WORKERS] == 0:
        pool = "off"
    elif worker is not None and worker.task is not None and not worker.task.done():
        pool = "running"
    else:
        pool = "stopped"
    status = 200 if database == "ok" else 503
    body = {
        "status": "ok" if status == 200 else "error",
        "database": database,
        "workers": {
            "state": pool,
            "size": app[WORKERS],
            "running": worker.running if worker is not None else 0,
        },
        "backup": backup,
    }
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


_NO_BACKUP: dict[str, str | int | None] = {"last_at": None, "age_seconds": None}


async def _probe(app: web.Application) -> dict[str, str | int | None]:
    """Ask the database, then read the last successful backup (``db:backup`` or
    ``BACKUP_SCHEDULE``, any server): when its snapshot was taken (UTC) and its age in
    seconds; nulls when none is known. Raises when the database does not answer."""
    await app[SYNCPAY].ping()
    maintenance = app.get(MAINTENANCE)
    if maintenance is None:
        return _NO_BACKUP
    last = await maintenance.last_backup()
    if last is None:
        return _NO_BACKUP
    return {"last_at": last.at.isoformat(timespec="seconds"), "age_seconds": last.age()}
