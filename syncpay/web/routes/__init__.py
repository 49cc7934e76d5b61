"""The routes, one module per area; each has a ``routes`` table (``web.RouteTableDef``)."""

from __future__ import annotations

from aiohttp import web

from . import auth, health


def tables() -> list[web.RouteTableDef]:
    tables = [health.routes, auth.routes]
    for name in ("sync", "sync_page", "siswa", "laporan", "metrics", "openapi"):
        try:
            module = __import__(f"{__name__}.{name}", fromlist=["routes"])
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        tables.append(module.routes)
    return tables
