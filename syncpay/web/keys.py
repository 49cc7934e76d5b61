"""The application's typed state (``app[KEY]``), one key per shared object."""

from __future__ import annotations

from aiohttp import web

from ..accounts import Accounts
from ..config import Settings
from ..i18n import Catalogs
from ..maintenance import Maintenance
from ..queue import Worker
from ..service import SyncPay
from .session import Signer
from .throttle import LoginLimiter, RecentUsers

SETTINGS = web.AppKey("settings", Settings)
SYNCPAY = web.AppKey("syncpay", SyncPay)
ACCOUNTS = web.AppKey("accounts", Accounts)
#: The in-process worker pool (None with ``--workers 0``).
WORKER: web.AppKey[Worker | None] = web.AppKey("worker")
WORKERS = web.AppKey("workers", int)
SIGNER = web.AppKey("signer", Signer)
CATALOGS = web.AppKey("catalogs", Catalogs)
LOGIN_LIMITER = web.AppKey("login_limiter", LoginLimiter)
#: Static file name → a short hash of its content, for cache-busting URLs.
STATIC_VERSIONS: web.AppKey[dict[str, str]] = web.AppKey("static_versions")
#: The scheduled runs and the daily clean-up of this server.
MAINTENANCE = web.AppKey("maintenance", Maintenance)
#: Who recent session ids and tokens belonged to (a second's memory).
RECENT_USERS = web.AppKey("recent_users", RecentUsers)
