"""``GET /metrics``: the Prometheus metrics (text format 0.0.4), for a scraper.

Access is this route's own, not a login: with ``METRICS_TOKEN`` set, the scraper sends
``Authorization: Bearer <METRICS_TOKEN>`` (401 without it or with another one); with
it empty, only clients on this machine (127.0.0.1, ::1) are answered (403 for the
others). The session middleware leaves this route's bearer header alone (it is not an
API token from ``token:create``). Behind a reverse proxy on the same machine every
request looks local: set ``METRICS_TOKEN`` there.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress

from aiohttp import web

from ... import metrics
from ..auth import public
from ..keys import MAINTENANCE, SETTINGS, SYNCPAY, WORKER, WORKERS
from ..live import HUB

routes = web.RouteTableDef()


def is_loopback(remote: str | None) -> bool:
    """Is ``remote`` (a peer address as aiohttp gives it) this machine's loopback?"""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _plain(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers=headers)


def access_denied(request: web.Request, token: str) -> web.Response | None:
    """The answer refusing this request, or None when it may read the metrics."""
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        sent = sent.strip()
        if (
            scheme.lower() != "bearer"
            or not sent
            or not hmac.compare_digest(sent.encode(), token.encode())
        ):
            return _plain(
                401,
                "Unauthorized: send Authorization: Bearer <METRICS_TOKEN>.",
                {"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return None
    if not is_loopback(request.remote):
        return _plain(403, "Forbidden: /metrics answers this machine only (METRICS_TOKEN unset).")
    return None


def _app_metrics(app: web.Application) -> list[metrics.Metric]:
    """What this process's web app knows: live pages and its worker pool."""
    clients = metrics.Gauge(
        "syncpay_websocket_clients", "Pages connected to the live progress WebSocket."
    )
    try:
        # The hub keeps its connected clients in ``clients`` (a set).
        clients.set(len(getattr(app.get(HUB), "clients", ()) or ()))
    except TypeError:
        clients.set(0)
    worker = app.get(WORKER)
    slots = metrics.Gauge(
        "syncpay_worker_slots", "Jobs the in-process worker pool runs at once (0: no pool)."
    )
    slots.set(app[WORKERS] if worker is not None else 0)
    running = metrics.Gauge(
        "syncpay_worker_running_jobs", "Jobs the in-process worker pool holds now."
    )
    running.set(worker.running if worker is not None else 0)
    return [clients, slots, running]


async def _backup_metrics(app: web.Application) -> list[metrics.Metric]:
    """The last backup's time, from the database (left out when it does not answer)."""
    maintenance = app.get(MAINTENANCE)
    try:
        last = await asyncio.wait_for(maintenance.last_backup(), 5.0) if maintenance else None
    except Exception:
        return []
    return metrics.collect_backup(None if last is None else last.at.timestamp())


@routes.get("/metrics")
@public
async def metrics_route(request: web.Request) -> web.Response:
    app = request.app
    denied = access_denied(request, app[SETTINGS].metrics_token)
    if denied is not None:
        return denied
    extra = [
        *metrics.collect_process(),
        *await metrics.collect_database(app[SYNCPAY]),
        *_app_metrics(app),
        *await _backup_metrics(app),
    ]
    body = metrics.REGISTRY.render(extra)
    return web.Response(
        body=body.encode("utf-8"),
        headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"},
    )
