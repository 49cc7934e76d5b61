"""``GET /healthz``: is the database reachable, is the worker pool running (no login)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..keys import SYNCPAY, WORKER, WORKERS
from ..security import public

routes = web.RouteTableDef()


@routes.get("/healthz")
@public
async def healthz(request: web.Request) -> web.Response:
    app = request.app
    database = "ok"
    try:
        await asyncio.wait_for(app[SYNCPAY].db.fetch_value("sync_now"), 5.0)
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
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
    }
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})
