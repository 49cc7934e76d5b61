"""The application factory: one aiohttp app serving the pages and the JSON API, with
the worker pool running in the same process (``--workers N``; 0 serves only)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from aiohttp import web, web_response

from .. import service
from ..accounts import Accounts
from ..backup import Backups
from ..config import Settings
from ..maintenance import Maintenance
from .auth import session_middleware
from .i18n import Catalogs
from .keys import (
    ACCOUNTS,
    CATALOGS,
    LOGIN_LIMITER,
    MAINTENANCE,
    RECENT_USERS,
    SETTINGS,
    SIGNER,
    STATIC_VERSIONS,
    SYNCPAY,
    WORKER,
    WORKERS,
)
from .live import HUB, LiveHub
from .middlewares import (
    errors_middleware,
    headers_middleware,
    path_middleware,
    proxy_middleware,
)
from .routes import tables
from .session import Signer, app_key
from .throttle import LoginLimiter, RecentUsers

log = logging.getLogger("syncpay.web")

# A Path, or a zipfile.Path when running from syncpay.pyz.
STATIC = resources.files("syncpay") / "static"
#: Largest request body accepted (forms and JSON are small; an upload is not expected).
MAX_BODY = 256 * 1024
#: Seconds a connection may take to send a whole request head (and stay idle between two
#: requests): a client that sends half a request and waits (slowloris) is cut off then.
HEADER_TIMEOUT = 15.0
#: Options of the HTTP server (``web.AppRunner``) that serves :func:`create_app`'s app.
#: aiohttp's keep-alive timer runs from the connection's start until a whole request
#: head has arrived, and again after each answer, so it bounds both.
SERVER_OPTIONS: dict[str, float] = {"keepalive_timeout": HEADER_TIMEOUT}
#: The ``Server`` header: no versions of aiohttp or Python for a scanner to look up.
SERVER = "syncpay"


def static_versions(directory: Traversable = STATIC) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in directory.iterdir()
        if path.is_file()
    }


def static_directory() -> Path:
    """aiohttp serves a real directory: the package's, or inside syncpay.pyz a copy
    unpacked once to a cache directory."""
    if isinstance(STATIC, Path):
        return STATIC
    from .._pyz_main import unpacked

    return unpacked(STATIC, "static")


def create_app(
    settings: Settings,
    *,
    workers: int | None = None,
    syncpay: service.SyncPay | None = None,
) -> web.Application:
    """The web application. The database is opened (and migrated) on start-up unless
    ``syncpay`` is given; ``workers`` jobs run in-process (default ``SYNC_WORKERS``)."""
    app = web.Application(
        middlewares=[
            path_middleware,
            proxy_middleware,
            headers_middleware,
            errors_middleware,
            session_middleware,
        ],
        client_max_size=MAX_BODY,
    )
    app[SETTINGS] = settings
    app[WORKERS] = settings.sync_workers if workers is None else workers
    app[SIGNER] = Signer(app_key(settings))
    app[CATALOGS] = Catalogs()
    app[LOGIN_LIMITER] = LoginLimiter()
    app[RECENT_USERS] = RecentUsers()
    app[STATIC_VERSIONS] = static_versions()
    app[WORKER] = None
    for table in tables():
        app.router.add_routes(table)
    app.router.add_static(
        "/static", static_directory(), follow_symlinks=False, append_version=False
    )
    app.on_response_prepare.append(_server_header)
    # The HTTP parser's own answers (a malformed request, before the app sees it) take
    # aiohttp's default, which names both versions; there is no option for it.
    web_response.SERVER_SOFTWARE = SERVER
    app.cleanup_ctx.append(_lifecycle(syncpay))
    app.on_shutdown.append(_close_websockets)
    return app


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer of the app (pages, JSON, static files, the WebSocket handshake)."""
    response.headers["Server"] = SERVER


def _lifecycle(given: service.SyncPay | None):  # noqa: ANN202  (a cleanup_ctx generator)
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        sp = given if given is not None else await service.open(app[SETTINGS])
        app[SYNCPAY] = sp
        app[ACCOUNTS] = Accounts(sp.db)
        hub = LiveHub(app)
        app[HUB] = hub
        # queue:restart is for `syncpay work` processes; this pool lives as long as the server.
        worker = sp.worker(app[WORKERS], obey_restart=False) if app[WORKERS] > 0 else None
        app[WORKER] = worker
        settings = app[SETTINGS]
        maintenance = Maintenance(
            sp.db,
            sp.sync,
            sp.queue,
            schedule=settings.sync_schedule,
            run_days=settings.sync_prune_days,
            failed_hours=settings.queue_prune_failed_hours,
            history_days=settings.sync_history_days,
            backups=Backups.from_settings(settings, sp.db),
        )
        app[MAINTENANCE] = maintenance
        if worker is not None:
            worker.start()
        await hub.start()
        maintenance.start()
        try:
            yield
        finally:
            await maintenance.close()
            await hub.close()
            if worker is not None:
                await worker.close()
            if given is None:
                await sp.close()

    return lifecycle


async def _close_websockets(app: web.Application) -> None:
    """On shutdown (SIGTERM), tell every live page we are going away."""
    if HUB in app:
        await app[HUB].shutdown()
